/**
 * Local delivery of QoS 0 messages (`adapter.qos0_local_delivery`, with `adapter.qos0_fanout =
 * shared`): a QoS 0 PUBLISH from a client of this adapter is handed at once to the matching
 * shared fan-out subscribers of the same vhost, is still published to RabbitMQ, and its copy that
 * comes back through the fan-out queue (the echo) is dropped. None of that may be visible to a
 * client: every test here runs against an adapter with the feature on and one with it off, and
 * asserts the same thing of both. Off is the queue-only path, so it shows the assertions are
 * right; on must keep every client seeing each message exactly once, in its publisher's order.
 *
 * The cases aim at where local delivery can go wrong:
 * - duplicates: echoes not dropped, or dropped too often (identical payloads from another source,
 *   an echo RabbitMQ never delivers because it discarded the publish);
 * - order: local copies overtaking the publisher's earlier messages still in RabbitMQ (first
 *   messages to a topic never used, interleaved topics, QoS 0 between QoS 1, retained ones);
 * - leaks: a message RabbitMQ refuses (write / topic permission, will messages), another vhost,
 *   `$` topics under a wildcard filter [MQTT-4.7.2-1];
 * - routing: a client whose own queue also receives the topic (overlapping QoS 1 subscription),
 *   persistent sessions (not in the fan-out), AMQP consumers, the publisher's own subscription;
 * - payload bytes kept past the read that decoded them (large and odd-sized payloads).
 *
 * "Nothing more arrived" is shown with a trailing QoS 1 marker from the same RabbitMQ user:
 * every client of a user publishes on one AMQP channel, QoS 1 is never delivered locally, and
 * RabbitMQ keeps a channel's order into each queue, so once the marker is in, every echo of the
 * messages before it has been through the fan-out queue too (mqtt-support.ts explains markers).
 * A short settle after the marker only catches strays on other paths.
 *
 * The metrics test (last) expects the counters `qos0_local_deliveries_total` and
 * `qos0_echoes_suppressed_total` on the metrics endpoint.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Options } from "amqplib";
import type { IClientOptions, MqttClient } from "mqtt";
import { parsePrometheusText, sampleValue, type Sample } from "../../src/metrics/test-helpers.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { ensureRabbitmq, openAmqp, rabbitmqUrlFor, uniqueName, type AmqpSession } from "../support/broker.ts";
import {
  BrokerFixtures,
  clientLogLines,
  closedPromise,
  connectMqttJs,
  endAll,
  HOOK_TIMEOUT_MS,
  Inbox,
  TEST_TIMEOUT_MS,
  waitUntil,
  type ReceivedMessage,
  type TestUser,
} from "./mqtt-support.ts";
import { loginOf, subackOf } from "./qos0-fanout-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

/** After the last marker arrived: time for a stray copy on some other path to show up. */
const SETTLE_MS = 300;

/** Bound on waiting for a marker; generous because the adapter and all clients share this process. */
const MARKER_TIMEOUT_MS = 20_000;

/** Topic permission of a user who may write only routing keys `<word>.ok` (MQTT `<level>/ok`). */
const WRITE_ONLY_OK = { write: "^[^.]+\\.ok$", read: ".*" };

/** basic.publish options exactly as the adapter publishes an MQTT QoS 0 message (session.ts). */
const AS_ADAPTER_QOS0: Options.Publish = { deliveryMode: 1, headers: { "x-mqtt-publish-qos": { "!": "byte", value: 0 }, "x-mqtt-dup": false } };

const P = "rabbitmq_mqtt_adapter_";

// --- helpers -----------------------------------------------------------------------------------

/** `${prefix}1` … `${prefix}${count}`. */
function numbered(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
}

/** One PUBLISH of a burst. */
interface Outgoing {
  topic: string;
  payload: string;
  qos?: 0 | 1;
  retain?: boolean;
}

/**
 * Publishes `messages` from one synchronous loop (no wait between them, so they reach the adapter
 * in few TCP segments, many PUBLISHes per read) and resolves once MQTT.js has written the last
 * (for QoS 1: once its PUBACK came). The QoS 1 ones in between are not waited for.
 */
async function publishBurst(client: MqttClient, messages: readonly Outgoing[]): Promise<void> {
  const last = messages.length - 1;
  for (const [i, { topic, payload, qos = 0, retain = false }] of messages.entries()) {
    if (i === last) await client.publishAsync(topic, payload, { qos, retain });
    else client.publish(topic, payload, { qos, retain });
  }
}

/** Each payload to `topic` at QoS 0. */
function toTopic(topic: string, payloads: readonly string[], qos: 0 | 1 = 0): Outgoing[] {
  return payloads.map((payload) => ({ topic, payload, qos }));
}

/**
 * "as expected", or what is wrong with `got` compared with `expected`, in one line short enough
 * to read in a failure: counts, the first position that differs, duplicates, missing and strays.
 */
function sequenceReport(got: readonly string[], expected: readonly string[]): string {
  if (got.length === expected.length && got.every((item, i) => item === expected[i])) return "as expected";
  const counts = new Map<string, number>();
  for (const item of got) counts.set(item, (counts.get(item) ?? 0) + 1);
  const expectedSet = new Set(expected);
  const duplicates = [...counts].filter(([item, n]) => n > 1 && expectedSet.has(item)).map(([item, n]) => `${item}×${n}`);
  const missing = expected.filter((item) => !counts.has(item));
  const strays = [...counts.keys()].filter((item) => !expectedSet.has(item));
  const at = got.findIndex((item, i) => item !== expected[i]);
  const first =
    at !== -1
      ? `first difference at #${at}: got ${got[at]}, expected ${expected[at] ?? "(end)"}`
      : got.length < expected.length
        ? `ends early, after #${got.length - 1}`
        : `extra messages from #${expected.length} on`;
  const few = (items: string[]) => (items.length === 0 ? "none" : `${items.length} (${items.slice(0, 5).join(", ")}${items.length > 5 ? ", …" : ""})`);
  return `got ${got.length}, expected ${expected.length}; ${first}; duplicates ${few(duplicates)}; missing ${few(missing)}; strays ${few(strays)}`;
}

/** Waits until `payloads()` holds `marker`; the bound resets while messages keep coming (a burst on a busy machine). */
async function waitForMarker(payloads: () => readonly string[], marker: string, what: string): Promise<void> {
  let seen = -1;
  let lastGrowthMs = Date.now();
  for (;;) {
    const now = payloads();
    if (now.includes(marker)) return;
    if (now.length !== seen) [seen, lastGrowthMs] = [now.length, Date.now()];
    if (Date.now() - lastGrowthMs > MARKER_TIMEOUT_MS) {
      throw new Error(`timed out waiting for marker ${JSON.stringify(marker)} at ${what}; ${now.length} message(s) so far, last ${JSON.stringify(now.slice(-3))}`);
    }
    await Bun.sleep(10);
  }
}

/** Waits for every marker at its receiver, then {@link SETTLE_MS}. */
async function waitForMarkers(receivers: ReadonlyArray<{ what: string; payloads: () => readonly string[]; marker: string }>): Promise<void> {
  await Promise.all(receivers.map((r) => waitForMarker(r.payloads, r.marker, r.what)));
  await Bun.sleep(SETTLE_MS);
}

const payloadsOf = (inbox: Inbox) => () => inbox.messages.map((m) => m.payload);

/** `payload@qos` per message (one topic). */
const withQos = (messages: readonly ReceivedMessage[]) => messages.map((m) => `${m.payload}@${m.qos}`);

/** An AMQP consumer (auto-ack) of an exclusive queue bound to amq.topic, collecting payloads. */
interface AmqpTap {
  payloads: string[];
  session: AmqpSession;
}

/** Payload `i` of the byte-exactness test: `#i:` then `size` pseudo-random letters (a different sequence per message). */
function oddPayload(i: number, size: number): string {
  let state = (i + 1) * 2654435761;
  let body = "";
  for (let k = 0; k < size; k++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    body += String.fromCharCode(97 + (state >>> 16) % 26);
  }
  return `#${i}:${body}`;
}

// --- the tests ---------------------------------------------------------------------------------

describe.each([true, false])("adapter.qos0_local_delivery = %p (adapter.qos0_fanout = shared)", (localDelivery) => {
  const fixtures = new BrokerFixtures();
  let adapter: TestAdapter;
  /** A second adapter (same mode) on the same RabbitMQ: another source of identical MQTT messages. */
  let otherAdapter: TestAdapter;
  let vhost: string;
  /** Another vhost, to show that local delivery stays inside its vhost. */
  let otherVhost: string;
  let alice: TestUser;
  let bob: TestUser;
  /** May write only `<level>/ok` (topic permission); reads everything. */
  let carol: TestUser;
  /** No write permission at all (not even on amq.topic). */
  let dora: TestUser;
  /** Full permissions, in `otherVhost`. */
  let eve: TestUser;
  const clients: MqttClient[] = [];
  const amqpSessions: AmqpSession[] = [];

  beforeAll(async () => {
    [adapter, otherAdapter] = await Promise.all([
      startAdapter({ qos0Fanout: "shared", qos0LocalDelivery: localDelivery }),
      startAdapter({ qos0Fanout: "shared", qos0LocalDelivery: localDelivery }),
    ]);
    [vhost, otherVhost] = await Promise.all([fixtures.addVhost("local"), fixtures.addVhost("local2")]);
    [alice, bob, carol, dora, eve] = await Promise.all([
      fixtures.addUser({ vhost }, "alice"),
      fixtures.addUser({ vhost }, "bob"),
      fixtures.addUser({ vhost, topic: WRITE_ONLY_OK }, "carol"),
      fixtures.addUser({ vhost, write: "^$" }, "dora"),
      fixtures.addUser({ vhost: otherVhost }, "eve"),
    ]);
  }, HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await endAll(...clients.splice(0));
    await Promise.all(amqpSessions.splice(0).map((session) => session.close()));
    await Promise.all([adapter?.stop(), otherAdapter?.stop()]);
    await fixtures.cleanup();
  }, HOOK_TIMEOUT_MS);

  /** An MQTT.js 3.1.1 client of `user` (clean session unless `options` say otherwise), ended after the block at the latest. */
  async function connect(user: TestUser, prefix: string, options: IClientOptions = {}, on: TestAdapter = adapter): Promise<MqttClient> {
    const client = await connectMqttJs(on.url, { clientId: uniqueName(prefix), ...loginOf(user), ...options });
    clients.push(client);
    return client;
  }

  /** A connected client of `user` with `filters` subscribed, and its inbox. */
  async function subscriber(user: TestUser, prefix: string, filters: Record<string, 0 | 1>, options: IClientOptions = {}) {
    const client = await connect(user, prefix, options);
    const inbox = new Inbox(client);
    expect(await subackOf(client, filters)).toEqual(Object.values(filters));
    return { client, inbox };
  }

  async function openAmqpTap(user: TestUser, bindingKey: string): Promise<AmqpTap> {
    const session = await openAmqp({ url: await rabbitmqUrlFor(user) });
    amqpSessions.push(session);
    const { queue } = await session.channel.assertQueue("", { exclusive: true, autoDelete: true });
    await session.channel.bindQueue(queue, "amq.topic", bindingKey);
    const payloads: string[] = [];
    await session.channel.consume(queue, (message) => message && payloads.push(message.content.toString()), { noAck: true });
    return { payloads, session };
  }

  /** Whether the adapter still has a connection of `clientId`. */
  const hasConnection = (clientId: string) => [...adapter.server.connections].some((c) => c.info.clientId === clientId);

  test("a 2,000-message QoS 0 burst reaches each subscriber exactly once, in order: two clients of the publisher's user, another user, a wildcard filter, a persistent session, an AMQP queue", async () => {
    const base = uniqueName("burst");
    const topic = `${base}/a/b`;
    const same1 = await subscriber(alice, "same1", { [topic]: 0 });
    const same2 = await subscriber(alice, "same2", { [topic]: 0 });
    const other = await subscriber(bob, "other", { [topic]: 0 });
    const wildcard = await subscriber(bob, "wild", { [`${base}/+/b`]: 0 });
    const persistent = await subscriber(alice, "pers", { [topic]: 0 }, { clean: false });
    const tap = await openAmqpTap(alice, `${base}.a.b`);
    const publisher = await connect(alice, "pub");

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
    const single = await subscriber(bob, "single", { [`${base}/one`]: 0 });
    const sameUser = await subscriber(alice, "single2", { [`${base}/one`]: 0 });
    const all = await subscriber(bob, "all", { [`${base}/#`]: 0 });

    // Round 1: CONNECT, then 500 messages at once to a routing key nobody published to before.
    const publisher = await connect(alice, "firstp");
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
    const second = await connect(alice, "firstq");
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
    const sub = await subscriber(bob, "mixs", { [topic]: 0 });
    const publisher = await connect(alice, "mixp");
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
      const subs = [await subscriber(bob, "idb", { [topic]: 0 }), await subscriber(alice, "ida", { [topic]: 0 })];
      const publisher = await connect(alice, "idp");
      const count = 1_000;
      const chunk = 50;

      let sendOther: (n: number) => void;
      let finishOther: () => Promise<void>;
      if (kind === "other-adapter") {
        const remote = await connect(alice, "idr", {}, otherAdapter);
        sendOther = (n) => {
          for (let i = 0; i < n; i++) remote.publish(topic, "same", { qos: 0 });
        };
        finishOther = async () => void (await remote.publishAsync(topic, "other-end", { qos: 1 }));
      } else {
        const amqp = await openAmqp({ url: await rabbitmqUrlFor(alice), confirm: true });
        amqpSessions.push(amqp);
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

  test("an echo RabbitMQ never delivers (publishes discarded when another client's refused publish closed the user's channel) does not swallow a later identical message", async () => {
    const base = uniqueName("lost");
    const okTopic = `${base}/ok`;
    const sub = await subscriber(bob, "losts", { [`${base}/#`]: 0 });
    // Two clients of carol share her publish channel; `secret` is refused by her topic permission.
    const [publisher, refused] = await Promise.all([connect(carol, "lostp"), connect(carol, "lostd")]);
    await publisher.publishAsync(okTopic, "warm", { qos: 1 }); // `<base>.ok` confirmed on carol's channel
    await publishBurst(publisher, toTopic(okTopic, Array(150).fill("same")));
    refused.publish(`${base}/secret`, "secret", { qos: 0 });
    await publishBurst(publisher, toTopic(okTopic, Array(150).fill("same")));
    await closedPromise(refused, "the refused publisher's connection to close");
    await publisher.publishAsync(okTopic, "p-end", { qos: 1 });
    await waitForMarker(payloadsOf(sub.inbox), "p-end", "the subscriber (phase 1)");
    const phase1 = payloadsOf(sub.inbox)();

    // Phase 2: messages identical to carol's (routing key, payload, headers) from an AMQP client.
    const amqp = await openAmqp({ url: await rabbitmqUrlFor(alice), confirm: true });
    amqpSessions.push(amqp);
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
    const sub = await subscriber(bob, "perms", { [`${base}/#`]: 0 });
    const marker = await connect(alice, "permm");

    // Allowed messages first (delivered, and `<base>.ok` confirmed), then a refused one.
    const first = await connect(carol, "perma");
    await publishBurst(first, toTopic(okTopic, numbered("ok", 5)));
    await waitForMarker(payloadsOf(sub.inbox), "ok5", "the allowed messages");
    first.publish(secretTopic, "secret1", { qos: 0 });
    await closedPromise(first, "the connection of the publisher refused by RabbitMQ to close");
    await marker.publishAsync(secretTopic, "mark1", { qos: 1 });
    await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(sub.inbox), marker: "mark1" }]);
    expect(payloadsOf(sub.inbox)()).toEqual([...numbered("ok", 5), "mark1"]);

    // A burst with the refused message in the middle.
    const second = await connect(carol, "permb");
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
      const closing = clientLogLines(adapter.logLines, client.options.clientId!).filter((line) => line.includes("closing MQTT connection"));
      expect(closing).toHaveLength(1);
      expect(closing[0]).toMatch(new RegExp(`AMQP 403\\): ACCESS_REFUSED - access to topic '${base}\\.secret'`));
    }
  });

  test("a user without write permission: none of its QoS 0 burst reaches a subscriber, though another user published to the same topic just before", async () => {
    const topic = `${uniqueName("nowrite")}/t`;
    const sub = await subscriber(bob, "nws", { [topic]: 0 });
    const allowed = await connect(alice, "nwa");
    await publishBurst(allowed, [...toTopic(topic, numbered("a", 3)), { topic, payload: "a4", qos: 1 }]);
    await waitForMarker(payloadsOf(sub.inbox), "a4", "alice's messages");

    const denied = await connect(dora, "nwd");
    await publishBurst(denied, toTopic(topic, numbered("d", 20)));
    await closedPromise(denied, "the connection of the user without write permission to close");
    await allowed.publishAsync(topic, "mark", { qos: 1 });
    await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(sub.inbox), marker: "mark" }]);
    expect(payloadsOf(sub.inbox)()).toEqual([...numbered("a", 4), "mark"]);
    const closing = clientLogLines(adapter.logLines, denied.options.clientId!).filter((line) => line.includes("closing MQTT connection"));
    expect(closing).toHaveLength(1);
    expect(closing[0]).toMatch(/AMQP 403\): ACCESS_REFUSED - access to exchange 'amq\.topic'/);
  });

  test("a QoS 0 will message reaches a subscriber exactly once; one to a topic its user may not write reaches nobody", async () => {
    const base = uniqueName("will");
    const sub = await subscriber(bob, "wills", { [`${base}/#`]: 0 });
    const marker = await connect(alice, "willm");

    const allowedId = uniqueName("willa");
    const allowed = await connect(alice, "willa", { clientId: allowedId, will: { topic: `${base}/w`, payload: Buffer.from("gone"), qos: 0, retain: false } });
    await publishBurst(allowed, [...toTopic(`${base}/w`, ["w1", "w2"]), { topic: `${base}/w`, payload: "w3", qos: 1 }]);
    allowed.stream.destroy(); // no DISCONNECT: the will is published
    await waitForMarker(payloadsOf(sub.inbox), "gone", "the will message");

    // carol may write `<base>/ok` (and does, so the key is confirmed on her channel) but not `<base>/secret`.
    const refusedId = uniqueName("willr");
    const refused = await connect(carol, "willr", { clientId: refusedId, will: { topic: `${base}/secret`, payload: Buffer.from("will-secret"), qos: 0, retain: false } });
    await publishBurst(refused, [...toTopic(`${base}/ok`, ["r1"]), { topic: `${base}/ok`, payload: "r2", qos: 1 }]);
    refused.stream.destroy();
    await waitUntil(() => !hasConnection(refusedId), `the adapter to drop connection ${refusedId}`);
    await Bun.sleep(SETTLE_MS);
    await marker.publishAsync(`${base}/m`, "mark", { qos: 1 });
    await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(sub.inbox), marker: "mark" }]);
    expect(payloadsOf(sub.inbox)()).toEqual(["w1", "w2", "w3", "gone", "r1", "r2", "mark"]);
  });

  test("a client subscribed to its own topic at QoS 0 gets each of its 1,000 messages exactly once, in order (clean and persistent session)", async () => {
    for (const clean of [true, false]) {
      const topic = `${uniqueName("self")}/t`;
      const self = await subscriber(alice, "self", { [topic]: 0 }, { clean });
      const payloads = numbered("m", 1_000);
      await publishBurst(self.client, [...toTopic(topic, payloads), { topic, payload: "end", qos: 1 }]);
      await waitForMarkers([{ what: `the client itself (clean=${clean})`, payloads: payloadsOf(self.inbox), marker: "end" }]);
      expect(`clean=${clean}: ${sequenceReport(payloadsOf(self.inbox)(), [...payloads, "end"])}`).toBe(`clean=${clean}: as expected`);
    }
  });

  test("overlapping QoS 0 `a/#` and QoS 1 `a/b` in one client: each message once, `a/b` from the QoS 1 subscription, `a/c` at QoS 0, published at QoS 0 and at QoS 1 [MQTT-3.3.5-1]", async () => {
    const base = uniqueName("ovl");
    const sub = await subscriber(alice, "ovls", { [`${base}/#`]: 0, [`${base}/b`]: 1 });
    const publisher = await connect(bob, "ovlp");
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
    const live = await subscriber(bob, "retl", { [topic]: 0 });
    const publisher = await connect(alice, "retp");
    const payloads = payloadKind === "numbered" ? numbered("m", 500) : Array<string>(500).fill("same");
    await publishBurst(publisher, [...payloads.map((payload, i) => ({ topic, payload, retain: (i + 1) % 5 === 0 })), { topic, payload: "end", qos: 1 }]);
    await waitForMarkers([{ what: "the live subscriber", payloads: payloadsOf(live.inbox), marker: "end" }]);
    expect(sequenceReport(payloadsOf(live.inbox)(), [...payloads, "end"])).toBe("as expected");
    // Delivered to an existing subscription, not as a retained message [MQTT-3.3.1-9].
    expect(live.inbox.messages.filter((m) => m.retain).length).toBe(0);

    const later = await subscriber(bob, "retn", { [topic]: 0 });
    const retained = await later.inbox.next("the retained message");
    expect({ payload: retained.payload, retain: retained.retain }).toEqual({ payload: payloads[499]!, retain: true });
    await Bun.sleep(SETTLE_MS);
    expect(later.inbox.messages.length).toBe(1);
  });

  test("payloads of 0 bytes to 70 KB, 120 back-to-back, arrive byte for byte (nothing kept as a view of a reused read buffer)", async () => {
    const topic = `${uniqueName("bytes")}/t`;
    const sub = await subscriber(bob, "bytess", { [topic]: 0 });
    const sameUser = await subscriber(alice, "bytesa", { [topic]: 0 });
    const publisher = await connect(alice, "bytesp");
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
    const sub = await subscriber(bob, "discs", { [topic]: 0 });
    const publisher = await connect(alice, "discp");
    const payloads = numbered("m", 500);
    await publishBurst(publisher, toTopic(topic, payloads));
    await publisher.endAsync();
    await waitForMarker(payloadsOf(sub.inbox), "m500", "the last message of the burst");
    // Another client of alice: same publish channel, so its marker trails every echo of the burst.
    const marker = await connect(alice, "discm");
    await marker.publishAsync(topic, "end", { qos: 1 });
    await waitForMarkers([{ what: "the subscriber", payloads: payloadsOf(sub.inbox), marker: "end" }]);
    expect(sequenceReport(payloadsOf(sub.inbox)(), [...payloads, "end"])).toBe("as expected");
  });

  test("local delivery stays in its vhost: a subscriber of the same filter in another vhost gets nothing", async () => {
    const topic = `${uniqueName("vh")}/t`;
    const here = await subscriber(bob, "vhh", { [topic]: 0 });
    const elsewhere = await subscriber(eve, "vhe", { [topic]: 0 });
    const publisher = await connect(alice, "vhp");
    await publishBurst(publisher, [...toTopic(topic, numbered("m", 200)), { topic, payload: "end", qos: 1 }]);
    await waitForMarker(payloadsOf(here.inbox), "end", "the subscriber in the publisher's vhost");
    const eveMarker = await connect(eve, "vhm");
    await eveMarker.publishAsync(topic, "eve-end", { qos: 1 });
    await waitForMarkers([{ what: "the subscriber in the other vhost", payloads: payloadsOf(elsewhere.inbox), marker: "eve-end" }]);
    expect(payloadsOf(elsewhere.inbox)()).toEqual(["eve-end"]);
    expect(payloadsOf(here.inbox)().length).toBe(201);
  });

  test("a filter starting with a wildcard does not get QoS 0 messages to a `$` topic; a filter starting with `$` does [MQTT-4.7.2-1]", async () => {
    const u = uniqueName("dollar");
    const [dollarTopic, plainTopic] = [`$d/${u}/t`, `p/${u}/t`];
    const wildcard = await subscriber(bob, "dolw", { [`+/${u}/#`]: 0 });
    const dollar = await subscriber(bob, "dold", { [`$d/${u}/#`]: 0 });
    const publisher = await connect(alice, "dolp");
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

  test(`the metrics endpoint counts local deliveries and suppressed echoes (${localDelivery ? "both > 0, one echo per local delivery" : "both stay 0"}); every message is counted as delivered once`, async () => {
    // An adapter of its own: counters start at 0 and no echo of another test arrives meanwhile.
    const counted = await startAdapter({ qos0Fanout: "shared", qos0LocalDelivery: localDelivery, metrics: { ip: "127.0.0.1", port: 0 } });
    try {
      const topic = `${uniqueName("metrics")}/t`;
      const connectHere = (prefix: string) => connect(alice, prefix, {}, counted);
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
