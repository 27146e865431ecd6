/**
 * Local delivery of QoS 0 messages (`adapter.qos0_local_delivery`, with `adapter.qos0_fanout =
 * shared`): a QoS 0 PUBLISH from a client of this adapter is handed at once to the matching
 * shared fan-out subscribers of the same vhost, is still published to RabbitMQ, and its copy that
 * comes back through the fan-out queue (the echo) is dropped. None of that may be visible to a
 * client: every test here runs against an adapter with the feature on and one with it off, and
 * asserts the same thing of both. Off is the queue-only path, so it shows the assertions are
 * right; on must keep every client seeing each message exactly once, in its publisher's order.
 *
 * This file shows what subscribers receive. The cases aim at where local delivery can go wrong:
 * - duplicates: echoes not dropped, or dropped too often (identical payloads from another source);
 * - order: local copies overtaking the publisher's earlier messages still in RabbitMQ (first
 *   messages to a topic never used, interleaved topics, QoS 0 between QoS 1, retained ones, a
 *   DISCONNECT right after a burst);
 * - routing: a client whose own queue also receives the topic (overlapping QoS 1 subscription),
 *   persistent sessions (not in the fan-out), AMQP consumers, the publisher's own subscription;
 * - boundaries: another vhost, `$` topics under a wildcard filter [MQTT-4.7.2-1];
 * - payload bytes kept past the read that decoded them (large and odd-sized payloads).
 * What must not leak or be lost (refused publishes, will messages, an echo RabbitMQ never
 * delivers) and the metrics are in qos0-local-delivery-safety.test.ts.
 *
 * "Nothing more arrived" is shown with a trailing QoS 1 marker from the same RabbitMQ user;
 * qos0-local-delivery-support.ts says why that is enough.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Options } from "amqplib";
import { ensureRabbitmq, uniqueName } from "../support/broker.ts";
import { TEST_TIMEOUT_MS } from "./mqtt-support.ts";
import { AS_ADAPTER_QOS0, numbered, oddPayload, payloadsOf, publishBurst, sequenceReport, setUpLocalDeliveryFixture, SETTLE_MS, toTopic, waitForMarker, waitForMarkers, withQos, type Outgoing } from "./qos0-local-delivery-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

describe.each([true, false])("adapter.qos0_local_delivery = %p (adapter.qos0_fanout = shared)", (localDelivery) => {
  const fixture = setUpLocalDeliveryFixture(localDelivery);
  const { connect, subscriber, openAmqpTap, openAmqpPublisher } = fixture;

  test("a 2,000-message QoS 0 burst reaches each subscriber exactly once, in order: two clients of the publisher's user, another user, a wildcard filter, a persistent session, an AMQP queue", async () => {
    const base = uniqueName("burst");
    const topic = `${base}/a/b`;
    const same1 = await subscriber(fixture.alice, "same1", { [topic]: 0 });
    const same2 = await subscriber(fixture.alice, "same2", { [topic]: 0 });
    const other = await subscriber(fixture.bob, "other", { [topic]: 0 });
    const wildcard = await subscriber(fixture.bob, "wild", { [`${base}/+/b`]: 0 });
    const persistent = await subscriber(fixture.alice, "pers", { [topic]: 0 }, { clean: false });
    const tap = await openAmqpTap(fixture.alice, `${base}.a.b`);
    const publisher = await connect(fixture.alice, "pub");

    const payloads = numbered("m", 2_000);
    await publishBurst(publisher, [...toTopic(topic, payloads), { topic, payload: "end", qos: 1 }]);
    const expected = [...payloads, "end"];
    const receivers = [
      { what: "the first client of the publisher's user", payloads: payloadsOf(same1.inbox), marker: "end" },
      { what: "the second client of the publisher's user", payloads: payloadsOf(same2.inbox), marker: "end" },
      { what: "the client of another user", payloads: payloadsOf(other.inbox), marker: "end" },
      { what: "the wildcard subscriber", payloads: payloadsOf(wildcard.inbox), marker: "end" },
      { what: "the persistent-session subscriber", payloads: payloadsOf(persistent.inbox), marker: "end" },
      { what: "the AMQP queue", payloads: () => tap.payloads, marker: "end" },
    ];
    await waitForMarkers(receivers);
    expect(receivers.map((r) => `${r.what}: ${sequenceReport(r.payloads(), expected)}`)).toEqual(receivers.map((r) => `${r.what}: as expected`));
    for (const { inbox } of [same1, same2, other, wildcard, persistent]) {
      expect(new Set(inbox.messages.map((m) => `${m.topic}@${m.qos}`))).toEqual(new Set([`${topic}@0`]));
    }
  });

  test("a publisher's first messages to topics it never used arrive from the first on, in order: 500 to one topic at once after CONNECT, then fresh topics interleaved with a used one", async () => {
    const base = uniqueName("first");
    const single = await subscriber(fixture.bob, "single", { [`${base}/one`]: 0 });
    const sameUser = await subscriber(fixture.alice, "single2", { [`${base}/one`]: 0 });
    const all = await subscriber(fixture.bob, "all", { [`${base}/#`]: 0 });

    // Round 1: CONNECT, then 500 messages at once to a routing key nobody published to before.
    const publisher = await connect(fixture.alice, "firstp");
    const first = numbered("m", 500);
    await publishBurst(publisher, [...toTopic(`${base}/one`, first), { topic: `${base}/one`, payload: "end1", qos: 1 }]);
    await waitForMarkers([
      { what: "bob's `one` subscriber", payloads: payloadsOf(single.inbox), marker: "end1" },
      { what: "alice's `one` subscriber", payloads: payloadsOf(sameUser.inbox), marker: "end1" },
      { what: "bob's `#` subscriber", payloads: payloadsOf(all.inbox), marker: "end1" },
    ]);
    for (const inbox of [single.inbox, sameUser.inbox, all.inbox]) {
      expect(sequenceReport(payloadsOf(inbox)(), [...first, "end1"])).toBe("as expected");
    }

    // Round 2: a new connection interleaves `one` (used, confirmed) with four topics never used,
    // round-robin; `#` is one queue, so it must see the exact publish order across topics.
    const second = await connect(fixture.alice, "firstq");
    const topics = ["one", "f1", "f2", "f3", "f4"];
    const interleaved: Outgoing[] = [];
    for (let i = 1; i <= 100; i++) for (const t of topics) interleaved.push({ topic: `${base}/${t}`, payload: `${t}-${i}` });
    await publishBurst(second, [...interleaved, { topic: `${base}/one`, payload: "end2", qos: 1 }]);
    await waitForMarkers([
      { what: "bob's `one` subscriber", payloads: payloadsOf(single.inbox), marker: "end2" },
      { what: "bob's `#` subscriber", payloads: payloadsOf(all.inbox), marker: "end2" },
    ]);
    const allSecond = all.inbox.messages.slice(first.length + 1).map((m) => `${m.topic.slice(base.length + 1)} ${m.payload}`);
    expect(sequenceReport(allSecond, [...interleaved.map((m) => `${m.topic.slice(base.length + 1)} ${m.payload}`), "one end2"])).toBe("as expected");
    const oneSecond = payloadsOf(single.inbox)().slice(first.length + 1);
    expect(sequenceReport(oneSecond, [...numbered("one-", 100), "end2"])).toBe("as expected");
  });

  test("a publisher alternating QoS 0 and QoS 1 (not waiting for PUBACKs) keeps its order at a QoS 0 subscriber", async () => {
    const topic = `${uniqueName("mixed")}/t`;
    const sub = await subscriber(fixture.bob, "mixs", { [topic]: 0 });
    const publisher = await connect(fixture.alice, "mixp");
    const messages: Outgoing[] = Array.from({ length: 600 }, (_, i) => ({ topic, payload: `m${i + 1}`, qos: (i % 3 === 2 ? 1 : 0) as 0 | 1 }));
    await publishBurst(publisher, [...messages, { topic, payload: "end", qos: 1 }]);
    await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(sub.inbox), marker: "end" }]);
    expect(sequenceReport(payloadsOf(sub.inbox)(), [...messages.map((m) => m.payload), "end"])).toBe("as expected");
  });

  describe.each([
    ["an AMQP publisher writing the headers exactly as the adapter does (byte QoS 0, dup false)", "amqp-as-adapter"],
    ["an AMQP publisher with headers {'x-mqtt-publish-qos': 0} as pika sends them (an int)", "amqp-int-header"],
    ["an AMQP publisher without headers", "amqp-no-headers"],
    ["an MQTT client of a second adapter", "other-adapter"],
  ] as const)("identical payloads from two sources", (source, kind) => {
    test(`1,000 "same" at QoS 0 from an MQTT client and 1,000 from ${source}, concurrently: each subscriber gets exactly 2,000`, async () => {
      const topic = `${uniqueName("ident")}/t`;
      const key = topic.replace("/", ".");
      const subs = [await subscriber(fixture.bob, "idb", { [topic]: 0 }), await subscriber(fixture.alice, "ida", { [topic]: 0 })];
      const publisher = await connect(fixture.alice, "idp");
      const count = 1_000;
      const chunk = 50;

      let sendOther: (n: number) => void;
      let finishOther: () => Promise<void>;
      if (kind === "other-adapter") {
        const remote = await connect(fixture.alice, "idr", {}, fixture.otherAdapter);
        sendOther = (n) => {
          for (let i = 0; i < n; i++) remote.publish(topic, "same", { qos: 0 });
        };
        finishOther = async () => void (await remote.publishAsync(topic, "other-end", { qos: 1 }));
      } else {
        const amqp = await openAmqpPublisher(fixture.alice);
        const options: Options.Publish =
          kind === "amqp-as-adapter" ? AS_ADAPTER_QOS0 : kind === "amqp-int-header" ? { headers: { "x-mqtt-publish-qos": 0 } } : {};
        sendOther = (n) => {
          for (let i = 0; i < n; i++) amqp.channel.publish("amq.topic", key, Buffer.from("same"), options);
        };
        finishOther = async () => {
          amqp.channel.publish("amq.topic", key, Buffer.from("other-end"), options);
          await amqp.channel.waitForConfirms();
        };
      }
      for (let sent = 0; sent < count; sent += chunk) {
        for (let i = 0; i < chunk; i++) publisher.publish(topic, "same", { qos: 0 });
        sendOther(chunk);
        await Bun.sleep(0); // let both sockets write, so the two streams interleave at RabbitMQ and at the adapter
      }
      await Promise.all([publisher.publishAsync(topic, "mqtt-end", { qos: 1 }), finishOther()]);

      const receivers = subs.flatMap(({ inbox }, i) =>
        ["mqtt-end", "other-end"].map((marker) => ({ what: `subscriber ${i}`, payloads: payloadsOf(inbox), marker })),
      );
      await waitForMarkers(receivers);
      for (const { inbox } of subs) {
        const got = payloadsOf(inbox)();
        expect({ same: got.filter((p) => p === "same").length, others: got.filter((p) => p !== "same").sort() }).toEqual({
          same: 2 * count,
          others: ["mqtt-end", "other-end"],
        });
      }
    });
  });

  test("a client subscribed to its own topic at QoS 0 gets each of its 1,000 messages exactly once, in order (clean and persistent session)", async () => {
    for (const clean of [true, false]) {
      const topic = `${uniqueName("self")}/t`;
      const self = await subscriber(fixture.alice, "self", { [topic]: 0 }, { clean });
      const payloads = numbered("m", 1_000);
      await publishBurst(self.client, [...toTopic(topic, payloads), { topic, payload: "end", qos: 1 }]);
      await waitForMarkers([{ what: `the client itself (clean=${clean})`, payloads: payloadsOf(self.inbox), marker: "end" }]);
      expect(`clean=${clean}: ${sequenceReport(payloadsOf(self.inbox)(), [...payloads, "end"])}`).toBe(`clean=${clean}: as expected`);
    }
  });

  test("overlapping QoS 0 `a/#` and QoS 1 `a/b` in one client: each message once, `a/b` from the QoS 1 subscription, `a/c` at QoS 0, published at QoS 0 and at QoS 1 [MQTT-3.3.5-1]", async () => {
    const base = uniqueName("ovl");
    const sub = await subscriber(fixture.alice, "ovls", { [`${base}/#`]: 0, [`${base}/b`]: 1 });
    const publisher = await connect(fixture.bob, "ovlp");
    const burst: Outgoing[] = [];
    for (let i = 1; i <= 200; i++) burst.push({ topic: `${base}/b`, payload: `b0-${i}` }, { topic: `${base}/c`, payload: `c0-${i}` });
    for (let i = 1; i <= 50; i++) burst.push({ topic: `${base}/b`, payload: `b1-${i}`, qos: 1 }, { topic: `${base}/c`, payload: `c1-${i}`, qos: 1 });
    burst.push({ topic: `${base}/b`, payload: "mark-b", qos: 1 }, { topic: `${base}/c`, payload: "mark-c", qos: 1 });
    await publishBurst(publisher, burst);
    await waitForMarkers(["mark-b", "mark-c"].map((marker) => ({ what: "the client", payloads: payloadsOf(sub.inbox), marker })));

    const onTopic = (suffix: string) => withQos(sub.inbox.messages.filter((m) => m.topic === `${base}/${suffix}`));
    // Published at QoS 0, delivered at QoS 0 whatever the subscription; published at QoS 1: the subscription's QoS.
    expect(sequenceReport(onTopic("b"), [...numbered("b0-", 200).map((p) => `${p}@0`), ...numbered("b1-", 50).map((p) => `${p}@1`), "mark-b@1"])).toBe("as expected");
    expect(sequenceReport(onTopic("c"), [...numbered("c0-", 200).map((p) => `${p}@0`), ...numbered("c1-", 50).map((p) => `${p}@0`), "mark-c@0"])).toBe("as expected");
    expect(sub.inbox.messages.length).toBe(2 * 251);
  });

  test.each(["numbered", "identical"] as const)("QoS 0 publishes to one topic, every 5th retained (%s payloads): a live subscriber gets all in order, once, retain flag 0; a later one gets the last retained", async (payloadKind) => {
    const topic = `${uniqueName("ret")}/t`;
    const live = await subscriber(fixture.bob, "retl", { [topic]: 0 });
    const publisher = await connect(fixture.alice, "retp");
    const payloads = payloadKind === "numbered" ? numbered("m", 500) : Array<string>(500).fill("same");
    await publishBurst(publisher, [...payloads.map((payload, i) => ({ topic, payload, retain: (i + 1) % 5 === 0 })), { topic, payload: "end", qos: 1 }]);
    await waitForMarkers([{ what: "the live subscriber", payloads: payloadsOf(live.inbox), marker: "end" }]);
    expect(sequenceReport(payloadsOf(live.inbox)(), [...payloads, "end"])).toBe("as expected");
    // Delivered to an existing subscription, not as a retained message [MQTT-3.3.1-9].
    expect(live.inbox.messages.filter((m) => m.retain).length).toBe(0);

    const later = await subscriber(fixture.bob, "retn", { [topic]: 0 });
    const retained = await later.inbox.next("the retained message");
    expect({ payload: retained.payload, retain: retained.retain }).toEqual({ payload: payloads[499]!, retain: true });
    await Bun.sleep(SETTLE_MS);
    expect(later.inbox.messages.length).toBe(1);
  });

  test("payloads of 0 bytes to 70 KB, 120 back-to-back, arrive byte for byte (nothing kept as a view of a reused read buffer)", async () => {
    const topic = `${uniqueName("bytes")}/t`;
    const sub = await subscriber(fixture.bob, "bytess", { [topic]: 0 });
    const sameUser = await subscriber(fixture.alice, "bytesa", { [topic]: 0 });
    const publisher = await connect(fixture.alice, "bytesp");
    // Sizes spread over 0 … ~70 KB, so PUBLISHes straddle socket reads at every offset.
    const payloads = Array.from({ length: 120 }, (_, i) => (i === 7 ? "" : oddPayload(i, (i * 7919) % 70_000)));
    await publishBurst(publisher, [...toTopic(topic, payloads), { topic, payload: "end", qos: 1 }]);
    for (const [what, inbox] of [["bob", sub.inbox], ["alice", sameUser.inbox]] as const) {
      await waitForMarkers([{ what, payloads: payloadsOf(inbox), marker: "end" }]);
      const got = payloadsOf(inbox)();
      // Compared by index and length first: a 70 KB string in a failure message helps nobody.
      const wrong = payloads.flatMap((p, i) => (got[i] === p ? [] : [`#${i} (${p.length} B): got ${got[i] === undefined ? "nothing" : `${got[i]!.length} B starting ${JSON.stringify(got[i]!.slice(0, 12))}`}`]));
      expect({ what, count: got.length, wrong: wrong.slice(0, 5) }).toEqual({ what, count: payloads.length + 1, wrong: [] });
    }
  });

  test("a publisher that sends DISCONNECT right after a 500-message burst: all delivered, once, in order", async () => {
    const topic = `${uniqueName("disc")}/t`;
    const sub = await subscriber(fixture.bob, "discs", { [topic]: 0 });
    const publisher = await connect(fixture.alice, "discp");
    const payloads = numbered("m", 500);
    await publishBurst(publisher, toTopic(topic, payloads));
    await publisher.endAsync();
    await waitForMarker(payloadsOf(sub.inbox), "m500", "the last message of the burst");
    // Another client of alice: same publish channel, so its marker trails every echo of the burst.
    const marker = await connect(fixture.alice, "discm");
    await marker.publishAsync(topic, "end", { qos: 1 });
    await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(sub.inbox), marker: "end" }]);
    expect(sequenceReport(payloadsOf(sub.inbox)(), [...payloads, "end"])).toBe("as expected");
  });

  test("local delivery stays in its vhost: a subscriber of the same filter in another vhost gets nothing", async () => {
    const topic = `${uniqueName("vh")}/t`;
    const here = await subscriber(fixture.bob, "vhh", { [topic]: 0 });
    const elsewhere = await subscriber(fixture.eve, "vhe", { [topic]: 0 });
    const publisher = await connect(fixture.alice, "vhp");
    await publishBurst(publisher, [...toTopic(topic, numbered("m", 200)), { topic, payload: "end", qos: 1 }]);
    await waitForMarker(payloadsOf(here.inbox), "end", "the subscriber in the publisher's vhost");
    const eveMarker = await connect(fixture.eve, "vhm");
    await eveMarker.publishAsync(topic, "eve-end", { qos: 1 });
    await waitForMarkers([{ what: "the subscriber in the other vhost", payloads: payloadsOf(elsewhere.inbox), marker: "eve-end" }]);
    expect(payloadsOf(elsewhere.inbox)()).toEqual(["eve-end"]);
    expect(payloadsOf(here.inbox)().length).toBe(201);
  });

  test("a filter starting with a wildcard does not get QoS 0 messages to a `$` topic; a filter starting with `$` does [MQTT-4.7.2-1]", async () => {
    const u = uniqueName("dollar");
    const [dollarTopic, plainTopic] = [`$d/${u}/t`, `p/${u}/t`];
    const wildcard = await subscriber(fixture.bob, "dolw", { [`+/${u}/#`]: 0 });
    const dollar = await subscriber(fixture.bob, "dold", { [`$d/${u}/#`]: 0 });
    const publisher = await connect(fixture.alice, "dolp");
    await publishBurst(publisher, [
      ...toTopic(dollarTopic, numbered("d", 100)),
      { topic: dollarTopic, payload: "end$", qos: 1 },
      { topic: plainTopic, payload: "end", qos: 1 },
    ]);
    await waitForMarkers([
      { what: "the `+/…` subscriber", payloads: payloadsOf(wildcard.inbox), marker: "end" },
      { what: "the `$d/…` subscriber", payloads: payloadsOf(dollar.inbox), marker: "end$" },
    ]);
    expect(payloadsOf(wildcard.inbox)()).toEqual(["end"]);
    expect(sequenceReport(payloadsOf(dollar.inbox)(), [...numbered("d", 100), "end$"])).toBe("as expected");
  });
});
