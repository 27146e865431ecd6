/**
 * Issue 8, shared QoS 0 fan-out: what RabbitMQ holds in each `adapter.qos0_fanout` mode, and
 * the slow subscriber. In `shared` mode a clean-session client whose subscriptions are all QoS 0
 * gets no queue of its own; its user's QoS 0 filters are bound (once per routing key) to one
 * exclusive, non-durable `mqtt-subscription-adapter-fanout-…` queue per (vhost, user) on that
 * user's consume connection. QoS 1/2 subscriptions and clean=false sessions keep their
 * `mqtt-subscription-<clientid>qos1` queue in both modes; `per_session` is the plugin's shape.
 * The client-visible semantics, in both modes, are in qos0-fanout.test.ts.
 *
 * What a shared queue costs: no prefetch window holds a slow client back, so the adapter buffers
 * for it up to `adapter.qos0_max_buffered_bytes` and drops its QoS 0 copies beyond. A healthy
 * client that merely falls behind a burst must lose nothing; one that reads nothing must cost a
 * bounded buffer and never starve the others. And a fan-out queue an operator deletes breaks the
 * subscriptions of every client bound through it: they are disconnected (a client must not sit
 * connected and subscribed while receiving nothing) and get a new queue when they come back.
 *
 * Each test makes its own vhost and users: fan-out queues are per (vhost, user), so counting
 * them needs users no other test touched.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { IClientOptions, MqttClient } from "mqtt";
import { parsePrometheusText, sampleValue } from "../../src/metrics/test-helpers.ts";
import { CONNACK, connectPacket, hex, RawClient, subscribePacket } from "../support/abuse.ts";
import { buildDefaults } from "../../src/config/index.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { ensureRabbitmq, rabbitmqctl, uniqueName } from "../support/broker.ts";
import {
  BrokerFixtures,
  closedPromise,
  connectMqttJs,
  endAll,
  HOOK_TIMEOUT_MS,
  Inbox,
  sessionQueue,
  TEST_TIMEOUT_MS,
  waitUntil,
  type TestUser,
} from "./mqtt-support.ts";
import {
  adapterBufferedBytes,
  FANOUT_NAME,
  fanoutQueuesOf,
  loginOf,
  queuesOf,
  startFileSubscriber,
  subackOf,
  summarise,
  topicBindingsOf,
  trackBufferedPeak,
  waitWhileGrowing,
} from "./qos0-fanout-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

const DROPPED = "rabbitmq_mqtt_adapter_qos0_messages_dropped_total";
/** Messages in each burst: 20 MiB of payload, far more than the adapter may hold for one client. */
const COUNT = 20_000;
const PAYLOAD_BYTES = 1024;
const METRICS = { ip: "127.0.0.1", port: 0 };

const fixtures = new BrokerFixtures();
const adapters: Record<"shared" | "per_session", TestAdapter | undefined> = { shared: undefined, per_session: undefined };
const clients: MqttClient[] = [];

beforeAll(async () => {
  adapters.shared = await startAdapter({ qos0Fanout: "shared", metrics: METRICS });
  adapters.per_session = await startAdapter({ qos0Fanout: "per_session", metrics: METRICS });
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
  await endAll(...clients.splice(0));
  await Promise.all([adapters.shared?.stop(), adapters.per_session?.stop()]);
  await fixtures.cleanup();
}, HOOK_TIMEOUT_MS);

/** A fresh vhost with `count` fresh users in it (all permissions). */
async function freshUsers(count: number): Promise<{ vhost: string; users: TestUser[] }> {
  const vhost = await fixtures.addVhost("fq");
  const users = await Promise.all(Array.from({ length: count }, () => fixtures.addUser({ vhost }, "fq")));
  return { vhost, users };
}

/** An MQTT.js 3.1.1 client of `user` on `adapter` (clean session unless `options` say otherwise). */
async function connectTo(adapter: TestAdapter, user: TestUser, options: IClientOptions = {}): Promise<MqttClient> {
  const client = await connectMqttJs(adapter.url, { clientId: uniqueName("fq"), ...loginOf(user), ...options });
  clients.push(client);
  return client;
}

/** {@link connectTo} the `mode` adapter. */
function connect(mode: "shared" | "per_session", user: TestUser, options: IClientOptions = {}): Promise<MqttClient> {
  return connectTo(adapters[mode]!, user, options);
}

function clientIdOf(client: MqttClient): string {
  return client.options.clientId!;
}

/** The adapter's QoS 0 drop counter, scraped from its metrics endpoint. */
async function droppedCount(adapter: TestAdapter): Promise<number> {
  const response = await fetch(adapter.server.operator.metricsEndpoint!.url);
  return sampleValue(parsePrometheusText(await response.text()), DROPPED);
}

/** Message `i` of a burst: 1 KiB of text (mosquitto_sub prints it on one line), the index in 6 digits, then dots. */
function burstPayload(i: number): string {
  return String(i).padStart(6, "0").padEnd(PAYLOAD_BYTES, ".");
}

/** What arrived of a burst, comparable in one line: how many, and the first index out of sequence 0, 1, 2, … */
function burstVerdict(indexes: readonly number[]): { received: number; firstOutOfPlace: string } {
  const at = indexes.findIndex((index, position) => index !== position);
  return { received: indexes.length, firstOutOfPlace: at === -1 ? "none" : `#${at} was message ${indexes[at]}` };
}

/**
 * A subscriber that reads nothing beside a healthy one, both QoS 0 on one topic of a fresh user:
 * COUNT messages from an MQTT.js publisher. The healthy one must get them all, in order (checked
 * here); returns what the stuck one cost: QoS 0 copies dropped, and bytes the adapter holds for it
 * afterwards (at most one PUBLISH of `publishBytes` beyond the limit, in shared mode).
 */
async function stuckBesideHealthy(adapter: TestAdapter): Promise<{ dropped: number; stuckBufferedBytes: number; publishBytes: number }> {
  const { users } = await freshUsers(1);
  const user = users[0]!;
  const topic = `${uniqueName("slow")}/t`;
  const droppedBefore = await droppedCount(adapter);

  // The stuck one: CONNECT + SUBSCRIBE QoS 0, then it never reads again.
  const stuckId = uniqueName("stuck");
  const slow = await RawClient.open(adapter.port);
  slow.send(connectPacket({ clientId: stuckId, keepaliveSeconds: 0, ...loginOf(user) }));
  slow.send(subscribePacket(1, topic, 0));
  expect(hex(await slow.waitForBytes(9, "CONNACK and SUBACK of the stuck subscriber"))).toBe(`${hex(CONNACK.accepted)} 90 03 00 01 00`);
  slow.pause();

  // The healthy one runs in a process of its own (see startFileSubscriber for why).
  const healthy = startFileSubscriber({ port: adapter.port, clientId: uniqueName("healthy"), ...loginOf(user), filter: topic, qos: 0, count: COUNT, timeoutSeconds: 90 });
  const publisher = await connectTo(adapter, user);
  try {
    await healthy.started;
    for (let i = 0; i < COUNT; i++) await publisher.publishAsync(topic, burstPayload(i), { qos: 0 });
    const indexes = (await healthy.done).map((payload) => Number(payload.slice(0, 6)));
    expect(burstVerdict(indexes)).toEqual({ received: COUNT, firstOutOfPlace: "none" });
    // Every copy for the stuck one was written or dropped in the same turn as the healthy one's.
    return {
      dropped: (await droppedCount(adapter)) - droppedBefore,
      stuckBufferedBytes: adapterBufferedBytes(adapter, stuckId) ?? Number.NaN,
      // Fixed header (1 + 2-byte remaining length) + topic (2 + length) + payload.
      publishBytes: 3 + 2 + Buffer.byteLength(topic) + PAYLOAD_BYTES,
    };
  } finally {
    healthy.kill();
    slow.end();
  }
}

describe("adapter.qos0_fanout = shared", () => {
  test("a clean client with only QoS 0 subscriptions gets no session queue: its filters are bound to one exclusive, non-durable fan-out queue of its user", async () => {
    const { vhost, users } = await freshUsers(1);
    const user = users[0]!;
    const base = uniqueName("shape");
    const client = await connect("shared", user);
    expect(await subackOf(client, { [`${base}/a`]: 0, [`${base}/b/#`]: 0 })).toEqual([0, 0]);

    const queues = await queuesOf(vhost);
    expect(queues.map((q) => q.name)).not.toContain(sessionQueue(clientIdOf(client)));
    expect(queues.filter((q) => q.name.startsWith("mqtt-subscription-")).map((q) => q.name)).toEqual([expect.stringMatching(FANOUT_NAME)]);
    const fanout = queues.find((q) => FANOUT_NAME.test(q.name))!;
    expect(fanout).toMatchObject({ durable: false, exclusive: true, ownerUser: user.username });
    const bindings = await topicBindingsOf(vhost);
    expect(bindings.map((b) => [b.destination_name, b.routing_key]).sort()).toEqual([
      [fanout.name, `${base}.a`],
      [fanout.name, `${base}.b.#`],
    ]);
  });

  test("ten clients of one user subscribed at QoS 0 share exactly one fan-out queue; a client of a second user gets a second one", async () => {
    const { vhost, users } = await freshUsers(2);
    const [first, second] = [users[0]!, users[1]!];
    const base = uniqueName("ten");
    const ten = await Promise.all(Array.from({ length: 10 }, () => connect("shared", first)));
    for (const [i, client] of ten.entries()) {
      expect(await subackOf(client, { [`${base}/all`]: 0, [`${base}/c${i}`]: 0 })).toEqual([0, 0]);
    }
    const other = await connect("shared", second);
    expect(await subackOf(other, { [`${base}/all`]: 0 })).toEqual([0]);

    const queues = await queuesOf(vhost);
    for (const client of [...ten, other]) expect(queues.map((q) => q.name)).not.toContain(sessionQueue(clientIdOf(client)));
    const fanouts = queues.filter((q) => q.name.startsWith("mqtt-subscription-"));
    expect(fanouts.map((q) => q.name)).toEqual([expect.stringMatching(FANOUT_NAME), expect.stringMatching(FANOUT_NAME)]);
    expect(fanouts.map((q) => q.ownerUser).sort()).toEqual([first.username, second.username].sort());

    // The first user's queue: `all` bound once (refcounted, not once per client) plus each client's own key.
    const firstQueue = fanouts.find((q) => q.ownerUser === first.username)!.name;
    const keys = (await topicBindingsOf(vhost)).filter((b) => b.destination_name === firstQueue).map((b) => b.routing_key);
    expect(keys.sort()).toEqual([`${base}.all`, ...Array.from({ length: 10 }, (_, i) => `${base}.c${i}`)].sort());
  });

  test("a routing key stays bound to the fan-out queue while one local subscriber has it; unsubscribe of one keeps it, disconnect of the last removes it", async () => {
    const { vhost, users } = await freshUsers(1);
    const base = uniqueName("ref");
    const [x, y] = await Promise.all([connect("shared", users[0]!), connect("shared", users[0]!)]);
    expect(await subackOf(x, { [`${base}/t`]: 0 })).toEqual([0]);
    expect(await subackOf(y, { [`${base}/t`]: 0, [`${base}/keep`]: 0 })).toEqual([0, 0]);
    const [fanout] = await fanoutQueuesOf(vhost);
    expect((await topicBindingsOf(vhost, `${base}.t`)).map((b) => b.destination_name)).toEqual([fanout!.name]);

    await x.unsubscribeAsync(`${base}/t`);
    expect((await topicBindingsOf(vhost, `${base}.t`)).map((b) => b.destination_name)).toEqual([fanout!.name]);
    await y.endAsync();
    await waitUntil(
      async () => (await topicBindingsOf(vhost)).every((b) => b.routing_key !== `${base}.t` && b.routing_key !== `${base}.keep`),
      `the bindings ${base}.t and ${base}.keep to leave vhost ${vhost}`,
      { timeoutMs: 15_000, intervalMs: 200 },
    );
  });

  test("a healthy subscriber in this process that falls behind an unpaced burst of 20,000 × 1 KiB QoS 0 loses nothing: all arrive, in order, none dropped", async () => {
    // In this process, the subscriber shares one event loop with the adapter and the publisher, so
    // it falls behind the burst: the adapter must hold that backlog, not drop it (below the 16 MiB default).
    const adapter = adapters.shared!;
    const { users } = await freshUsers(1);
    const topic = `${uniqueName("burst")}/t`;
    const droppedBefore = await droppedCount(adapter);
    const subscriber = await connect("shared", users[0]!);
    const indexes: number[] = [];
    subscriber.on("message", (_topic: string, payload: Buffer) => indexes.push(Number(payload.subarray(0, 6).toString())));
    expect(await subackOf(subscriber, { [topic]: 0 })).toEqual([0]);
    const publisher = await connect("shared", users[0]!);

    // How far behind it gets: the most the adapter holds for it, and what it had received by then.
    const peak = trackBufferedPeak(adapter, clientIdOf(subscriber), () => indexes.length);

    // Unpaced: all of it handed to MQTT.js at once; a fresh Buffer each, as MQTT.js keeps the reference until written.
    for (let i = 0; i < COUNT; i++) publisher.publish(topic, Buffer.from(burstPayload(i)), { qos: 0 });
    await waitWhileGrowing(() => indexes.length, COUNT);
    const dropped = (await droppedCount(adapter)) - droppedBefore;
    console.log(
      `burst into a subscriber in this process: at most ${peak.bytes} bytes waited for it in the adapter, ` +
        `after PUBLISH #${peak.writes} written when it had received ${peak.snapshot}; ${dropped} dropped`,
    );
    expect(burstVerdict(indexes)).toEqual({ received: COUNT, firstOutOfPlace: "none" });
    expect(dropped).toBe(0);
  }, 120_000);

  test("with adapter.qos0_max_buffered_bytes = 65536 a subscriber that does not read gets at most that plus one PUBLISH held for it and loses the rest; a healthy one of the same user gets all 20,000", async () => {
    const limitBytes = 65_536;
    const adapter = await startAdapter({ qos0Fanout: "shared", qos0MaxBufferedBytes: limitBytes, metrics: METRICS });
    try {
      const { dropped, stuckBufferedBytes, publishBytes } = await stuckBesideHealthy(adapter);
      console.log(`qos0_max_buffered_bytes = ${limitBytes}: ${dropped} dropped, ${stuckBufferedBytes} bytes held for the subscriber that does not read`);
      expect(dropped).toBeGreaterThan(0);
      // Dropping starts only once more than the limit waits (it never shrinks: the client reads
      // nothing), and the last PUBLISH written before that is all it may exceed the limit by.
      expect(stuckBufferedBytes).toBeGreaterThan(limitBytes);
      expect(stuckBufferedBytes).toBeLessThanOrEqual(limitBytes + publishBytes);
    } finally {
      await adapter.stop();
    }
  }, 120_000);

  test("an operator deleting a user's fan-out queue disconnects every client subscribed through it, not another user's; a client that comes back and subscribes again receives again, through a queue declared anew", async () => {
    const { vhost, users } = await freshUsers(2);
    const [owner, other] = [users[0]!, users[1]!];
    const topic = `${uniqueName("del")}/t`;
    // The owner's publisher subscribes to nothing: it has no part in the fan-out queue.
    const [a1, a2, b, publisher] = await Promise.all([connect("shared", owner), connect("shared", owner), connect("shared", other), connect("shared", owner)]);
    const inboxes = [new Inbox(a1), new Inbox(a2), new Inbox(b)];
    for (const client of [a1, a2, b]) expect(await subackOf(client, { [topic]: 0 })).toEqual([0]);
    await publisher.publishAsync(topic, "before", { qos: 1 });
    for (const inbox of inboxes) expect(summarise([await inbox.next("`before`")])).toEqual([`${topic} before@0`]);

    const fanouts = await fanoutQueuesOf(vhost);
    expect(fanouts.map((q) => q.ownerUser).sort()).toEqual([owner.username, other.username].sort());
    const deleted = fanouts.find((q) => q.ownerUser === owner.username)!.name;
    const closed = [closedPromise(a1, "the close of a1 after its fan-out queue was deleted"), closedPromise(a2, "the close of a2 after its fan-out queue was deleted")];
    await rabbitmqctl("delete_queue", "-p", vhost, deleted);
    await Promise.all(closed);

    // The other user's client still receives; its queue stays, the owner's is gone.
    await publisher.publishAsync(topic, "after", { qos: 1 });
    expect(summarise([await inboxes[2]!.next("`after` at the other user's client")])).toEqual([`${topic} after@0`]);
    expect({ b: b.connected, publisher: publisher.connected }).toEqual({ b: true, publisher: true });
    expect((await fanoutQueuesOf(vhost)).map((q) => q.ownerUser)).toEqual([other.username]);

    const back = await connect("shared", owner, { clientId: clientIdOf(a1) });
    const backInbox = new Inbox(back);
    expect(await subackOf(back, { [topic]: 0 })).toEqual([0]);
    await publisher.publishAsync(topic, "again", { qos: 1 });
    expect(summarise([await backInbox.next("`again` at the client that came back")])).toEqual([`${topic} again@0`]);
    const renewed = (await fanoutQueuesOf(vhost)).filter((q) => q.ownerUser === owner.username);
    expect(renewed).toEqual([expect.objectContaining({ name: expect.stringMatching(FANOUT_NAME), exclusive: true, durable: false })]);
  });
});

describe.each(["shared", "per_session"] as const)("adapter.qos0_fanout = %s (what holds in either mode)", (mode) => {
  test("QoS 1 and 2 subscriptions of a clean client, and every subscription of a clean=false session, use `mqtt-subscription-<clientid>qos1`; no fan-out queue", async () => {
    const { vhost, users } = await freshUsers(1);
    const base = uniqueName("sq");
    const clean = await connect(mode, users[0]!);
    const persistent = await connect(mode, users[0]!, { clean: false });
    expect(await subackOf(clean, { [`${base}/q1`]: 1, [`${base}/q2`]: 2 })).toEqual([1, 2]);
    expect(await subackOf(persistent, { [`${base}/p0`]: 0, [`${base}/p1`]: 1 })).toEqual([0, 1]);

    const queues = await queuesOf(vhost);
    expect(queues.find((q) => q.name === sessionQueue(clientIdOf(clean)))).toMatchObject({ durable: false });
    expect(queues.find((q) => q.name === sessionQueue(clientIdOf(persistent)))).toMatchObject({ durable: true, exclusive: false });
    expect(queues.filter((q) => FANOUT_NAME.test(q.name))).toEqual([]);
    const bound = (await topicBindingsOf(vhost)).map((b) => `${b.destination_name} ${b.routing_key}`).sort();
    expect(bound).toEqual(
      [
        `${sessionQueue(clientIdOf(clean))} ${base}.q1`,
        `${sessionQueue(clientIdOf(clean))} ${base}.q2`,
        `${sessionQueue(clientIdOf(persistent))} ${base}.p0`,
        `${sessionQueue(clientIdOf(persistent))} ${base}.p1`,
      ].sort(),
    );
  });

  test("a subscriber that does not read its socket does not slow or starve another QoS 0 client of the same user: that one gets all 20,000 messages, in order", async () => {
    const { dropped, stuckBufferedBytes, publishBytes } = await stuckBesideHealthy(adapters[mode]!);
    console.log(`qos0_fanout = ${mode}: ${dropped} QoS 0 messages dropped for the subscriber that does not read, ${stuckBufferedBytes} bytes held for it`);
    if (mode === "shared") {
      // Its copies are dropped once its socket is backed up (never held for the others), above the default limit.
      expect(dropped).toBeGreaterThan(0);
      expect(stuckBufferedBytes).toBeLessThanOrEqual(buildDefaults().qos0MaxBufferedBytes + publishBytes);
    } else {
      expect(dropped).toBe(0); // its own queue holds them in RabbitMQ
    }
  }, 120_000);
});

describe("adapter.qos0_fanout = per_session", () => {
  test("a clean QoS 0 subscriber gets its own `mqtt-subscription-<clientid>qos1` queue and no fan-out queue exists", async () => {
    const { vhost, users } = await freshUsers(1);
    const base = uniqueName("ps");
    const [a, b] = await Promise.all([connect("per_session", users[0]!), connect("per_session", users[0]!)]);
    expect(await subackOf(a, { [`${base}/t`]: 0 })).toEqual([0]);
    expect(await subackOf(b, { [`${base}/t`]: 0 })).toEqual([0]);

    const queues = await queuesOf(vhost);
    expect(queues.map((q) => q.name).sort()).toEqual([sessionQueue(clientIdOf(a)), sessionQueue(clientIdOf(b))].sort());
    expect(queues.filter((q) => FANOUT_NAME.test(q.name))).toEqual([]);
    expect((await topicBindingsOf(vhost, `${base}.t`)).map((row) => row.destination_name).sort()).toEqual(
      [sessionQueue(clientIdOf(a)), sessionQueue(clientIdOf(b))].sort(),
    );
  });
});
