/**
 * The backend contract: ONE suite, run against the memory fake and against the AMQP backend on a
 * real RabbitMQ, so the fake protocol tests rely on cannot drift from the real thing. What is
 * only about RabbitMQ (queue arguments as rabbitmqctl shows them, connection sharing) is in
 * backend-amqp.test.ts.
 */
import { afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Backend, BackendError, ConnectRequest, Delivery, SessionEvents } from "../../src/backend/backend.ts";
import { ensureRabbitmq, uniqueName } from "../support/broker.ts";
import { amqpWorld, memoryWorld, type World } from "./backend-worlds.ts";

await ensureRabbitmq();
// rabbitmqctl takes seconds per call on a busy 2-core machine: give tests and hooks room.
setDefaultTimeout(60_000);

/** What a session told its MQTT connection. */
function recorder() {
  const deliveries: Delivery[] = [];
  const lost: BackendError[] = [];
  const blocked: boolean[] = [];
  const events: SessionEvents = {
    deliver: (d) => deliveries.push(d),
    lost: (e) => lost.push(e),
    publishBlocked: (b) => blocked.push(b),
  };
  return { events, deliveries, lost, blocked };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Gives the broker time to deliver anything more (used only to check that nothing MORE arrives). */
const settleTime = () => new Promise((resolve) => setTimeout(resolve, 150));
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (payload: Uint8Array) => new TextDecoder().decode(payload);

function backendContract(makeWorld: () => Promise<World>) {
  let world: World;
  beforeAll(async () => {
    world = await makeWorld();
  });
  afterEach(async () => {
    await world.cleanup();
  });

  const request = (overrides: Partial<ConnectRequest> = {}): ConnectRequest => ({
    clientId: uniqueName("c"),
    username: "guest",
    password: "guest",
    vhost: "/",
    cleanSession: true,
    peer: "127.0.0.1:1",
    connectionId: uniqueName("conn"),
    ...overrides,
  });

  async function open(backend: Backend, overrides: Partial<ConnectRequest> = {}) {
    const rec = recorder();
    const req = request(overrides);
    const outcome = await backend.connect(req, rec.events);
    if (!outcome.ok) throw new Error(`connect refused: ${outcome.error.kind}: ${outcome.error.message}`);
    return { ...rec, request: req, session: outcome.session, sessionPresent: outcome.sessionPresent };
  }

  describe("connect and authentication", () => {
    test("accepts a user with valid credentials and permissions", async () => {
      const user = uniqueName("u");
      await world.addUser(user, "pw", "/");
      const { sessionPresent } = await open(world.backend(), { username: user, password: "pw" });
      expect(sessionPresent).toBe(false);
    });

    test("a wrong password is bad-credentials (CONNACK 4), with RabbitMQ's 403", async () => {
      const user = uniqueName("u");
      await world.addUser(user, "pw", "/");
      const outcome = await world.backend().connect(request({ username: user, password: "wrong" }), recorder().events);
      expect(outcome).toMatchObject({ ok: false, error: { kind: "bad-credentials", amqpReplyCode: 403 } });
    });

    test("a vhost the user may not access is not-authorised (CONNACK 5), 530", async () => {
      const user = uniqueName("u");
      const vhost = uniqueName("vh");
      await world.addVhost(vhost);
      await world.addUser(user, "pw", "/");
      const outcome = await world.backend().connect(request({ username: user, password: "pw", vhost }), recorder().events);
      expect(outcome).toMatchObject({ ok: false, error: { kind: "not-authorised", amqpReplyCode: 530 } });
      expect(outcome.ok === false && outcome.error.message).toContain(vhost);
    });

    test("an unreachable broker is unavailable (CONNACK 3)", async () => {
      const outcome = await world.unreachableBackend().connect(request(), recorder().events);
      expect(outcome).toMatchObject({ ok: false, error: { kind: "unavailable" } });
    });
  });

  describe("MQTT → AMQP publish", () => {
    test("QoS 1 resolves after the confirm and reaches an AMQP queue bound to the translated key, with the contract's headers", async () => {
      const level = uniqueName("t");
      const tap = await world.tap("/", `${level}.#`);
      const { session } = await open(world.backend());
      const payload = bytes("hello");
      const confirmed = session.publish({ topic: `${level}/a.b/c`, payload, qos: 1, retain: false, dup: true });
      payload.fill(0); // the caller reuses its buffer right away: the backend must not depend on it
      expect(await confirmed).toBeUndefined();
      const message = await tap.next();
      expect(message.routingKey).toBe(`${level}.a/b.c`);
      expect(text(message.payload)).toBe("hello");
      expect(message.deliveryMode).toBe(2);
      expect(message.headers).toMatchObject({ "x-mqtt-publish-qos": 1, "x-mqtt-dup": true });
    });

    test("QoS 0 is transient (delivery mode 1) with x-mqtt-publish-qos 0", async () => {
      const level = uniqueName("t");
      const tap = await world.tap("/", level);
      const { session } = await open(world.backend());
      expect(await session.publish({ topic: level, payload: bytes("q0"), qos: 0, retain: false, dup: false })).toBeUndefined();
      const message = await tap.next();
      expect(message).toMatchObject({ deliveryMode: 1, headers: { "x-mqtt-publish-qos": 0, "x-mqtt-dup": false } });
    });

    test("a client that only publishes gets no queue (lazy allocation)", async () => {
      const { session, request: req } = await open(world.backend(), { cleanSession: false });
      await session.publish({ topic: uniqueName("t"), payload: bytes("x"), qos: 1, retain: false, dup: false });
      expect(await world.queue("/", `mqtt-subscription-${req.clientId}qos1`)).toBeUndefined();
    });
  });

  describe("AMQP → MQTT delivery", () => {
    test("reaches a subscriber with the reverse-translated topic and the publisher's QoS (1 when absent)", async () => {
      const level = uniqueName("t");
      const { session, deliveries } = await open(world.backend());
      expect(await session.subscribe([{ filter: `${level}/+`, qos: 1 }])).toEqual([{ ok: true }]);
      await world.publish("/", `${level}.x/y`, "from-amqp");
      await world.publish("/", `${level}.q0`, "qos0", { "x-mqtt-publish-qos": 0 });
      await waitFor("two deliveries", () => deliveries.length === 2);
      expect(deliveries.map((d) => [d.topic, d.routingKey, d.messageQos, d.redelivered, text(d.payload)])).toEqual([
        [`${level}/x.y`, `${level}.x/y`, 1, false, "from-amqp"],
        [`${level}/q0`, `${level}.q0`, 0, false, "qos0"],
      ]);
    });

    test("overlapping subscriptions deliver one copy", async () => {
      const level = uniqueName("t");
      const { session, deliveries } = await open(world.backend());
      await session.subscribe([{ filter: `${level}/#`, qos: 1 }, { filter: `${level}/+/c`, qos: 1 }]);
      await world.publish("/", `${level}.b.c`, "once");
      await waitFor("a delivery", () => deliveries.length === 1);
      await settleTime();
      expect(deliveries.length).toBe(1);
    });

    test("MQTT → MQTT keeps topics with dots and wildcards in the middle (AMQP semantics)", async () => {
      const level = uniqueName("t");
      const backend = world.backend();
      const sub = await open(backend);
      await sub.session.subscribe([{ filter: `${level}/#/end`, qos: 1 }]);
      const pub = await open(backend);
      await pub.session.publish({ topic: `${level}/v1.2/x/end`, payload: bytes("p"), qos: 1, retain: false, dup: false });
      await waitFor("a delivery", () => sub.deliveries.length === 1);
      expect(sub.deliveries[0]!.topic).toBe(`${level}/v1.2/x/end`);
    });

    test("unsubscribe stops delivery for that filter", async () => {
      const level = uniqueName("t");
      const { session, deliveries } = await open(world.backend());
      await session.subscribe([{ filter: `${level}/a`, qos: 1 }, { filter: `${level}/b`, qos: 1 }]);
      expect(await session.unsubscribe([`${level}/a`, `${level}/never`])).toBeUndefined();
      await world.publish("/", `${level}.a`, "a");
      await world.publish("/", `${level}.b`, "b");
      await waitFor("a delivery", () => deliveries.length === 1);
      await settleTime();
      expect(deliveries.map((d) => d.topic)).toEqual([`${level}/b`]);
    });

    test("prefetch bounds unsettled deliveries; settling admits the next", async () => {
      const level = uniqueName("t");
      const { session, deliveries } = await open(world.backend({ prefetch: 3 }));
      await session.subscribe([{ filter: level, qos: 1 }]);
      for (let i = 0; i < 8; i++) await world.publish("/", level, `m${i}`);
      await waitFor("three deliveries", () => deliveries.length === 3);
      await settleTime();
      expect(deliveries.length).toBe(3);
      session.settle(deliveries[0]!.tag);
      session.settle(deliveries[0]!.tag); // settling twice must be harmless
      session.settle(deliveries[1]!.tag);
      await waitFor("five deliveries", () => deliveries.length === 5);
      await settleTime();
      expect(deliveries.map((d) => text(d.payload))).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    });
  });

  describe("sessions", () => {
    test("non-clean: queue kept with x-expires, sessionPresent, unsettled deliveries redelivered then stored ones", async () => {
      const level = uniqueName("t");
      const clientId = uniqueName("c");
      const backend = world.backend({ subscriptionTtlMs: 600_000 });
      const first = await open(backend, { clientId, cleanSession: false });
      expect(first.sessionPresent).toBe(false);
      await first.session.subscribe([{ filter: level, qos: 1 }]);
      await world.publish("/", level, "m1");
      await world.publish("/", level, "m2");
      await waitFor("two deliveries", () => first.deliveries.length === 2);
      first.session.settle(first.deliveries[0]!.tag); // m1 done; m2 stays unsettled
      await first.session.close({ clean: false });
      const facts = await world.queue("/", `mqtt-subscription-${clientId}qos1`);
      expect(facts).toMatchObject({ durable: true, autoDelete: false, arguments: { "x-expires": 600_000 } });
      await world.publish("/", level, "m3"); // stored while away

      const second = await open(backend, { clientId, cleanSession: false });
      expect(second.sessionPresent).toBe(true);
      await waitFor("two deliveries after reconnect", () => second.deliveries.length === 2);
      await settleTime();
      expect(second.deliveries.map((d) => [text(d.payload), d.redelivered])).toEqual([
        ["m2", true],
        ["m3", false],
      ]);
      first.session.settle(first.deliveries[1]!.tag); // stale tag from the closed session: ignored
      for (const d of second.deliveries) second.session.settle(d.tag);
      await second.session.close({ clean: true });
      expect(await world.queue("/", `mqtt-subscription-${clientId}qos1`)).toBeUndefined();
    });

    test("messages stored while away arrive after reconnect; the first carries redelivered (the read-permission probe)", async () => {
      const level = uniqueName("t");
      const clientId = uniqueName("c");
      const backend = world.backend();
      const first = await open(backend, { clientId, cleanSession: false });
      await first.session.subscribe([{ filter: level, qos: 1 }]);
      await first.session.close({ clean: false });
      await world.publish("/", level, "s1");
      await world.publish("/", level, "s2");
      const second = await open(backend, { clientId, cleanSession: false });
      expect(second.sessionPresent).toBe(true);
      expect(second.deliveries).toEqual([]); // nothing before connect() resolved
      await waitFor("two stored messages", () => second.deliveries.length === 2);
      expect(second.deliveries.map((d) => [text(d.payload), d.redelivered])).toEqual([
        ["s1", true],
        ["s2", false],
      ]);
      await second.session.close({ clean: true });
    });

    test("takeover: onAuthenticated runs before the stored session is read, so the old session's unsettled delivery moves over", async () => {
      const level = uniqueName("t");
      const clientId = uniqueName("c");
      const backend = world.backend();
      const old = await open(backend, { clientId, cleanSession: false });
      await old.session.subscribe([{ filter: level, qos: 1 }]);
      await world.publish("/", level, "in-flight");
      await waitFor("delivery to the old session", () => old.deliveries.length === 1);
      let hookRan = false;
      const next = await open(backend, {
        clientId,
        cleanSession: false,
        onAuthenticated: async () => {
          hookRan = true;
          await old.session.close({ clean: false });
        },
      });
      expect(hookRan).toBe(true);
      expect(next.sessionPresent).toBe(true);
      await waitFor("redelivery to the new session", () => next.deliveries.length === 1);
      expect(next.deliveries[0]).toMatchObject({ topic: level, redelivered: true });
      const refused = await backend.connect(
        request({ password: "wrong", onAuthenticated: async () => void (hookRan = false) }),
        recorder().events,
      );
      expect(refused.ok).toBe(false);
      expect(hookRan).toBe(true); // never called for a client RabbitMQ refused
      await next.session.close({ clean: true });
    });

    test("clean: the queue is auto-delete and removed at close; a clean connect removes a leftover", async () => {
      const clientId = uniqueName("c");
      const backend = world.backend();
      const sticky = await open(backend, { clientId, cleanSession: false });
      await sticky.session.subscribe([{ filter: uniqueName("t"), qos: 1 }]);
      await sticky.session.close({ clean: false });
      expect(await world.queue("/", `mqtt-subscription-${clientId}qos1`)).toBeDefined();

      const clean = await open(backend, { clientId, cleanSession: true });
      expect(clean.sessionPresent).toBe(false);
      expect(await world.queue("/", `mqtt-subscription-${clientId}qos1`)).toBeUndefined();
      await clean.session.subscribe([{ filter: uniqueName("t"), qos: 1 }]);
      expect(await world.queue("/", `mqtt-subscription-${clientId}qos1`)).toMatchObject({ durable: false, autoDelete: true });
      await clean.session.close({ clean: true });
      expect(await world.queue("/", `mqtt-subscription-${clientId}qos1`)).toBeUndefined();
    });

    test("a deleted session queue ends that session with lost, once; others carry on", async () => {
      const backend = world.backend();
      const victim = await open(backend);
      const other = await open(backend);
      const level = uniqueName("t");
      await victim.session.subscribe([{ filter: level, qos: 1 }]);
      await other.session.subscribe([{ filter: level, qos: 1 }]);
      await world.deleteQueue("/", `mqtt-subscription-${victim.request.clientId}qos1`);
      await waitFor("lost", () => victim.lost.length === 1);
      expect(victim.lost[0]!.kind).toBe("not-found");
      await world.publish("/", level, "still");
      await waitFor("delivery to the other session", () => other.deliveries.length === 1);
      expect(other.lost).toEqual([]);
    });
  });

  describe("isolation between sessions of one user (one shared pool)", () => {
    test("a refused bind fails only that filter and does not disturb another session of the same user", async () => {
      const user = uniqueName("u");
      const level = uniqueName("t");
      await world.addUser(user, "pw", "/");
      await world.setTopicPermissions(user, "/", ".*", `^${level}\\.open`);
      const backend = world.backend();
      const other = await open(backend, { username: user, password: "pw" });
      await other.session.subscribe([{ filter: `${level}/open/#`, qos: 1 }]);
      await world.publish("/", `${level}.open.1`, "before");
      await waitFor("first delivery", () => other.deliveries.length === 1);

      const culprit = await open(backend, { username: user, password: "pw" });
      const results = await culprit.session.subscribe([{ filter: `${level}/open/x`, qos: 1 }, { filter: `${level}/secret`, qos: 1 }]);
      expect(results[0]).toEqual({ ok: true });
      expect(results[1]).toMatchObject({ ok: false, error: { kind: "not-authorised", amqpReplyCode: 403 } });

      // The other session's consumer and its unsettled delivery survived: settle it, get more.
      other.session.settle(other.deliveries[0]!.tag);
      await world.publish("/", `${level}.open.2`, "after");
      await waitFor("second delivery", () => other.deliveries.length === 2);
      await settleTime();
      expect(other.deliveries.map((d) => [text(d.payload), d.redelivered])).toEqual([
        ["before", false],
        ["after", false],
      ]);
      expect(other.lost).toEqual([]);
      expect(culprit.lost).toEqual([]);
    });

    test("a refused publish fails only its own session; another session's publishes are confirmed", async () => {
      const user = uniqueName("u");
      const level = uniqueName("t");
      await world.addUser(user, "pw", "/");
      await world.setTopicPermissions(user, "/", `^${level}\\.ok`, ".*");
      const tap = await world.tap("/", `${level}.#`);
      const backend = world.backend();
      const good = await open(backend, { username: user, password: "pw" });
      const bad = await open(backend, { username: user, password: "pw" });
      const publish = (session: typeof good.session, topic: string, qos: 0 | 1) =>
        session.publish({ topic, payload: bytes(topic), qos, retain: false, dup: false });
      const results = await Promise.all([
        publish(good.session, `${level}/ok/1`, 1),
        publish(bad.session, `${level}/denied`, 1),
        publish(good.session, `${level}/ok/2`, 1),
      ]);
      expect(results[0]).toBeUndefined();
      expect(results[1]).toMatchObject({ kind: "not-authorised", amqpReplyCode: 403 });
      expect(results[1]!.message).toContain(`${level}.denied`);
      expect(results[2]).toBeUndefined();
      // Still usable afterwards, both of them.
      expect(await publish(good.session, `${level}/ok/3`, 1)).toBeUndefined();
      expect(await publish(bad.session, `${level}/ok/4`, 1)).toBeUndefined();
      const seen = new Set<string>();
      while (seen.size < 4) seen.add((await tap.next()).routingKey);
      expect([...seen].sort()).toEqual([`${level}.ok.1`, `${level}.ok.2`, `${level}.ok.3`, `${level}.ok.4`]);
      expect(good.lost).toEqual([]);
    });

    test("no read permission on the session queue: every filter of the SUBSCRIBE fails, other sessions carry on", async () => {
      const user = uniqueName("u");
      const level = uniqueName("t");
      const victimId = uniqueName("victim");
      // Read everything except the victim's session queue (PCRE lookahead, as RabbitMQ uses).
      await world.addUser(user, "pw", "/", { configure: ".*", write: ".*", read: `^(?!mqtt-subscription-${victimId}).*` });
      const backend = world.backend();
      const other = await open(backend, { username: user, password: "pw" });
      await other.session.subscribe([{ filter: level, qos: 1 }]);
      await world.publish("/", level, "m1");
      await waitFor("first delivery", () => other.deliveries.length === 1);

      const victim = await open(backend, { username: user, password: "pw", clientId: victimId });
      const results = await victim.session.subscribe([{ filter: `${level}/a`, qos: 1 }, { filter: `${level}/b`, qos: 2 }]);
      expect(results).toMatchObject([
        { ok: false, error: { kind: "not-authorised", amqpReplyCode: 403 } },
        { ok: false, error: { kind: "not-authorised", amqpReplyCode: 403 } },
      ]);
      other.session.settle(other.deliveries[0]!.tag);
      await world.publish("/", level, "m2");
      await waitFor("second delivery", () => other.deliveries.length === 2);
      await settleTime();
      expect(other.deliveries.map((d) => [text(d.payload), d.redelivered])).toEqual([
        ["m1", false],
        ["m2", false],
      ]);
    });

    test("a refused QoS 0 publish ends its session with lost (nobody waits for it)", async () => {
      const user = uniqueName("u");
      await world.addUser(user, "pw", "/");
      await world.setTopicPermissions(user, "/", "^nothing$", ".*");
      const { session, lost } = await open(world.backend(), { username: user, password: "pw" });
      expect(await session.publish({ topic: uniqueName("t"), payload: bytes("x"), qos: 0, retain: false, dup: false })).toBeUndefined();
      await waitFor("lost", () => lost.length === 1);
      expect(lost[0]).toMatchObject({ kind: "not-authorised", amqpReplyCode: 403 });
    });
  });

  describe("resource alarm (connection.blocked)", () => {
    test("only publishes wait: every session is told, a subscriber settles, a new client connects and subscribes; the held publish is confirmed after", async () => {
      const backend = world.backend();
      const level = uniqueName("t");
      const subscriber = await open(backend);
      expect(await subscriber.session.subscribe([{ filter: level, qos: 1 }])).toEqual([{ ok: true }]);
      const publisher = await open(backend);
      await world.publish("/", level, "before");
      await waitFor("the delivery before the alarm", () => subscriber.deliveries.length === 1);
      await world.raiseAlarm();
      try {
        let confirmed = false;
        const held = publisher.session.publish({ topic: level, payload: bytes("during"), qos: 1, retain: false, dup: false }).then((outcome) => {
          confirmed = true;
          return outcome;
        });
        await waitFor("publishBlocked(true) for every session of the user", () => publisher.blocked.includes(true) && subscriber.blocked.includes(true));
        expect(confirmed).toBe(false);
        // What RabbitMQ keeps reading goes on: an ack frees the prefetch window, a login, a SUBSCRIBE.
        subscriber.session.settle(subscriber.deliveries[0]!.tag);
        const late = await open(backend);
        await waitFor("the late session told publishing is blocked", () => late.blocked.includes(true));
        expect(await late.session.subscribe([{ filter: uniqueName("t"), qos: 1 }])).toEqual([{ ok: true }]);
        await world.clearAlarm();
        expect(await held).toBeUndefined();
        await waitFor("publishBlocked(false)", () => publisher.blocked.at(-1) === false && subscriber.blocked.at(-1) === false);
        expect(publisher.blocked).toEqual([true, false]);
        await waitFor("the held publish delivered", () => subscriber.deliveries.length === 2);
        expect(subscriber.deliveries.map((d) => text(d.payload))).toEqual(["before", "during"]);
      } finally {
        await world.clearAlarm();
      }
    });
  });
}

describe("backend contract: memory", () => backendContract(async () => memoryWorld()));
describe("backend contract: amqp (real RabbitMQ)", () => backendContract(amqpWorld));
