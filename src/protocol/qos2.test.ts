import { describe, expect, test } from "bun:test";
import { PacketType, type PublishPacket } from "../codec/index.ts";
import { TestWorld, hex, settle, text, type TestClient } from "./test-support.ts";

const QOS2 = { "x-mqtt-publish-qos": 2 };

/** A connected client subscribed to `filter` at QoS 2, with the SUBACK read. */
async function subscriber(world: TestWorld, clientId: string, cleanSession = true, filter = "q"): Promise<TestClient> {
  const client = await world.connected({ clientId, cleanSession });
  client.subscribe(1, [filter, 2]);
  await settle();
  expect(client.packets()).toMatchObject([{ type: PacketType.Suback, reasonCodes: [2] }]);
  return client;
}

const queueOf = (world: TestWorld, clientId: string) => () => world.broker.queueInfo("/", `mqtt-subscription-${clientId}qos1`)!;

describe("outbound QoS 2: PUBLISH → PUBREC → PUBREL → PUBCOMP", () => {
  test("acked to RabbitMQ only at PUBCOMP; PUBREL answers PUBREC [MQTT-4.3.3-1]", async () => {
    const world = new TestWorld();
    const client = await subscriber(world, "q2");
    const queue = queueOf(world, "q2");
    world.broker.publish({ routingKey: "q", payload: "exactly", headers: QOS2 });
    await settle();
    const [publish] = client.packets() as PublishPacket[];
    expect(publish).toMatchObject({ type: PacketType.Publish, qos: 2, dup: false, retain: false, packetId: 1 });
    expect(text(publish!.payload)).toBe("exactly");
    client.send({ type: PacketType.Pubrec, packetId: 1 });
    expect(hex(client.takeBytes())).toBe("62020001"); // PUBREL, flags 0010 [MQTT-3.6.1-1]
    expect(queue().messagesUnacknowledged).toBe(1);
    client.send({ type: PacketType.Pubrec, packetId: 1 }); // a repeated PUBREC gets PUBREL again
    expect(hex(client.takeBytes())).toBe("62020001");
    client.send({ type: PacketType.Pubcomp, packetId: 1 });
    expect(queue().messagesUnacknowledged).toBe(0);
    expect(queue().messagesReady).toBe(0);
    client.send({ type: PacketType.Pubcomp, packetId: 1 }); // now unknown: ignored
    expect(world.logLines("PUBCOMP for packet id 1, which is not in flight; ignored").length).toBe(1);
    expect(client.transport.closed).toBe(false);
  });

  test("acknowledgements of the wrong kind settle nothing (PUBACK for a QoS 2 id, PUBCOMP before PUBREC)", async () => {
    const world = new TestWorld();
    const client = await subscriber(world, "wrong");
    const queue = queueOf(world, "wrong");
    world.broker.publish({ routingKey: "q", payload: "m", headers: QOS2 });
    await settle();
    client.packets();
    client.send({ type: PacketType.Puback, packetId: 1 });
    client.send({ type: PacketType.Pubcomp, packetId: 1 });
    expect(queue().messagesUnacknowledged).toBe(1);
    expect(world.logLines("which is awaiting pubrec; ignored").length).toBe(2);
  });

  test("the published QoS caps it: a QoS 1 message to a QoS 2 subscription goes out at QoS 1", async () => {
    const world = new TestWorld();
    const client = await subscriber(world, "cap");
    world.broker.publish({ routingKey: "q", payload: "one", headers: { "x-mqtt-publish-qos": 1 } });
    await settle();
    expect(client.packets()).toMatchObject([{ type: PacketType.Publish, qos: 1 }]);
  });

  test("overlapping QoS 0 and QoS 2 filters: one copy, at QoS 2", async () => {
    const world = new TestWorld();
    const client = await world.connected({ clientId: "overlap" });
    client.subscribe(1, ["o/+", 0], ["o/#", 2], ["#", 1]);
    await settle();
    client.packets();
    world.broker.publish({ routingKey: "o.x", payload: "m", headers: QOS2 });
    await settle();
    expect((client.packets() as PublishPacket[]).map((p) => [p.topic, p.qos])).toEqual([["o/x", 2]]);
  });
});

describe("QoS 2 packet-id state survives a reconnect to a persistent session [MQTT-4.4.0-1]", () => {
  test("after PUBREC: the delivery is settled at close (not redelivered), PUBREL is resent with its id", async () => {
    const world = new TestWorld();
    const first = await subscriber(world, "resume", false);
    const queue = queueOf(world, "resume");
    world.broker.publish({ routingKey: "q", payload: "m", headers: QOS2 });
    await settle();
    first.packets();
    first.send({ type: PacketType.Pubrec, packetId: 1 });
    expect(hex(first.takeBytes())).toBe("62020001");
    first.transport.close(); // gone before PUBCOMP
    await first.closed();
    expect(queue().messagesReady + queue().messagesUnacknowledged).toBe(0);

    const second = world.client();
    second.connect({ clientId: "resume", cleanSession: false });
    await settle();
    // CONNACK with Session Present, then the PUBREL again, with the original id.
    expect(hex(second.takeBytes())).toBe("20020100" + "62020001");
    // A new delivery does not take id 1 while it waits for its PUBCOMP.
    world.broker.publish({ routingKey: "q", payload: "next", headers: QOS2 });
    await settle();
    const [next] = second.packets() as PublishPacket[];
    expect(next).toMatchObject({ qos: 2, dup: false });
    expect(next!.packetId).not.toBe(1);
    second.send({ type: PacketType.Pubcomp, packetId: 1 });
    expect(world.sessionStore.get("/", "resume")?.awaitingPubcomp.size).toBe(0);
    expect(queue().messagesUnacknowledged).toBe(1); // "next" still waits for its PUBREC
  });

  test("after PUBREC, an adapter shutdown does not ack it: the state dies with the process, RabbitMQ redelivers", async () => {
    const world = new TestWorld();
    const first = await subscriber(world, "stopping", false);
    const queue = queueOf(world, "stopping");
    world.broker.publish({ routingKey: "q", payload: "m", headers: QOS2 });
    await settle();
    first.packets();
    first.send({ type: PacketType.Pubrec, packetId: 1 });
    await first.connection.shutdown();
    expect(queue().messagesReady).toBe(1);
  });

  test("before PUBREC: RabbitMQ redelivers it, with DUP", async () => {
    const world = new TestWorld();
    const first = await subscriber(world, "redeliver", false);
    world.broker.publish({ routingKey: "q", payload: "m", headers: QOS2 });
    await settle();
    first.packets();
    first.transport.close();
    await first.closed();
    const second = await world.connected({ clientId: "redeliver", cleanSession: false });
    await settle();
    expect(second.packets()).toMatchObject([{ type: PacketType.Publish, qos: 2, dup: true }]);
  });

  test("inbound: a PUBLISH resent with DUP after the reconnect of a publisher-only session is not published again [MQTT-4.3.3-2]", async () => {
    const world = new TestWorld();
    world.broker.declareQueue("/", "tap");
    world.broker.bindQueue("/", "tap", "amq.topic", "#");
    const first = await world.connected({ clientId: "pub2", cleanSession: false });
    first.publish("p", "once", 2, 9);
    await settle();
    expect(hex(first.takeBytes())).toBe("50020009"); // PUBREC
    first.transport.close(); // gone before PUBREL
    await first.closed();

    const second = world.client();
    second.connect({ clientId: "pub2", cleanSession: false });
    await settle();
    expect(hex(second.takeBytes())).toBe("20020100"); // session present: it holds id 9
    second.publish("p", "once", 2, 9, { dup: true });
    await settle();
    expect(hex(second.takeBytes())).toBe("50020009");
    second.send({ type: PacketType.Pubrel, packetId: 9 });
    expect(hex(second.takeBytes())).toBe("70020009");
    expect(world.broker.takeMessages("/", "tap").map((m) => text(m.payload))).toEqual(["once"]);
    expect(world.sessionStore.get("/", "pub2")?.awaitingPubrel.size).toBe(0);
  });

  test("inbound: a QoS 2 publish still unconfirmed when the connection drops is remembered once confirmed", async () => {
    const world = new TestWorld();
    world.broker.declareQueue("/", "tap");
    world.broker.bindQueue("/", "tap", "amq.topic", "#");
    const first = await world.connected({ clientId: "late", cleanSession: false });
    world.broker.holdConfirms();
    first.publish("p", "once", 2, 4);
    await settle();
    first.transport.close();
    await settle();
    world.broker.releaseConfirms();
    await first.closed();
    expect(world.sessionStore.get("/", "late")?.awaitingPubrel.has(4)).toBe(true);
    const second = await world.connected({ clientId: "late", cleanSession: false });
    second.publish("p", "once", 2, 4, { dup: true });
    await settle();
    expect(hex(second.takeBytes())).toBe("50020004");
    expect(world.broker.takeMessages("/", "tap").length).toBe(1);
  });

  test("a clean session forgets the ids: a clean reconnect gets no PUBREL", async () => {
    const world = new TestWorld();
    const first = await subscriber(world, "cleanq2", true);
    world.broker.publish({ routingKey: "q", payload: "m", headers: QOS2 });
    await settle();
    first.packets();
    first.send({ type: PacketType.Pubrec, packetId: 1 });
    first.transport.close();
    await first.closed();
    const second = world.client();
    second.connect({ clientId: "cleanq2", cleanSession: true });
    await settle();
    expect(hex(second.takeBytes())).toBe("20020000");
  });
});
