/**
 * Issue 8, shared QoS 0 fan-out: what MQTT clients observe must not depend on
 * `adapter.qos0_fanout`. Every test here runs against an adapter in each mode: `shared` (clean
 * QoS 0 subscriptions of a user bind one fan-out queue and the adapter copies locally) and
 * `per_session` (a session queue per client, as the plugin). Overlapping subscriptions, several
 * clients of one user or of several users, refused filters, UNSUBSCRIBE, re-SUBSCRIBE at another
 * QoS and messages from AMQP publishers all behave the same. What RabbitMQ holds in each mode
 * (queues, bindings) and the slow-subscriber case are in qos0-fanout-queues.test.ts.
 *
 * Messages are published at QoS 1 (PUBACK after the broker confirm), so each is routed before
 * the next is sent; a QoS 0 subscription still receives them at QoS 0 [MQTT-3.8.4-6]. "Exactly
 * once" is shown with trailing markers down every path the client has (qos0-fanout-support.ts).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { IClientOptions, MqttClient } from "mqtt";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { ensureRabbitmq, openAmqp, rabbitmqUrlFor, uniqueName } from "../support/broker.ts";
import { BrokerFixtures, connectMqttJs, endAll, HOOK_TIMEOUT_MS, Inbox, TEST_TIMEOUT_MS, waitUntil, type TestUser } from "./mqtt-support.ts";
import { collectUntilMarkers, loginOf, subackOf, summarise, summariseUnordered, topicBindingsOf } from "./qos0-fanout-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

describe.each(["shared", "per_session"] as const)("adapter.qos0_fanout = %s", (mode) => {
  const fixtures = new BrokerFixtures();
  let adapter: TestAdapter;
  /** A vhost of this block's own, so bindings listed there are only these tests'. */
  let vhost: string;
  let alice: TestUser;
  let bob: TestUser;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    adapter = await startAdapter({ qos0Fanout: mode });
    vhost = await fixtures.addVhost("fan");
    [alice, bob] = await Promise.all([fixtures.addUser({ vhost }, "alice"), fixtures.addUser({ vhost }, "bob")]);
  }, HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await endAll(...clients.splice(0));
    await adapter?.stop();
    await fixtures.cleanup();
  }, HOOK_TIMEOUT_MS);

  /** A clean-session MQTT.js 3.1.1 client of `user`, ended after the block at the latest. */
  async function connect(user: TestUser, prefix: string, options: IClientOptions = {}): Promise<MqttClient> {
    const client = await connectMqttJs(adapter.url, { clientId: uniqueName(prefix), ...loginOf(user), ...options });
    clients.push(client);
    return client;
  }

  /** Publishes each [topic, payload] at QoS 1, one after the other (each confirmed before the next). */
  async function publishAll(publisher: MqttClient, messages: Array<[string, string]>): Promise<void> {
    for (const [topic, payload] of messages) await publisher.publishAsync(topic, payload, { qos: 1 });
  }

  test("overlapping QoS 0 `a/#` and QoS 1 `a/b` in one client: one copy per message, `a/b` at QoS 1, `a/c` at QoS 0 [MQTT-3.3.5-1]", async () => {
    const base = uniqueName("ovl");
    const client = await connect(alice, "ovl");
    const publisher = await connect(alice, "ovlp");
    const inbox = new Inbox(client);
    expect(await subackOf(client, { [`${base}/#`]: 0 })).toEqual([0]);
    expect(await subackOf(client, { [`${base}/b`]: 1 })).toEqual([1]);

    // b1 matches both filters: in shared mode it reaches both the fan-out and the session queue.
    // The markers trail each path (mark-c: fan-out only; mark-b: session queue, and fan-out too).
    await publishAll(publisher, [[`${base}/b`, "b1"], [`${base}/c`, "c1"], [`${base}/b`, "mark-b"], [`${base}/c`, "mark-c"]]);
    const got = await collectUntilMarkers(inbox, ["mark-b", "mark-c"]);
    expect(summariseUnordered(got)).toEqual([`${base}/b b1@1`, `${base}/b mark-b@1`, `${base}/c c1@0`, `${base}/c mark-c@0`]);
  });

  test("two clients of one user with the same QoS 0 filter each get every message exactly once, in order", async () => {
    const topic = `${uniqueName("two")}/t`;
    const [first, second, publisher] = await Promise.all([connect(alice, "two1"), connect(alice, "two2"), connect(alice, "twop")]);
    const inboxes = [new Inbox(first), new Inbox(second)];
    expect(await subackOf(first, { [topic]: 0 })).toEqual([0]);
    expect(await subackOf(second, { [topic]: 0 })).toEqual([0]);

    const payloads = Array.from({ length: 30 }, (_, i) => `m${i}`);
    await publishAll(publisher, [...payloads, "end"].map((payload) => [topic, payload]));
    for (const inbox of inboxes) {
      // A duplicate or a loss anywhere before "end" shows as a mismatch (one queue, one order).
      expect(summarise(await inbox.take(payloads.length + 1, `${topic} messages`))).toEqual(
        [...payloads, "end"].map((payload) => `${topic} ${payload}@0`),
      );
    }
  });

  test("clients of two users each get their own copy; a user whose topic permission refuses the filter gets SUBACK 0x80 and none of it, the others keep receiving", async () => {
    const base = uniqueName("users");
    // carol may read (bind) only `<base>.ok`: the filter `<base>/t` is refused by RabbitMQ.
    const carol = await fixtures.addUser({ vhost, topic: { write: ".*", read: `^${base}\\.ok$` } }, "carol");
    const [a, b, c, publisher] = await Promise.all([connect(alice, "ua"), connect(bob, "ub"), connect(carol, "uc"), connect(alice, "up")]);
    const [inboxA, inboxB, inboxC] = [new Inbox(a), new Inbox(b), new Inbox(c)];
    expect(await subackOf(a, { [`${base}/t`]: 0 })).toEqual([0]);
    expect(await subackOf(b, { [`${base}/t`]: 0 })).toEqual([0]);
    await publishAll(publisher, [[`${base}/t`, "before"]]);
    for (const inbox of [inboxA, inboxB]) expect(summarise([await inbox.next("`before`")])).toEqual([`${base}/t before@0`]);

    // carol's refused bind must not break her other subscription, nor alice's and bob's.
    expect(await subackOf(c, { [`${base}/ok`]: 0 })).toEqual([0]);
    expect(await subackOf(c, { [`${base}/t`]: 0 })).toEqual([0x80]);
    expect(c.connected).toBe(true);

    await publishAll(publisher, [[`${base}/t`, "after1"], [`${base}/t`, "after2"], [`${base}/ok`, "carol-marker"]]);
    for (const inbox of [inboxA, inboxB]) {
      expect(summarise(await inbox.take(2, "the messages after carol's refusal"))).toEqual([`${base}/t after1@0`, `${base}/t after2@0`]);
    }
    // Had `<base>/t` reached carol, it would have come before her marker (same path).
    expect(summarise([await inboxC.next("carol's marker")])).toEqual([`${base}/ok carol-marker@0`]);
  });

  test("UNSUBSCRIBE stops one client's deliveries while another of the same user keeps receiving [MQTT-3.10.4-2]; the last one leaving (unsubscribe or disconnect) removes the binding", async () => {
    const base = uniqueName("unsub");
    const [x, y, publisher] = await Promise.all([connect(alice, "ux"), connect(alice, "uy"), connect(alice, "uxp")]);
    const [inboxX, inboxY] = [new Inbox(x), new Inbox(y)];
    // x's `<base>/k` stays to the end: the marker path that shows what x no longer receives.
    expect(await subackOf(x, { [`${base}/t`]: 0, [`${base}/m`]: 0, [`${base}/k`]: 0 })).toEqual([0, 0, 0]);
    expect(await subackOf(y, { [`${base}/t`]: 0 })).toEqual([0]);
    await publishAll(publisher, [[`${base}/t`, "one"]]);
    expect(summarise([await inboxX.next("`one` at x")])).toEqual([`${base}/t one@0`]);
    expect(summarise([await inboxY.next("`one` at y")])).toEqual([`${base}/t one@0`]);

    await x.unsubscribeAsync(`${base}/t`);
    await publishAll(publisher, [[`${base}/t`, "two"], [`${base}/k`, "x-marker"]]);
    expect(summarise([await inboxX.next("x's marker")])).toEqual([`${base}/k x-marker@0`]); // not `two`
    expect(summarise([await inboxY.next("`two` at y")])).toEqual([`${base}/t two@0`]);
    expect((await topicBindingsOf(vhost, `${base}.t`)).length).toBeGreaterThan(0); // y still needs it

    // y, the last subscriber of `<base>/t`, disconnects; x, the only one of `<base>/m`, unsubscribes.
    await y.endAsync();
    await x.unsubscribeAsync(`${base}/m`);
    await waitUntil(
      async () => (await topicBindingsOf(vhost, `${base}.t`)).length + (await topicBindingsOf(vhost, `${base}.m`)).length === 0,
      `no binding of ${base}.t or ${base}.m left in vhost ${vhost}`,
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    await publishAll(publisher, [[`${base}/t`, "three"], [`${base}/m`, "four"], [`${base}/k`, "x-marker2"]]);
    expect(summarise([await inboxX.next("x's second marker")])).toEqual([`${base}/k x-marker2@0`]);
  });

  test("re-SUBSCRIBE of the same filter QoS 0 → 1 → 0 replaces the subscription: after each SUBACK every message arrives once, at the new QoS [MQTT-3.8.4-3]", async () => {
    const base = uniqueName("resub");
    const client = await connect(alice, "rs");
    const publisher = await connect(alice, "rsp");
    const inbox = new Inbox(client);
    // Marker paths that do not change: `y` at QoS 1 (session queue), `z` at QoS 0 (fan-out in shared mode).
    expect(await subackOf(client, { [`${base}/y`]: 1, [`${base}/z`]: 0 })).toEqual([1, 0]);
    for (const [round, qos] of ([0, 1, 0] as const).entries()) {
      expect(await subackOf(client, { [`${base}/t`]: qos })).toEqual([qos]);
      await publishAll(publisher, [[`${base}/t`, `p${round}`], [`${base}/y`, `y${round}`], [`${base}/z`, `z${round}`]]);
      const got = await collectUntilMarkers(inbox, [`y${round}`, `z${round}`]);
      expect(summariseUnordered(got)).toEqual([`${base}/t p${round}@${qos}`, `${base}/y y${round}@1`, `${base}/z z${round}@0`]);
    }
  });

  test("a message an AMQP client publishes to amq.topic (routing key `a.b`) reaches the QoS 0 subscribers of `a/b` of two users, once each", async () => {
    const base = uniqueName("amqp");
    const [exact, plus, other] = await Promise.all([connect(alice, "ae"), connect(alice, "ap"), connect(bob, "ao")]);
    const inboxes = [new Inbox(exact), new Inbox(plus), new Inbox(other)];
    expect(await subackOf(exact, { [`${base}/a/b`]: 0 })).toEqual([0]);
    expect(await subackOf(plus, { [`${base}/a/+`]: 0 })).toEqual([0]);
    expect(await subackOf(other, { [`${base}/#`]: 0 })).toEqual([0]);

    const amqp = await openAmqp({ url: await rabbitmqUrlFor(alice), confirm: true });
    try {
      amqp.channel.publish("amq.topic", `${base}.a.b`, Buffer.from("from amqp"));
      amqp.channel.publish("amq.topic", `${base}.a.b`, Buffer.from("end"));
      await amqp.channel.waitForConfirms();
    } finally {
      await amqp.close();
    }
    // No x-mqtt-publish-qos header: QoS 1 as published, so min(0, 1) = 0 at these subscribers.
    for (const inbox of inboxes) {
      expect(summarise(await inbox.take(2, "the AMQP messages"))).toEqual([`${base}/a/b from amqp@0`, `${base}/a/b end@0`]);
    }
  });
});
