/**
 * Local delivery of QoS 0 messages (`adapter.qos0_local_delivery`, with `adapter.qos0_fanout =
 * shared`; qos0-local-delivery.test.ts describes it): what must not leak or be lost. A local copy
 * is handed out before RabbitMQ has routed the message, and an echo is dropped by matching what
 * comes back, so the cases aim at:
 * - leaks: a message RabbitMQ refuses (write / topic permission, will messages) must reach no
 *   subscriber, and the refused client's connection is closed;
 * - losses: an echo RabbitMQ never delivers, because it discarded the publish, must not make the
 *   adapter drop a later identical message from another source.
 * As in qos0-local-delivery.test.ts, every test runs against an adapter with the feature on and one
 * with it off, and asserts the same thing of both (the metrics test aside, whose counters differ).
 *
 * The metrics test (last) expects the counters `qos0_local_deliveries_total` and
 * `qos0_echoes_suppressed_total` on the metrics endpoint.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { parsePrometheusText, sampleValue, type Sample } from "../../src/metrics/test-helpers.ts";
import { startAdapter } from "../support/adapter.ts";
import { ensureRabbitmq, uniqueName } from "../support/broker.ts";
import { clientLogLines, closedPromise, Inbox, TEST_TIMEOUT_MS, waitUntil } from "./mqtt-support.ts";
import { subackOf } from "./qos0-fanout-support.ts";
import { AS_ADAPTER_QOS0, numbered, P, payloadsOf, publishBurst, sequenceReport, setUpLocalDeliveryFixture, SETTLE_MS, toTopic, waitForMarker, waitForMarkers } from "./qos0-local-delivery-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

describe.each([true, false])("adapter.qos0_local_delivery = %p (adapter.qos0_fanout = shared)", (localDelivery) => {
  const fixture = setUpLocalDeliveryFixture(localDelivery);
  const { connect, subscriber, openAmqpPublisher } = fixture;

  /** Whether the adapter still has a connection of `clientId`. */
  const hasConnection = (clientId: string) => [...fixture.adapter.server.connections].some((c) => c.info.clientId === clientId);

  test("an echo RabbitMQ never delivers (publishes discarded when another client's refused publish closed the user's channel) does not swallow a later identical message", async () => {
    const base = uniqueName("lost");
    const okTopic = `${base}/ok`;
    const sub = await subscriber(fixture.bob, "losts", { [`${base}/#`]: 0 });
    // Two clients of carol share her publish channel; `secret` is refused by her topic permission.
    const [publisher, refused] = await Promise.all([connect(fixture.carol, "lostp"), connect(fixture.carol, "lostd")]);
    await publisher.publishAsync(okTopic, "warm", { qos: 1 }); // `<base>.ok` confirmed on carol's channel
    await publishBurst(publisher, toTopic(okTopic, Array(150).fill("same")));
    refused.publish(`${base}/secret`, "secret", { qos: 0 });
    await publishBurst(publisher, toTopic(okTopic, Array(150).fill("same")));
    await closedPromise(refused, "the refused publisher's connection to close");
    await publisher.publishAsync(okTopic, "p-end", { qos: 1 });
    await waitForMarker(payloadsOf(sub.inbox), "p-end", "the subscriber (phase 1)");
    const phase1 = payloadsOf(sub.inbox)();

    // Phase 2: messages identical to carol's (routing key, payload, headers) from an AMQP client.
    const amqp = await openAmqpPublisher(fixture.alice);
    for (let i = 0; i < 300; i++) amqp.channel.publish("amq.topic", `${base}.ok`, Buffer.from("same"), AS_ADAPTER_QOS0);
    amqp.channel.publish("amq.topic", `${base}.ok`, Buffer.from("amqp-end"), AS_ADAPTER_QOS0);
    await amqp.channel.waitForConfirms();
    await waitForMarkers([{ what: "the subscriber (phase 2)", payloads: payloadsOf(sub.inbox), marker: "amqp-end" }]);

    expect(phase1[0]).toBe("warm");
    expect(phase1.filter((p) => p === "same").length).toBeLessThanOrEqual(300);
    expect(phase1.filter((p) => p !== "same")).toEqual(["warm", "p-end"]);
    expect(sequenceReport(payloadsOf(sub.inbox)().slice(phase1.length), [...Array(300).fill("same"), "amqp-end"])).toBe("as expected");
    expect(publisher.connected).toBe(true);
  });

  test("a user's topic permission refusing a routing key: its QoS 0 messages there never reach a subscriber (after allowed ones, or inside a burst), and its connection is closed", async () => {
    const base = uniqueName("perm");
    const [okTopic, secretTopic] = [`${base}/ok`, `${base}/secret`];
    const sub = await subscriber(fixture.bob, "perms", { [`${base}/#`]: 0 });
    const marker = await connect(fixture.alice, "permm");

    // Allowed messages first (delivered, and `<base>.ok` confirmed), then a refused one.
    const first = await connect(fixture.carol, "perma");
    await publishBurst(first, toTopic(okTopic, numbered("ok", 5)));
    await waitForMarker(payloadsOf(sub.inbox), "ok5", "the allowed messages");
    first.publish(secretTopic, "secret1", { qos: 0 });
    await closedPromise(first, "the connection of the publisher refused by RabbitMQ to close");
    await marker.publishAsync(secretTopic, "mark1", { qos: 1 });
    await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(sub.inbox), marker: "mark1" }]);
    expect(payloadsOf(sub.inbox)()).toEqual([...numbered("ok", 5), "mark1"]);

    // A burst with the refused message in the middle.
    const second = await connect(fixture.carol, "permb");
    await publishBurst(second, [
      ...toTopic(okTopic, ["b1", "b2"]),
      { topic: secretTopic, payload: "secret2" },
      ...toTopic(secretTopic, ["secret3"]),
      ...toTopic(okTopic, ["b3"]),
    ]);
    await closedPromise(second, "the connection of the bursting publisher refused by RabbitMQ to close");
    await marker.publishAsync(secretTopic, "mark2", { qos: 1 });
    await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(sub.inbox), marker: "mark2" }]);
    const after = payloadsOf(sub.inbox)().slice(6);
    // b1, b2 were routed before the refusal; b3 came after it on the closing channel (at most once: either).
    expect([["b1", "b2", "mark2"], ["b1", "b2", "b3", "mark2"]]).toContainEqual(after);
    // What the publishers saw: no DISCONNECT (3.1.1 has none from the server), the socket closed,
    // logged as the session's RabbitMQ side being gone with RabbitMQ's 403 and the refused routing key.
    for (const client of [first, second]) {
      const closing = clientLogLines(fixture.adapter.logLines, client.options.clientId!).filter((line) => line.includes("closing MQTT connection"));
      expect(closing).toHaveLength(1);
      expect(closing[0]).toMatch(new RegExp(`AMQP 403\\): a QoS 0 PUBLISH to topic "${base}/secret" failed: ACCESS_REFUSED - access to topic '${base}\\.secret'`));
    }
  });

  test("a user without write permission: none of its QoS 0 burst reaches a subscriber, though another user published to the same topic just before", async () => {
    const topic = `${uniqueName("nowrite")}/t`;
    const sub = await subscriber(fixture.bob, "nws", { [topic]: 0 });
    const allowed = await connect(fixture.alice, "nwa");
    await publishBurst(allowed, [...toTopic(topic, numbered("a", 3)), { topic, payload: "a4", qos: 1 }]);
    await waitForMarker(payloadsOf(sub.inbox), "a4", "alice's messages");

    const denied = await connect(fixture.dora, "nwd");
    await publishBurst(denied, toTopic(topic, numbered("d", 20)));
    await closedPromise(denied, "the connection of the user without write permission to close");
    await allowed.publishAsync(topic, "mark", { qos: 1 });
    await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(sub.inbox), marker: "mark" }]);
    expect(payloadsOf(sub.inbox)()).toEqual([...numbered("a", 4), "mark"]);
    const closing = clientLogLines(fixture.adapter.logLines, denied.options.clientId!).filter((line) => line.includes("closing MQTT connection"));
    expect(closing).toHaveLength(1);
    expect(closing[0]).toMatch(/AMQP 403\): a QoS 0 PUBLISH to topic "[^"]+" failed: ACCESS_REFUSED - access to exchange 'amq\.topic'/);
  });

  test("a QoS 0 will message reaches a subscriber exactly once; one to a topic its user may not write reaches nobody", async () => {
    const base = uniqueName("will");
    const sub = await subscriber(fixture.bob, "wills", { [`${base}/#`]: 0 });
    const marker = await connect(fixture.alice, "willm");

    const allowedId = uniqueName("willa");
    const allowed = await connect(fixture.alice, "willa", { clientId: allowedId, will: { topic: `${base}/w`, payload: Buffer.from("gone"), qos: 0, retain: false } });
    await publishBurst(allowed, [...toTopic(`${base}/w`, ["w1", "w2"]), { topic: `${base}/w`, payload: "w3", qos: 1 }]);
    allowed.stream.destroy(); // no DISCONNECT: the will is published
    await waitForMarker(payloadsOf(sub.inbox), "gone", "the will message");

    // carol may write `<base>/ok` (and does, so the key is confirmed on her channel) but not `<base>/secret`.
    const refusedId = uniqueName("willr");
    const refused = await connect(fixture.carol, "willr", { clientId: refusedId, will: { topic: `${base}/secret`, payload: Buffer.from("will-secret"), qos: 0, retain: false } });
    await publishBurst(refused, [...toTopic(`${base}/ok`, ["r1"]), { topic: `${base}/ok`, payload: "r2", qos: 1 }]);
    refused.stream.destroy();
    await waitUntil(() => !hasConnection(refusedId), `the adapter to drop connection ${refusedId}`);
    await Bun.sleep(SETTLE_MS);
    await marker.publishAsync(`${base}/m`, "mark", { qos: 1 });
    await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(sub.inbox), marker: "mark" }]);
    expect(payloadsOf(sub.inbox)()).toEqual(["w1", "w2", "w3", "gone", "r1", "r2", "mark"]);
  });

  test(`the metrics endpoint counts local deliveries and suppressed echoes (${localDelivery ? "both > 0, one echo per local delivery" : "both stay 0"}); every message is counted as delivered once`, async () => {
    // An adapter of its own: counters start at 0 and no echo of another test arrives meanwhile.
    const counted = await startAdapter({ qos0Fanout: "shared", qos0LocalDelivery: localDelivery, metrics: { ip: "127.0.0.1", port: 0 } });
    try {
      const topic = `${uniqueName("metrics")}/t`;
      const connectHere = (prefix: string) => connect(fixture.alice, prefix, {}, counted);
      const sub = await connectHere("mets");
      const inbox = new Inbox(sub);
      expect(await subackOf(sub, { [topic]: 0 })).toEqual([0]);
      const publisher = await connectHere("metp");
      // The first QoS 0 publish to a key goes through RabbitMQ (its confirm is the permission check
      // local delivery waits for); once it is back and confirmed, the burst may go local.
      await publishBurst(publisher, [{ topic, payload: "warm", qos: 0 }]);
      await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(inbox), marker: "warm" }]);
      const payloads = numbered("m", 300);
      await publishBurst(publisher, [...toTopic(topic, payloads), { topic, payload: "end", qos: 1 }]);
      await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(inbox), marker: "end" }]);
      expect(sequenceReport(payloadsOf(inbox)(), ["warm", ...payloads, "end"])).toBe("as expected");

      const response = await fetch(counted.server.operator.metricsEndpoint!.url);
      const samples: Sample[] = parsePrometheusText(await response.text());
      const value = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, P + name, labels);
      const local = value("qos0_local_deliveries_total");
      const echoes = value("qos0_echoes_suppressed_total");
      if (localDelivery) {
        expect(local).toBeGreaterThan(0);
        expect(local).toBeLessThanOrEqual(payloads.length);
        // One subscriber of one user: each local copy has exactly one echo in that user's fan-out queue.
        expect(echoes).toBe(local);
      } else {
        expect({ local, echoes }).toEqual({ local: 0, echoes: 0 });
      }
      expect(value("messages_published_total", { qos: "0" })).toBe(payloads.length + 1);
      expect(value("messages_delivered_total", { qos: "0" })).toBe(payloads.length + 2);
    } finally {
      await counted.stop();
    }
  });
});
