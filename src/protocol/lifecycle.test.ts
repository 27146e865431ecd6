import { describe, expect, test } from "bun:test";
import type { Will } from "../codec/index.ts";
import { TestWorld, hex, settle, text } from "./test-support.ts";

const enc = new TextEncoder();
const WILL: Will = { topic: "status/w", payload: enc.encode("offline"), qos: 1, retain: true };

/** A world with an AMQP queue collecting wills (`status.#`). */
function willWorld(): TestWorld {
  const world = new TestWorld();
  world.broker.declareQueue("/", "wills");
  world.broker.bindQueue("/", "wills", "amq.topic", "status.#");
  return world;
}
const wills = (world: TestWorld) => world.broker.takeMessages("/", "wills").map((m) => `${m.routingKey}=${text(m.payload)}`);

describe("keepalive", () => {
  test("PINGREQ is answered with PINGRESP [MQTT-3.12.4-1]", async () => {
    const world = new TestWorld();
    const client = await world.connected();
    client.sendBytes("c000");
    expect(hex(client.takeBytes())).toBe("d000");
  });

  test("closes at 1.5 × keepalive without a packet and publishes the will [MQTT-3.1.2-24]", async () => {
    const world = willWorld();
    const client = await world.connected({ clientId: "ka", keepaliveSeconds: 10, will: WILL });
    world.nowMs += 14_000;
    client.sendBytes("c000"); // a packet resets the clock
    world.nowMs += 15_000;
    client.connection.checkTimeouts(world.nowMs);
    expect(client.transport.closed).toBe(false);
    world.nowMs += 1;
    client.connection.checkTimeouts(world.nowMs);
    await client.closed();
    expect(wills(world)).toEqual(["status.w=offline"]);
    expect(world.broker.published.at(-1)).toMatchObject({ deliveryMode: 2, headers: { "x-mqtt-publish-qos": 1 } });
    expect(world.logLines("[MQTT-3.1.2-24]").length).toBe(1);
  });

  test("keepalive 0 never expires", async () => {
    const world = new TestWorld();
    const client = await world.connected({ keepaliveSeconds: 0 });
    world.nowMs += 1e9;
    client.connection.checkTimeouts(world.nowMs);
    expect(client.transport.closed).toBe(false);
  });

  test("a client we stopped reading (it published while the broker was blocked) is not timed out for our silence", async () => {
    const world = new TestWorld();
    const client = await world.connected({ keepaliveSeconds: 1 });
    world.broker.setBlocked(true);
    client.publish("a", "waits", 1, 1);
    await settle();
    expect(client.transport.readingPaused).toBe(true);
    world.nowMs += 5_000;
    client.connection.checkTimeouts(world.nowMs);
    expect(client.transport.closed).toBe(false);
    world.broker.setBlocked(false);
    expect(client.transport.readingPaused).toBe(false);
  });
});

describe("last will", () => {
  test("is not published after DISCONNECT [MQTT-3.14.4-3]; the connection closes", async () => {
    const world = willWorld();
    const client = await world.connected({ clientId: "bye", will: WILL });
    client.sendBytes("e000");
    await client.closed();
    expect(wills(world)).toEqual([]);
    expect(world.logLines("its will is discarded [MQTT-3.14.4-3]").length).toBe(1);
    expect(world.logLines("closing MQTT connection").length).toBe(0); // one line per close, none for this one
  });

  test("is published when the client goes away without DISCONNECT [MQTT-3.1.2-8]", async () => {
    const world = willWorld();
    const client = await world.connected({ clientId: "gone", will: WILL });
    client.connection.onClose(new Error("ECONNRESET"));
    await settle();
    expect(wills(world)).toEqual(["status.w=offline"]);
    expect(world.logLines("ECONNRESET").length).toBe(1);
  });

  test("is published on a protocol violation, before the backend session closes", async () => {
    const world = willWorld();
    const client = await world.connected({ clientId: "bad", will: WILL });
    client.sendBytes("f000"); // reserved packet type 15 in 3.1.1
    await client.closed();
    expect(wills(world)).toEqual(["status.w=offline"]);
    expect(world.backend.sessionCount).toBe(0);
  });

  test("is not published on server shutdown (documented decision)", async () => {
    const world = willWorld();
    const client = await world.connected({ clientId: "shut", will: WILL });
    await client.connection.shutdown();
    expect(client.transport.closed).toBe(true);
    expect(wills(world)).toEqual([]);
    expect(world.backend.sessionCount).toBe(0);
  });

  test("a will the broker refuses is logged, and the close still completes", async () => {
    const world = willWorld();
    world.broker.users.addUser("dan", "pw");
    world.broker.users.setPermissions("dan", "/", { configure: ".*", write: ".*", read: ".*" });
    world.broker.users.setTopicPermissions("dan", "/", "amq.topic", { write: "^ok\\.", read: ".*" });
    const client = await world.connected({ clientId: "dan-1", username: "dan", password: enc.encode("pw"), will: WILL });
    client.connection.onClose();
    await settle();
    expect(world.logLines("was not published").length).toBe(1);
    expect(world.backend.sessionCount).toBe(0);
    expect(world.registry.size).toBe(0);
  });
});

describe("sessions and the broker", () => {
  test("a clean session leaves nothing behind", async () => {
    const world = new TestWorld();
    const client = await world.connected({ clientId: "clean" });
    client.subscribe(1, ["c/#", 1]);
    await settle();
    expect(world.broker.queueNames("/")).toContain("mqtt-subscription-cleanqos1");
    client.sendBytes("e000");
    await client.closed();
    expect(world.broker.queueNames("/")).not.toContain("mqtt-subscription-cleanqos1");
    expect(world.registry.size).toBe(0);
    expect(world.sessionStore.size).toBe(0);
  });

  test("a persistent session reports session present and gets what was published while away", async () => {
    const world = new TestWorld();
    const first = await world.connected({ clientId: "away", cleanSession: false });
    first.subscribe(1, ["news", 1]);
    await settle();
    first.sendBytes("e000");
    await first.closed();
    world.broker.publish({ routingKey: "news", payload: "while away", headers: { "x-mqtt-publish-qos": 1 } });
    const second = world.client();
    second.connect({ clientId: "away", cleanSession: false });
    await settle();
    const bytes = hex(second.takeBytes());
    expect(bytes.startsWith("20020100")).toBe(true); // CONNACK first [MQTT-3.2.0-1], session present
    expect(bytes).toContain(hex(enc.encode("while away")));
  });

  test("losing the broker closes the connection without the will (not the client's failure, like shutdown)", async () => {
    const world = willWorld();
    const client = await world.connected({ clientId: "lost", will: WILL });
    world.broker.loseConnections();
    await client.closed();
    expect(world.logLines("the RabbitMQ side of the session is gone").length).toBe(1);
    expect(world.logLines("its will is not published (losing RabbitMQ is not a failure of the client)").length).toBe(1);
    expect(world.logLines("was not published").length).toBe(0); // no attempt at all
  });
});

describe("bad input", () => {
  test("malformed packets close only their own connection, with one log line each", async () => {
    const world = new TestWorld();
    const good = await world.connected({ clientId: "good" });
    const bad = await world.connected({ clientId: "bad" });
    bad.sendBytes("82020001"); // SUBSCRIBE without any topic filter [MQTT-3.8.3-3]
    await bad.closed();
    expect(world.logLines("<conn 2 client bad> closing MQTT connection").length).toBe(1);
    good.sendBytes("c000");
    expect(hex(good.takeBytes())).toBe("d000");
  });

  test("random bytes never throw out of onData, before or after CONNECT", async () => {
    const world = new TestWorld();
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 300; i++) {
      const client = i % 2 === 0 ? world.client() : await world.connected({ clientId: `r${i}` });
      const bytes = Uint8Array.from({ length: 1 + (random() % 40) }, random);
      expect(() => client.sendBytes(bytes)).not.toThrow();
      expect(() => client.connection.checkTimeouts(world.nowMs)).not.toThrow();
    }
    await settle(5);
    expect(world.logLines("unexpected error").length).toBe(0);
  });
});
