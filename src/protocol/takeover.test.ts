import { describe, expect, test } from "bun:test";
import { PacketType, type PublishPacket } from "../codec/index.ts";
import { TestWorld, hex, settle, text } from "./test-support.ts";

const enc = new TextEncoder();

describe("client id takeover", () => {
  test("a second connection with the same client id closes the first and publishes its will [MQTT-3.1.4-2] [MQTT-3.1.2-8]", async () => {
    const world = new TestWorld();
    world.broker.declareQueue("/", "wills");
    world.broker.bindQueue("/", "wills", "amq.topic", "status.#");
    const first = await world.connected({ clientId: "dev", will: { topic: "status/dev", payload: enc.encode("offline"), qos: 1, retain: false } });
    const second = world.client();
    second.connect({ clientId: "dev" });
    await first.closed();
    await settle();
    expect(hex(second.takeBytes())).toBe("20020000");
    const wills = world.broker.takeMessages("/", "wills");
    expect(wills.map((m) => [m.routingKey, text(m.payload)])).toEqual([["status.dev", "offline"]]);
    expect(world.registry.lookup("/", "dev")).toBe(second.connection);
    expect(world.logLines("connected with the same client id").length).toBe(1);
  });

  test("the same client id in another vhost does not take over", async () => {
    const world = new TestWorld();
    world.broker.addVhost("other");
    world.broker.users.setPermissions("guest", "other", { configure: ".*", write: ".*", read: ".*" });
    const first = await world.connected({ clientId: "dev", username: "guest", password: enc.encode("guest") });
    await world.connected({ clientId: "dev", username: "other:guest", password: enc.encode("guest") });
    await settle();
    expect(first.transport.closed).toBe(false);
  });

  test("a client that fails to log in does not kick the connected one", async () => {
    const world = new TestWorld();
    const first = await world.connected({ clientId: "dev" });
    const intruder = world.client();
    intruder.connect({ clientId: "dev", username: "guest", password: enc.encode("wrong") });
    await intruder.closed();
    expect(hex(intruder.takeBytes())).toBe("20020004");
    expect(first.transport.closed).toBe(false);
  });

  test("a persistent session taken over gets the unacked delivery again, once, with DUP", async () => {
    const world = new TestWorld();
    const first = await world.connected({ clientId: "sticky", cleanSession: false });
    first.subscribe(1, ["t/#", 1]);
    expect((await first.nextPacket()).type).toBe(PacketType.Suback);
    world.broker.publish({ routingKey: "t.a", payload: "m1", headers: { "x-mqtt-publish-qos": 1 } });
    const delivered = (await first.nextPacket()) as PublishPacket;
    expect(delivered).toMatchObject({ type: PacketType.Publish, qos: 1, dup: false, topic: "t/a" });
    // No PUBACK: the second connection takes over.
    const second = world.client();
    second.connect({ clientId: "sticky", cleanSession: false });
    const connack = await second.nextPacket();
    expect(connack).toMatchObject({ type: PacketType.Connack, sessionPresent: true, reasonCode: 0 });
    const again = (await second.nextPacket()) as PublishPacket;
    expect(again).toMatchObject({ type: PacketType.Publish, qos: 1, dup: true, topic: "t/a" });
    expect(text(again.payload)).toBe("m1");
    await settle();
    expect(second.packets()).toEqual([]);
    expect(first.packets()).toEqual([]);
  });

  test("three connections racing for one client id leave exactly the newest connected", async () => {
    const world = new TestWorld();
    const a = world.client();
    const b = world.client();
    const c = world.client();
    a.connect({ clientId: "race" });
    b.connect({ clientId: "race" });
    c.connect({ clientId: "race" });
    await settle(10);
    expect(world.registry.lookup("/", "race")).toBe(c.connection);
    expect(c.transport.closed).toBe(false);
    expect(a.transport.closed).toBe(true);
    expect(b.transport.closed).toBe(true);
    expect(world.backend.sessionCount).toBe(1);
  });
});
