import { describe, expect, test } from "bun:test";
import type { BackendError, ConnectRequest, Delivery, SessionEvents } from "../backend.ts";
import { MemoryBackend } from "./index.ts";

/** Records what a session tells its MQTT connection. */
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

function request(overrides: Partial<ConnectRequest> = {}): ConnectRequest {
  return {
    clientId: "c1",
    username: "guest",
    password: "guest",
    vhost: "/",
    cleanSession: true,
    peer: "127.0.0.1:5000",
    connectionId: "1",
    ...overrides,
  };
}

async function open(backend: MemoryBackend, overrides: Partial<ConnectRequest> = {}) {
  const rec = recorder();
  const outcome = await backend.connect(request(overrides), rec.events);
  if (!outcome.ok) throw new Error(outcome.error.message);
  return { ...rec, session: outcome.session, sessionPresent: outcome.sessionPresent };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("memory backend: connect", () => {
  test("bad password is bad-credentials with RabbitMQ's 403 login text", async () => {
    const outcome = await new MemoryBackend().connect(request({ password: "nope" }), recorder().events);
    expect(outcome).toMatchObject({ ok: false, error: { kind: "bad-credentials", amqpReplyCode: 403 } });
  });

  test("a vhost the user has no permissions in is not-authorised (530)", async () => {
    const backend = new MemoryBackend();
    backend.broker.addVhost("other");
    const outcome = await backend.connect(request({ vhost: "other" }), recorder().events);
    expect(outcome).toMatchObject({ ok: false, error: { kind: "not-authorised", amqpReplyCode: 530 } });
  });

  test("an unreachable broker is unavailable", async () => {
    const backend = new MemoryBackend();
    backend.broker.available = false;
    const outcome = await backend.connect(request(), recorder().events);
    expect(outcome).toMatchObject({ ok: false, error: { kind: "unavailable" } });
  });

  test("a publisher-only client gets no queue and no consumer (lazy allocation)", async () => {
    const backend = new MemoryBackend();
    const { session } = await open(backend, { cleanSession: false });
    expect(await session.publish({ topic: "a/b", payload: new Uint8Array([1]), qos: 1, retain: false, dup: false })).toBeUndefined();
    expect(backend.broker.queueNames("/")).toEqual([]);
  });
});

describe("memory backend: publish (MQTT → AMQP)", () => {
  test("routing key, headers, delivery mode and a copy of the payload", async () => {
    const backend = new MemoryBackend();
    backend.broker.declareQueue("/", "tap");
    backend.broker.bindQueue("/", "tap", "amq.topic", "#");
    const { session } = await open(backend);
    const payload = new TextEncoder().encode("hello");
    const pending = session.publish({ topic: "a.b/c", payload, qos: 1, retain: false, dup: true });
    payload[0] = 0; // the caller reuses its buffer: the broker must have copied
    expect(await pending).toBeUndefined();
    await session.publish({ topic: "q0", payload: new Uint8Array(), qos: 0, retain: false, dup: false });
    const [first, second] = backend.broker.takeMessages("/", "tap");
    expect(first).toMatchObject({ routingKey: "a/b.c", deliveryMode: 2, headers: { "x-mqtt-publish-qos": 1, "x-mqtt-dup": true } });
    expect(text(first!.payload)).toBe("hello");
    expect(second).toMatchObject({ routingKey: "q0", deliveryMode: 1, headers: { "x-mqtt-publish-qos": 0, "x-mqtt-dup": false } });
  });

  test("a QoS 1 publish resolves only when the confirm is released", async () => {
    const backend = new MemoryBackend();
    const { session } = await open(backend);
    backend.broker.holdConfirms();
    let resolved = false;
    const pending = session.publish({ topic: "a", payload: new Uint8Array(), qos: 1, retain: false, dup: false }).then((r) => {
      resolved = true;
      return r;
    });
    await tick();
    expect(resolved).toBe(false);
    backend.broker.releaseConfirms();
    expect(await pending).toBeUndefined();
  });

  test("a refused QoS 1 publish resolves with the refusal and leaves the session usable", async () => {
    const backend = new MemoryBackend();
    const { session, lost } = await open(backend);
    backend.broker.users.setTopicPermissions("guest", "/", "amq.topic", { write: "^ok\\.", read: ".*" });
    const refused = await session.publish({ topic: "no/x", payload: new Uint8Array(), qos: 1, retain: false, dup: false });
    expect(refused).toMatchObject({ kind: "not-authorised", amqpReplyCode: 403 });
    expect(refused?.message).toContain("access to topic 'no.x' in exchange 'amq.topic'");
    expect(await session.publish({ topic: "ok/x", payload: new Uint8Array(), qos: 1, retain: false, dup: false })).toBeUndefined();
    expect(lost).toEqual([]);
  });

  test("refusePublish simulates any broker refusal, for the publishes it picks", async () => {
    const backend = new MemoryBackend();
    const { session } = await open(backend);
    backend.broker.refusePublish = (m) =>
      m.routingKey === "bad" ? { kind: "failed", amqpReplyCode: 406, message: "PRECONDITION_FAILED - simulated" } : undefined;
    expect(await session.publish({ topic: "bad", payload: new Uint8Array(), qos: 1, retain: false, dup: false })).toMatchObject({
      amqpReplyCode: 406,
    });
    expect(await session.publish({ topic: "good", payload: new Uint8Array(), qos: 1, retain: false, dup: false })).toBeUndefined();
    expect(backend.broker.published.map((m) => m.routingKey)).toEqual(["good"]);
  });

  test("confirmDelayMs delays QoS 1 confirms but not QoS 0", async () => {
    const backend = new MemoryBackend();
    const { session } = await open(backend);
    backend.broker.confirmDelayMs = 30;
    let confirmed = false;
    const pending = session.publish({ topic: "a", payload: new Uint8Array(), qos: 1, retain: false, dup: false }).then(() => {
      confirmed = true;
    });
    expect(await session.publish({ topic: "a", payload: new Uint8Array(), qos: 0, retain: false, dup: false })).toBeUndefined();
    await tick();
    expect(confirmed).toBe(false);
    await pending;
  });

  test("a refused QoS 0 publish ends the session with lost", async () => {
    const backend = new MemoryBackend();
    const { session, lost } = await open(backend);
    backend.broker.deleteExchange("/", "amq.topic");
    expect(await session.publish({ topic: "a", payload: new Uint8Array(), qos: 0, retain: false, dup: false })).toBeUndefined();
    await tick();
    expect(lost).toMatchObject([{ kind: "not-found", amqpReplyCode: 404 }]);
  });

  test("publishes wait while the broker is blocked, and sessions are told", async () => {
    const backend = new MemoryBackend();
    const { session, blocked } = await open(backend);
    backend.broker.setBlocked(true);
    let resolved = false;
    const pending = session.publish({ topic: "a", payload: new Uint8Array(), qos: 1, retain: false, dup: false }).then(() => {
      resolved = true;
    });
    await tick();
    expect(resolved).toBe(false);
    backend.broker.setBlocked(false);
    await pending;
    expect(blocked).toEqual([true, false]);
  });

  test("while blocked only publishes wait: a new session connects (and is told), subscribes, receives and settles", async () => {
    const backend = new MemoryBackend();
    backend.broker.setBlocked(true);
    const late = await open(backend, { clientId: "late" });
    await tick();
    expect(late.blocked).toEqual([true]);
    expect(await late.session.subscribe([{ filter: "a", qos: 1 }])).toEqual([{ ok: true }]);
    backend.broker.publish({ routingKey: "a", payload: "from AMQP" });
    await tick();
    expect(late.deliveries.map((d) => text(d.payload))).toEqual(["from AMQP"]);
    late.session.settle(late.deliveries[0]!.tag);
    expect(backend.broker.queueInfo("/", "mqtt-subscription-lateqos1")?.messagesUnacknowledged).toBe(0);
    backend.broker.setBlocked(false);
    expect(late.blocked).toEqual([true, false]);
  });
});

describe("memory backend: subscriptions and deliveries", () => {
  test("AMQP publish reaches a subscriber with topic, QoS header and one copy for overlapping filters", async () => {
    const backend = new MemoryBackend();
    const { session, deliveries } = await open(backend);
    expect(await session.subscribe([{ filter: "a/+", qos: 1 }, { filter: "a/#", qos: 0 }])).toEqual([{ ok: true }, { ok: true }]);
    backend.broker.publish({ routingKey: "a.b", payload: "x", headers: { "x-mqtt-publish-qos": 0 } });
    backend.broker.publish({ routingKey: "a.c", payload: "y" });
    await tick();
    expect(deliveries.map((d) => [d.topic, d.messageQos, d.redelivered])).toEqual([
      ["a/b", 0, false],
      ["a/c", 1, false],
    ]);
  });

  test("prefetch bounds unsettled deliveries; settling lets the next one through", async () => {
    const backend = new MemoryBackend({ prefetch: 2 });
    const { session, deliveries } = await open(backend);
    await session.subscribe([{ filter: "t", qos: 1 }]);
    for (let i = 0; i < 5; i++) backend.broker.publish({ routingKey: "t", payload: String(i) });
    await tick();
    expect(deliveries.length).toBe(2);
    session.settle(deliveries[0]!.tag);
    session.settle(deliveries[0]!.tag); // twice: ignored
    await tick();
    expect(deliveries.map((d) => text(d.payload))).toEqual(["0", "1", "2"]);
  });

  test("unsettled deliveries come back redelivered after a non-clean close and reconnect", async () => {
    const backend = new MemoryBackend();
    const first = await open(backend, { cleanSession: false });
    expect(first.sessionPresent).toBe(false);
    await first.session.subscribe([{ filter: "t", qos: 1 }]);
    backend.broker.publish({ routingKey: "t", payload: "m1" });
    await tick();
    expect(first.deliveries.length).toBe(1);
    await first.session.close({ clean: false });
    backend.broker.publish({ routingKey: "t", payload: "m2" }); // stored while away
    const second = await open(backend, { cleanSession: false });
    expect(second.sessionPresent).toBe(true);
    expect(second.deliveries).toEqual([]); // never before connect resolved
    await tick();
    expect(second.deliveries.map((d) => [text(d.payload), d.redelivered])).toEqual([
      ["m1", true],
      ["m2", false],
    ]);
    first.session.settle(first.deliveries[0]!.tag); // a stale tag from the old session: ignored
    expect(backend.broker.queueInfo("/", "mqtt-subscription-c1qos1")).toMatchObject({ durable: true, messagesUnacknowledged: 2 });
  });

  test("clean session: auto-delete queue removed at close; a clean connect deletes a leftover queue", async () => {
    const backend = new MemoryBackend();
    const sticky = await open(backend, { cleanSession: false });
    await sticky.session.subscribe([{ filter: "t", qos: 1 }]);
    await sticky.session.close({ clean: false });
    expect(backend.broker.queueInfo("/", "mqtt-subscription-c1qos1")).toMatchObject({ durable: true, arguments: { "x-expires": 86_400_000 } });
    const clean = await open(backend, { cleanSession: true });
    expect(clean.sessionPresent).toBe(false);
    expect(backend.broker.queueNames("/")).toEqual([]);
    await clean.session.subscribe([{ filter: "t", qos: 1 }]);
    expect(backend.broker.queueInfo("/", "mqtt-subscription-c1qos1")).toMatchObject({ durable: false, autoDelete: true });
    await clean.session.close({ clean: true });
    expect(backend.broker.queueNames("/")).toEqual([]);
  });

  test("a refused filter fails alone; unsubscribe unbinds", async () => {
    const backend = new MemoryBackend();
    backend.broker.users.setTopicPermissions("guest", "/", "amq.topic", { write: ".*", read: "^open\\." });
    const { session, deliveries } = await open(backend);
    const results = await session.subscribe([{ filter: "open/+", qos: 1 }, { filter: "secret/#", qos: 1 }]);
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]).toMatchObject({ ok: false, error: { kind: "not-authorised", amqpReplyCode: 403 } });
    expect(await session.unsubscribe(["open/+", "open/never"])).toBeUndefined();
    backend.broker.publish({ routingKey: "open.x", payload: "x" });
    await tick();
    expect(deliveries).toEqual([]);
  });

  test("a deleted session queue or a lost connection ends the session once", async () => {
    const backend = new MemoryBackend();
    const a = await open(backend, { clientId: "a" });
    const b = await open(backend, { clientId: "b" });
    await a.session.subscribe([{ filter: "t", qos: 1 }]);
    backend.broker.deleteQueue("/", "mqtt-subscription-aqos1");
    expect(a.lost).toMatchObject([{ kind: "not-found" }]);
    expect(b.lost).toEqual([]);
    backend.broker.loseConnections();
    backend.broker.loseConnections();
    expect(a.lost.length).toBe(1);
    expect(b.lost).toMatchObject([{ kind: "unavailable" }]);
    expect(await b.session.publish({ topic: "x", payload: new Uint8Array(), qos: 1, retain: false, dup: false })).toMatchObject({
      kind: "unavailable",
    });
    expect(backend.sessionCount).toBe(0);
  });
});

describe("memory backend: takeover hook", () => {
  test("onAuthenticated runs after login and before the stored session is looked at", async () => {
    const backend = new MemoryBackend();
    const old = await open(backend, { cleanSession: false });
    await old.session.subscribe([{ filter: "t", qos: 1 }]);
    backend.broker.publish({ routingKey: "t", payload: "m" });
    await tick();
    const rec = recorder();
    const outcome = await backend.connect(
      request({ cleanSession: false, onAuthenticated: () => old.session.close({ clean: false }) }),
      rec.events,
    );
    expect(outcome).toMatchObject({ ok: true, sessionPresent: true });
    await tick();
    expect(rec.deliveries.map((d) => [text(d.payload), d.redelivered])).toEqual([["m", true]]);
  });

  test("onAuthenticated is not called for refused credentials", async () => {
    let called = false;
    const outcome = await new MemoryBackend().connect(
      request({ password: "bad", onAuthenticated: async () => void (called = true) }),
      recorder().events,
    );
    expect(outcome.ok).toBe(false);
    expect(called).toBe(false);
  });
});
