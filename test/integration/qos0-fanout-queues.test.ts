/**
 * Issue 8, shared QoS 0 fan-out: what RabbitMQ holds in each `adapter.qos0_fanout` mode, and
 * the slow subscriber. In `shared` mode a clean-session client whose subscriptions are all QoS 0
 * gets no queue of its own; its user's QoS 0 filters are bound (once per routing key) to one
 * exclusive, non-durable `mqtt-subscription-adapter-fanout-…` queue per (vhost, user) on that
 * user's consume connection. QoS 1/2 subscriptions and clean=false sessions keep their
 * `mqtt-subscription-<clientid>qos1` queue in both modes; `per_session` is the plugin's shape.
 * The client-visible semantics, in both modes, are in qos0-fanout.test.ts.
 *
 * Each test makes its own vhost and users: fan-out queues are per (vhost, user), so counting
 * them needs users no other test touched.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { IClientOptions, MqttClient } from "mqtt";
import { parsePrometheusText, sampleValue } from "../../src/metrics/test-helpers.ts";
import { CONNACK, connectPacket, hex, RawClient, subscribePacket } from "../support/abuse.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { ensureRabbitmq, uniqueName } from "../support/broker.ts";
import { BrokerFixtures, connectMqttJs, endAll, HOOK_TIMEOUT_MS, sessionQueue, TEST_TIMEOUT_MS, waitUntil, type TestUser } from "./mqtt-support.ts";
import { FANOUT_NAME, fanoutQueuesOf, loginOf, queuesOf, startFileSubscriber, subackOf, topicBindingsOf } from "./qos0-fanout-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

const DROPPED = "rabbitmq_mqtt_adapter_qos0_messages_dropped_total";

const fixtures = new BrokerFixtures();
const adapters: Record<"shared" | "per_session", TestAdapter | undefined> = { shared: undefined, per_session: undefined };
const clients: MqttClient[] = [];

beforeAll(async () => {
  const metrics = { ip: "127.0.0.1", port: 0 };
  adapters.shared = await startAdapter({ qos0Fanout: "shared", metrics });
  adapters.per_session = await startAdapter({ qos0Fanout: "per_session", metrics });
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

/** An MQTT.js 3.1.1 client of `user` on the `mode` adapter (clean session unless `options` say otherwise). */
async function connect(mode: "shared" | "per_session", user: TestUser, options: IClientOptions = {}): Promise<MqttClient> {
  const client = await connectMqttJs(adapters[mode]!.url, { clientId: uniqueName("fq"), ...loginOf(user), ...options });
  clients.push(client);
  return client;
}

function clientIdOf(client: MqttClient): string {
  return client.options.clientId!;
}

/** The adapter's QoS 0 drop counter, scraped from its metrics endpoint. */
async function droppedCount(adapter: TestAdapter): Promise<number> {
  const response = await fetch(adapter.server.operator.metricsEndpoint!.url);
  return sampleValue(parsePrometheusText(await response.text()), DROPPED);
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
    const adapter = adapters[mode]!;
    const { users } = await freshUsers(1);
    const user = users[0]!;
    const topic = `${uniqueName("slow")}/t`;
    const COUNT = 20_000;
    const droppedBefore = await droppedCount(adapter);

    // The stuck one: CONNECT + SUBSCRIBE QoS 0, then it never reads again.
    const slow = await RawClient.open(adapter.port);
    slow.send(connectPacket({ clientId: uniqueName("stuck"), keepaliveSeconds: 0, ...loginOf(user) }));
    slow.send(subscribePacket(1, topic, 0));
    expect(hex(await slow.waitForBytes(9, "CONNACK and SUBACK of the stuck subscriber"))).toBe(`${hex(CONNACK.accepted)} 90 03 00 01 00`);
    slow.pause();

    // The healthy one runs in a process of its own (see startFileSubscriber for why).
    const healthy = startFileSubscriber({ port: adapter.port, clientId: uniqueName("healthy"), ...loginOf(user), filter: topic, qos: 0, count: COUNT, timeoutSeconds: 90 });
    const publisher = await connect(mode, user);
    try {
      await healthy.started;
      for (let i = 0; i < COUNT; i++) {
        // 1 KiB, text so mosquitto_sub prints it on one line: the index, then dots.
        await publisher.publishAsync(topic, String(i).padStart(6, "0").padEnd(1024, "."), { qos: 0 });
      }
      const indexes = (await healthy.done).map((payload) => Number(payload.slice(0, 6)));
      const firstGap = indexes.findIndex((index, position) => index !== position);
      expect({ received: indexes.length, firstOutOfPlace: firstGap === -1 ? "none" : `#${firstGap} was message ${indexes[firstGap]}` }).toEqual({
        received: COUNT,
        firstOutOfPlace: "none",
      });

      const dropped = (await droppedCount(adapter)) - droppedBefore;
      console.log(`qos0_fanout = ${mode}: ${dropped} QoS 0 messages dropped for the subscriber that does not read`);
      // shared: the stuck client's copies are dropped once its socket is backed up (never held for
      // the others); per_session: its own queue holds them in RabbitMQ, nothing is dropped.
      if (mode === "shared") expect(dropped).toBeGreaterThan(0);
      else expect(dropped).toBe(0);
    } finally {
      healthy.kill();
      slow.end();
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
