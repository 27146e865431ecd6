/**
 * What only the AMQP backend has: queue names and arguments as RabbitMQ shows them, connection
 * and channel sharing, the pool's authentication cache, recovery of the shared consumer channel,
 * connection loss and broker flow control. The behaviour both backends share is in
 * backend-contract.test.ts.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import amqplib, { type ConsumeMessage } from "amqplib";
import type { BackendError, ConnectRequest, Delivery, SessionEvents } from "../../src/backend/backend.ts";
import { AmqpBackend } from "../../src/backend/amqp/index.ts";
import { ConsumerChannel, DeliveryTagRef } from "../../src/backend/amqp/consumer-channel.ts";
import { createMemoryLogger } from "../../src/log.ts";
import { ensureRabbitmq, openAmqp, rabbitmqctl, rabbitmqctlJson, rabbitmqUrl, uniqueName } from "../support/broker.ts";

await ensureRabbitmq();
// rabbitmqctl takes seconds per call on a busy 2-core machine: give tests and hooks room.
setDefaultTimeout(60_000);
const brokerUrl = `amqp://${new URL(await rabbitmqUrl()).host}`;

const backends: AmqpBackend[] = [];
const users: string[] = [];
afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.shutdown()));
  for (const user of users.splice(0)) await rabbitmqctl("delete_user", user).catch(() => {});
});

function makeBackend(overrides: Partial<ConstructorParameters<typeof AmqpBackend>[0]> = {}): AmqpBackend {
  const backend = new AmqpBackend({
    url: brokerUrl,
    exchange: "amq.topic",
    subscriptionTtlMs: 86_400_000,
    prefetch: 10,
    authCacheTtlMs: 0,
    log: createMemoryLogger("info"),
    ...overrides,
  });
  backends.push(backend);
  return backend;
}

async function addUser(permissions: [string, string, string] = [".*", ".*", ".*"]): Promise<string> {
  const user = uniqueName("u");
  await rabbitmqctl("add_user", user, "pw");
  users.push(user);
  await rabbitmqctl("set_permissions", "-p", "/", user, ...permissions);
  return user;
}

function recorder() {
  const deliveries: Delivery[] = [];
  const lost: BackendError[] = [];
  const blocked: boolean[] = [];
  const events: SessionEvents = { deliver: (d) => deliveries.push(d), lost: (e) => lost.push(e), publishBlocked: (b) => blocked.push(b) };
  return { events, deliveries, lost, blocked };
}

function makeRequest(overrides: Partial<ConnectRequest> = {}): ConnectRequest {
  return {
    clientId: uniqueName("c"),
    username: "guest",
    password: "guest",
    vhost: "/",
    cleanSession: true,
    peer: "127.0.0.1:1",
    connectionId: uniqueName("conn"),
    ...overrides,
  };
}

async function open(backend: AmqpBackend, overrides: Partial<ConnectRequest> = {}) {
  const rec = recorder();
  const request = makeRequest(overrides);
  const outcome = await backend.connect(request, rec.events);
  if (!outcome.ok) throw new Error(`connect refused: ${outcome.error.message}`);
  return { ...rec, request, session: outcome.session, sessionPresent: outcome.sessionPresent };
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function publishAsGuest(routingKey: string, body: string): Promise<void> {
  const amqp = await openAmqp({ confirm: true });
  try {
    amqp.channel.publish("amq.topic", routingKey, Buffer.from(body));
    await amqp.channel.waitForConfirms();
  } finally {
    await amqp.close();
  }
}

type QueueRow = { name: string; durable: boolean; auto_delete: boolean; arguments: Array<[string, string, unknown]> };
const listQueues = () => rabbitmqctlJson<QueueRow[]>("list_queues", "-p", "/", "name", "durable", "auto_delete", "arguments");
type ConnectionRow = { user: string; channels: number };
const connectionsOf = async (user: string) =>
  (await rabbitmqctlJson<ConnectionRow[]>("list_connections", "user", "channels")).filter((c) => c.user === user);
/** Connection pids of `user` as close_connection takes them (the JSON formatter prints another syntax). */
const connectionPidsOf = async (user: string) =>
  (await rabbitmqctl("list_connections", "pid", "user"))
    .split("\n")
    .map((line) => line.split("\t"))
    .filter((fields) => fields[1] === user)
    .map((fields) => fields[0]!);

describe("session queues as RabbitMQ shows them", () => {
  test("non-clean: mqtt-subscription-<clientid>qos1, durable, x-expires as an AMQP long; clean: auto-delete", async () => {
    const backend = makeBackend({ subscriptionTtlMs: 1_800_000 });
    const sticky = await open(backend, { cleanSession: false });
    const clean = await open(backend, { cleanSession: true });
    await sticky.session.subscribe([{ filter: uniqueName("t"), qos: 1 }]);
    await clean.session.subscribe([{ filter: uniqueName("t"), qos: 1 }]);
    const rows = await listQueues();
    expect(rows.find((r) => r.name === `mqtt-subscription-${sticky.request.clientId}qos1`)).toEqual({
      name: `mqtt-subscription-${sticky.request.clientId}qos1`,
      durable: true,
      auto_delete: false,
      arguments: [["x-expires", "long", 1_800_000]],
    });
    expect(rows.find((r) => r.name === `mqtt-subscription-${clean.request.clientId}qos1`)).toMatchObject({
      durable: false,
      auto_delete: true,
      arguments: [["x-expires", "long", 1_800_000]],
    });
    await sticky.session.close({ clean: true });
  });

  test("mqtt.durable_queue_type = quorum makes persistent sessions' queues quorum queues; clean ones stay classic", async () => {
    const backend = makeBackend({ subscriptionTtlMs: 1_800_000, durableQueueType: "quorum" });
    const sticky = await open(backend, { cleanSession: false });
    const clean = await open(backend, { cleanSession: true });
    await sticky.session.subscribe([{ filter: uniqueName("t"), qos: 1 }]);
    await clean.session.subscribe([{ filter: uniqueName("t"), qos: 1 }]);
    type TypedRow = { name: string; type: string; durable: boolean };
    const rows = await rabbitmqctlJson<TypedRow[]>("list_queues", "-p", "/", "name", "type", "durable");
    expect(rows.find((r) => r.name === `mqtt-subscription-${sticky.request.clientId}qos1`)).toEqual({
      name: `mqtt-subscription-${sticky.request.clientId}qos1`,
      type: "quorum",
      durable: true,
    });
    expect(rows.find((r) => r.name === `mqtt-subscription-${clean.request.clientId}qos1`)?.type).toBe("classic");
    await sticky.session.close({ clean: true });
  });

  test("mqtt.subscription_ttl = infinity: the persistent session's queue gets no x-expires", async () => {
    const backend = makeBackend({ subscriptionTtlMs: null });
    const sticky = await open(backend, { cleanSession: false });
    await sticky.session.subscribe([{ filter: uniqueName("t"), qos: 1 }]);
    const row = (await listQueues()).find((r) => r.name === `mqtt-subscription-${sticky.request.clientId}qos1`);
    expect(row).toMatchObject({ durable: true, auto_delete: false, arguments: [] });
    await sticky.session.close({ clean: true });
  });

  test("a stored queue declared with other arguments (e.g. by the plugin) is reused without a 406", async () => {
    const clientId = uniqueName("c");
    const level = uniqueName("t");
    const amqp = await openAmqp();
    try {
      await amqp.channel.assertQueue(`mqtt-subscription-${clientId}qos1`, { durable: true, arguments: { "x-expires": 3_600_000 } });
      await amqp.channel.bindQueue(`mqtt-subscription-${clientId}qos1`, "amq.topic", level);
    } finally {
      await amqp.close();
    }
    await publishAsGuest(level, "stored");
    const backend = makeBackend();
    const { session, sessionPresent, deliveries, lost } = await open(backend, { clientId, cleanSession: false });
    expect(sessionPresent).toBe(true);
    await waitFor("the stored message", () => deliveries.length === 1);
    expect(await session.subscribe([{ filter: `${level}/more`, qos: 1 }])).toEqual([{ ok: true }]);
    expect(lost).toEqual([]);
    await session.close({ clean: true });
  });
});

describe("shared QoS 0 fan-out", () => {
  test("a user who may not declare the fan-out queue gets its QoS 0 subscriptions on its own session queue, with a warning", async () => {
    // configure/read on session queues only: the fan-out queue's name is refused.
    const user = await addUser(["^mqtt-subscription-(?!adapter-fanout-).*", ".*", "^(amq\\.topic|mqtt-subscription-(?!adapter-fanout-).*)$"]);
    const log = createMemoryLogger("info");
    const backend = makeBackend({ log });
    const client = await open(backend, { username: user, password: "pw" });
    const level = uniqueName("t");
    expect(await client.session.subscribe([{ filter: level, qos: 0 }])).toEqual([{ ok: true }]);
    const rows = await listQueues();
    expect(rows.some((r) => r.name === `mqtt-subscription-${client.request.clientId}qos1`)).toBe(true);
    expect(rows.some((r) => r.name.startsWith("mqtt-subscription-adapter-fanout-"))).toBe(false);
    expect(log.lines.some((line) => line.includes("[warning] cannot use the shared QoS 0 queue") && line.includes("ACCESS_REFUSED"))).toBe(true);
    await publishAsGuest(level, "m1");
    await waitFor("m1 through the session queue", () => client.deliveries.length === 1);
    expect(client.deliveries[0]!.droppable).toBeUndefined();
    expect(client.lost).toEqual([]);
  });
});

describe("shared QoS 0 fan-out: a session closed while its SUBSCRIBE is in flight", () => {
  test("leaves no binding behind on the user's fan-out queue", async () => {
    const user = await addUser();
    const backend = makeBackend();
    const keeper = await open(backend, { username: user, password: "pw" });
    expect(await keeper.session.subscribe([{ filter: uniqueName("keep"), qos: 0 }])).toEqual([{ ok: true }]); // the queue exists
    // Closed at different moments of the SUBSCRIBE (before, during and after its queue.bind).
    const levels: string[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const level = uniqueName(`t${i}`);
        levels.push(level);
        const client = await open(backend, { username: user, password: "pw" });
        const subscribed = client.session.subscribe([{ filter: level, qos: 0 }]);
        await new Promise((resolve) => setTimeout(resolve, i * 0.25));
        await client.session.close({ clean: true });
        await subscribed;
      }),
    );
    const leftover = async () =>
      (await rabbitmqctlJson<Array<{ destination_name: string; routing_key: string }>>("list_bindings", "-p", "/", "destination_name", "routing_key")).filter(
        (b) => b.destination_name.startsWith("mqtt-subscription-adapter-fanout-") && levels.includes(b.routing_key),
      );
    await new Promise((resolve) => setTimeout(resolve, 300)); // unbinds run in the background
    expect(await leftover()).toEqual([]);
  });
});

describe("sharing", () => {
  test("many sessions of one user share two AMQP connections (one publishes, one consumes), at most 8 consumer channels and one publish channel", async () => {
    const user = await addUser();
    const backend = makeBackend({ authCacheTtlMs: 10_000 });
    const level = uniqueName("t");
    const sessions: Array<Awaited<ReturnType<typeof open>>> = [];
    for (let i = 0; i < 30; i++) sessions.push(await open(backend, { username: user, password: "pw" }));
    for (const { session } of sessions.slice(0, 15)) await session.subscribe([{ filter: `${level}/#`, qos: 1 }]);
    await Promise.all(sessions.map(({ session }, i) => session.publish({ topic: `${level}/${i}`, payload: new Uint8Array([i]), qos: 1, retain: false, dup: false })));
    // 30 messages for each subscriber, of which prefetch (10) arrive while none is settled.
    await waitFor("a full prefetch window at each subscriber", () => sessions.slice(0, 15).every((s) => s.deliveries.length === 10), 10_000);

    expect([backend.connectionCount("/", user, "publish"), backend.connectionCount("/", user, "consume"), backend.connectionCount("/", user)]).toEqual([1, 1, 2]);
    await waitFor("two AMQP connections for the user", async () => (await connectionsOf(user)).length === 2);
    const consumers = await rabbitmqctlJson<Array<{ queue_name: string; channel_pid: string }>>("list_consumers", "-p", "/", "queue_name", "channel_pid");
    const ours = consumers.filter((c) => sessions.some((s) => c.queue_name === `mqtt-subscription-${s.request.clientId}qos1`));
    expect(ours.length).toBe(15);
    // A channel per consumer up to 8 (RabbitMQ runs each as one process), then shared.
    expect(new Set(ours.map((c) => c.channel_pid)).size).toBe(8);
    // publish + 8 consumer channels + a few idle ops channels, not one per session
    for (const connection of await connectionsOf(user)) expect(connection.channels).toBeLessThanOrEqual(14);
  }, 30_000);

  test("a user whose clients only publish, or only subscribe, holds one AMQP connection: the login connection", async () => {
    const publisherUser = await addUser();
    const subscriberUser = await addUser();
    const backend = makeBackend({ authCacheTtlMs: 10_000 });
    const publishers = [await open(backend, { username: publisherUser, password: "pw" }), await open(backend, { username: publisherUser, password: "pw" })];
    const subscribers = [await open(backend, { username: subscriberUser, password: "pw" }), await open(backend, { username: subscriberUser, password: "pw" })];
    for (const [i, { session }] of publishers.entries()) {
      expect(await session.publish({ topic: uniqueName("t"), payload: new Uint8Array([i]), qos: 1, retain: false, dup: false })).toBeUndefined();
    }
    for (const { session } of subscribers) expect(await session.subscribe([{ filter: uniqueName("t"), qos: 1 }])).toEqual([{ ok: true }]);
    expect([backend.connectionCount("/", publisherUser, "publish"), backend.connectionCount("/", publisherUser)]).toEqual([1, 1]);
    expect([backend.connectionCount("/", subscriberUser, "consume"), backend.connectionCount("/", subscriberUser)]).toEqual([1, 1]);
    expect((await connectionsOf(publisherUser)).length).toBe(1);
    expect((await connectionsOf(subscriberUser)).length).toBe(1);
    // The first publish of any client of a user (e.g. a will at close) opens its publish connection.
    expect(await subscribers[0]!.session.publish({ topic: uniqueName("will"), payload: new Uint8Array(), qos: 1, retain: false, dup: false })).toBeUndefined();
    expect(backend.connectionCount("/", subscriberUser)).toBe(2);
    for (const { session } of [...publishers, ...subscribers]) await session.close({ clean: true });
  });

  test("a connection left without sessions is closed after idleConnectionMs; the next client opens one again", async () => {
    const user = await addUser();
    const backend = makeBackend({ idleConnectionMs: 300 });
    const { session } = await open(backend, { username: user, password: "pw" });
    await session.publish({ topic: uniqueName("t"), payload: new Uint8Array(), qos: 1, retain: false, dup: false });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(backend.connectionCount("/", user)).toBe(1); // in use: stays
    await session.close({ clean: true });
    await waitFor("the idle connection closed", async () => (await connectionsOf(user)).length === 0);
    expect(backend.connectionCount("/", user)).toBe(0);
    const again = await open(backend, { username: user, password: "pw" });
    expect(await again.session.publish({ topic: uniqueName("t"), payload: new Uint8Array(), qos: 1, retain: false, dup: false })).toBeUndefined();
  });

  test("a client that only connects and publishes creates no queue and no consumer", async () => {
    const user = await addUser();
    const backend = makeBackend();
    const { session, request } = await open(backend, { username: user, password: "pw", cleanSession: false });
    expect(await session.publish({ topic: uniqueName("t"), payload: new Uint8Array(), qos: 1, retain: false, dup: false })).toBeUndefined();
    expect(backend.connectionCount("/", user, "consume")).toBe(0);
    expect((await listQueues()).some((r) => r.name.includes(request.clientId))).toBe(false);
    const consumers = await rabbitmqctlJson<Array<{ queue_name: string }>>("list_consumers", "-p", "/", "queue_name");
    expect(consumers.some((c) => c.queue_name.includes(request.clientId))).toBe(false);
  });
});

describe("authentication cache", () => {
  test("a success is reused for authCacheTtlMs, keyed by the password; a wrong password is always checked", async () => {
    const user = await addUser();
    const backend = makeBackend({ authCacheTtlMs: 1_500 });
    const connectAs = (password: string) => backend.connect(makeRequest({ username: user, password }), recorder().events);
    expect((await connectAs("pw")).ok).toBe(true);
    await rabbitmqctl("change_password", user, "new-pw");
    expect((await connectAs("pw")).ok).toBe(true); // cached: RabbitMQ was not asked
    expect(await connectAs("nope")).toMatchObject({ ok: false, error: { kind: "bad-credentials" } });
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    expect(await connectAs("pw")).toMatchObject({ ok: false, error: { kind: "bad-credentials" } });
    expect((await connectAs("new-pw")).ok).toBe(true);
  });
});

describe("failures", () => {
  test("no read permission on a stored, non-empty session queue: refused at connect, nobody else disturbed", async () => {
    const victimId = uniqueName("victim");
    const level = uniqueName("t");
    const user = await addUser([".*", ".*", `^(?!mqtt-subscription-${victimId}).*`]);
    const amqp = await openAmqp({ confirm: true });
    try {
      await amqp.channel.assertQueue(`mqtt-subscription-${victimId}qos1`, { durable: true });
      amqp.channel.sendToQueue(`mqtt-subscription-${victimId}qos1`, Buffer.from("stored"));
      await amqp.channel.waitForConfirms();
    } finally {
      await amqp.close();
    }
    const backend = makeBackend();
    const other = await open(backend, { username: user, password: "pw" });
    await other.session.subscribe([{ filter: level, qos: 1 }]);
    await publishAsGuest(level, "m1");
    await waitFor("m1", () => other.deliveries.length === 1);

    const refused = await backend.connect(makeRequest({ username: user, password: "pw", clientId: victimId, cleanSession: false }), recorder().events);
    expect(refused).toMatchObject({ ok: false, error: { kind: "not-authorised", amqpReplyCode: 403 } });

    other.session.settle(other.deliveries[0]!.tag);
    await publishAsGuest(level, "m2");
    await waitFor("m2", () => other.deliveries.length === 2);
    expect(other.deliveries.map((d) => d.redelivered)).toEqual([false, false]);
    const rows = await rabbitmqctlJson<Array<{ name: string; messages: number }>>("list_queues", "-p", "/", "name", "messages");
    expect(rows.find((r) => r.name === `mqtt-subscription-${victimId}qos1`)?.messages).toBe(1);
    await rabbitmqctl("delete_queue", "-p", "/", `mqtt-subscription-${victimId}qos1`);
  });

  test("shared consumer channel: a refused consume is the caller's error; other consumers are re-registered, stale tags never acked", async () => {
    const amqp = await openAmqp({ confirm: true });
    const queue = uniqueName("q");
    await amqp.channel.assertQueue(queue, { durable: false });
    const model = await amqplib.connect(await rabbitmqUrl());
    const warnings: string[] = [];
    const consumers = new ConsumerChannel(model, 10, (m) => warnings.push(m));
    try {
      const received: Array<{ body: string; redelivered: boolean; tag: DeliveryTagRef }> = [];
      const cancelled: BackendError[] = [];
      const registration = {
        queue,
        onMessage: (m: ConsumeMessage, tag: DeliveryTagRef) => received.push({ body: m.content.toString(), redelivered: m.fields.redelivered, tag }),
        onCancelled: (e: BackendError) => cancelled.push(e),
      };
      expect(await consumers.consume(registration)).toBeUndefined();
      amqp.channel.sendToQueue(queue, Buffer.from("m1"));
      await amqp.channel.waitForConfirms();
      await waitFor("m1", () => received.length === 1);

      const refused = await consumers.consume({ queue: uniqueName("missing"), onMessage: () => {}, onCancelled: () => {} });
      expect(refused).toMatchObject({ kind: "not-found", amqpReplyCode: 404 });
      await waitFor("m1 again on the new channel", () => received.length === 2);
      expect(received[1]).toMatchObject({ body: "m1", redelivered: true });
      consumers.ack(received[0]!.tag); // stale: from the closed channel, must not be sent
      consumers.ack(received[1]!.tag);
      consumers.ack(received[1]!.tag); // twice: must not be sent twice (406 would close the channel)
      amqp.channel.sendToQueue(queue, Buffer.from("m2"));
      await amqp.channel.waitForConfirms();
      await waitFor("m2", () => received.length === 3);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(received.map((r) => r.body)).toEqual(["m1", "m1", "m2"]);
      expect(cancelled).toEqual([]);
      expect(warnings.length).toBe(1); // one channel replacement, no second one from a bad ack
    } finally {
      consumers.close();
      await model.close().catch(() => {});
      await amqp.channel.deleteQueue(queue);
      await amqp.close();
    }
  });

  test("acks out of order, with rejects between them, leave nothing unacked and close no channel (multiple acks batched per turn)", async () => {
    const amqp = await openAmqp({ confirm: true });
    const queue = uniqueName("q");
    await amqp.channel.assertQueue(queue, { durable: false });
    const model = await amqplib.connect(await rabbitmqUrl());
    const warnings: string[] = [];
    const consumers = new ConsumerChannel(model, 0, (m) => warnings.push(m));
    try {
      const received: Array<{ body: string; tag: DeliveryTagRef }> = [];
      const registration = {
        queue,
        onMessage: (m: ConsumeMessage, tag: DeliveryTagRef) => received.push({ body: m.content.toString(), tag }),
        onCancelled: () => {},
      };
      expect(await consumers.consume(registration)).toBeUndefined();
      for (let i = 0; i < 40; i++) amqp.channel.sendToQueue(queue, Buffer.from(`m${i}`));
      await amqp.channel.waitForConfirms();
      await waitFor("40 deliveries", () => received.length === 40);
      // Pairs swapped (1,0,3,2,…) in separate turns; every 10th goes back to the queue instead.
      for (let i = 0; i < 40; i += 2) {
        for (const j of [i + 1, i]) {
          if (j % 10 === 9) consumers.requeue(received[j]!.tag);
          else consumers.ack(received[j]!.tag);
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await waitFor("the 4 requeued ones again", () => received.length === 44);
      for (const { tag } of received.slice(40)) consumers.ack(tag);
      await waitFor("nothing left in the queue", async () => {
        const rows = await rabbitmqctlJson<Array<{ name: string; messages: number }>>("list_queues", "-p", "/", "name", "messages");
        return rows.find((r) => r.name === queue)?.messages === 0;
      });
      expect(received.slice(40).map((r) => r.body).sort()).toEqual(["m19", "m29", "m39", "m9"]);
      expect(warnings).toEqual([]); // no 406 for an unknown or twice-acked tag: the channel was never replaced
    } finally {
      consumers.close();
      await model.close().catch(() => {});
      await amqp.channel.deleteQueue(queue);
      await amqp.close();
    }
  });

  test("a lost connection ends its sessions once with unavailable; the next client reconnects the pool", async () => {
    const user = await addUser();
    const backend = makeBackend();
    const a = await open(backend, { username: user, password: "pw" });
    const b = await open(backend, { username: user, password: "pw" });
    await a.session.subscribe([{ filter: uniqueName("t"), qos: 1 }]);
    for (const pid of await connectionPidsOf(user)) await rabbitmqctl("close_connection", pid, "test: simulated loss");
    await waitFor("both sessions lost", () => a.lost.length === 1 && b.lost.length === 1);
    expect(a.lost[0]!.kind).toBe("unavailable");
    expect(a.lost[0]!.message).toContain("simulated loss");
    expect(await b.session.publish({ topic: "x", payload: new Uint8Array(), qos: 1, retain: false, dup: false })).toMatchObject({ kind: "unavailable" });
    await a.session.close({ clean: true }); // safe after lost
    const c = await open(backend, { username: user, password: "pw" });
    expect(await c.session.publish({ topic: uniqueName("t"), payload: new Uint8Array(), qos: 1, retain: false, dup: false })).toBeUndefined();
    expect(backend.connectionCount("/", user)).toBe(1);
  });

  test("broker restart mid-stream: every confirmed QoS 1 publish reaches the persistent session afterwards", async () => {
    const backend = makeBackend();
    const clientId = uniqueName("c");
    const level = uniqueName("t");
    const sub = await open(backend, { clientId, cleanSession: false });
    await sub.session.subscribe([{ filter: level, qos: 1 }]);
    await sub.session.close({ clean: false });

    const pub = await open(backend);
    const confirmed = new Set<string>();
    let failures = 0;
    let next = 0;
    const publisher = async () => {
      while (failures === 0) {
        const body = String(next++);
        const refused = await pub.session.publish({ topic: level, payload: new TextEncoder().encode(body), qos: 1, retain: false, dup: false });
        if (refused === undefined) confirmed.add(body);
        else failures++;
      }
    };
    const publishing = Promise.all(Array.from({ length: 8 }, publisher));
    await waitFor("a few hundred confirms", () => confirmed.size >= 300);
    await rabbitmqctl("stop_app");
    try {
      await publishing; // every publisher stops at its first failure (connection lost)
      expect(pub.lost.map((e) => e.kind)).toEqual(["unavailable"]);
    } finally {
      await rabbitmqctl("start_app");
    }
    let again: Awaited<ReturnType<typeof open>> | undefined;
    await waitFor(
      "the broker back",
      async () => {
        again = await open(backend, { clientId, cleanSession: false }).catch(() => undefined);
        return again !== undefined;
      },
      30_000,
    );
    const received = new Set<string>();
    await waitFor(
      "every confirmed message",
      () => {
        for (const d of again!.deliveries.splice(0)) {
          received.add(new TextDecoder().decode(d.payload));
          again!.session.settle(d.tag);
        }
        return [...confirmed].every((body) => received.has(body));
      },
      15_000,
    );
    expect(again!.sessionPresent).toBe(true);
    await again!.session.close({ clean: true });
  }, 90_000);

  test("connection.blocked (memory alarm) holds publishes until unblocked; acks of the same user reach RabbitMQ meanwhile", async () => {
    const backend = makeBackend();
    const { session, blocked } = await open(backend);
    const subscriber = await open(backend);
    const level = uniqueName("t");
    expect(await subscriber.session.subscribe([{ filter: level, qos: 1 }])).toEqual([{ ok: true }]);
    await session.publish({ topic: level, payload: new Uint8Array(), qos: 1, retain: false, dup: false });
    await waitFor("the delivery before the alarm", () => subscriber.deliveries.length === 1);
    await rabbitmqctl("set_vm_memory_high_watermark", "0.000001");
    try {
      let confirmed = false;
      const held = session.publish({ topic: uniqueName("t"), payload: new Uint8Array([1]), qos: 1, retain: false, dup: false }).then((r) => {
        confirmed = true;
        return r;
      });
      await waitFor("publishBlocked(true)", () => blocked.includes(true));
      expect(confirmed).toBe(false);
      expect(subscriber.blocked).toEqual([true]); // every session of the user hears it (only its PUBLISHes would wait)
      // Only the publish connection is blocked: the ack travels on the consume connection.
      // (Connects and SUBSCRIBEs during the alarm: backend-contract.test.ts.)
      subscriber.session.settle(subscriber.deliveries[0]!.tag);
      await waitFor("the ack taken by RabbitMQ during the alarm", async () => {
        const rows = await rabbitmqctlJson<Array<{ name: string; messages_unacknowledged: number }>>("list_queues", "-p", "/", "name", "messages_unacknowledged");
        return rows.find((r) => r.name === `mqtt-subscription-${subscriber.request.clientId}qos1`)?.messages_unacknowledged === 0;
      });
      await rabbitmqctl("set_vm_memory_high_watermark", "0.4");
      expect(await held).toBeUndefined();
      await waitFor("publishBlocked(false)", () => blocked.at(-1) === false);
      expect(blocked).toEqual([true, false]);
    } finally {
      await rabbitmqctl("set_vm_memory_high_watermark", "0.4");
    }
  }, 30_000);
});
