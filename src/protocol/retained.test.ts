import { describe, expect, test } from "bun:test";
import { PacketType, type Packet, type PublishPacket } from "../codec/index.ts";
import { createMemoryRetainedStore } from "../retained/index.ts";
import { TEST_OPTIONS, TestWorld, hex, settle, text, type TestClient } from "./test-support.ts";

const enc = new TextEncoder();

/** [topic, payload, qos, retain] of the PUBLISHes among `packets`. */
const publishes = (packets: Packet[]) =>
  packets.filter((p): p is PublishPacket => p.type === PacketType.Publish).map((p) => [p.topic, text(p.payload), p.qos, p.retain]);

/** Publishes retained messages through an MQTT client (QoS 1, each PUBACKed) and disconnects it. */
async function retain(world: TestWorld, messages: Array<[topic: string, payload: string, qos?: 0 | 1 | 2]>): Promise<void> {
  const publisher = await world.connected({ clientId: `retainer-${Math.random()}` });
  let id = 1;
  for (const [topic, payload, qos = 1] of messages) publisher.publish(topic, payload, qos, id++, { retain: true });
  await settle(6);
  publisher.sendBytes("e000");
  await publisher.closed();
}

async function subscribed(world: TestWorld, clientId: string, ...filters: Array<[string, 0 | 1 | 2]>): Promise<{ client: TestClient; packets: Packet[] }> {
  const client = await world.connected({ clientId });
  client.subscribe(1, ...filters);
  await settle(6);
  return { client, packets: client.packets() };
}

describe("retained messages", () => {
  test("stored once RabbitMQ took it, sent after the SUBACK with RETAIN 1 to a later subscriber [MQTT-3.3.1-6] [MQTT-3.3.1-8]", async () => {
    const world = new TestWorld();
    await retain(world, [["home/temp", "21", 1]]);
    const { packets } = await subscribed(world, "late", ["home/+", 1]);
    expect(packets[0]?.type).toBe(PacketType.Suback);
    expect(publishes(packets)).toEqual([["home/temp", "21", 1, true]]);
  });

  test("a subscriber that was already there gets it live with RETAIN 0 [MQTT-3.3.1-9]; the message still reaches RabbitMQ", async () => {
    const world = new TestWorld();
    world.broker.declareQueue("/", "tap");
    world.broker.bindQueue("/", "tap", "amq.topic", "#");
    const { client } = await subscribed(world, "early", ["s", 1]);
    await retain(world, [["s", "now"]]);
    expect(publishes(client.packets())).toEqual([["s", "now", 1, false]]);
    expect(world.broker.takeMessages("/", "tap").map((m) => m.routingKey)).toEqual(["s"]);
  });

  test("delivered QoS = min(stored, granted) [MQTT-3.8.4-6]", async () => {
    const world = new TestWorld();
    await retain(world, [["q/0", "a", 0], ["q/1", "b", 1], ["q/2", "c", 2]]);
    const one = await subscribed(world, "g1", ["q/#", 1]);
    expect(publishes(one.packets).sort()).toEqual([["q/0", "a", 0, true], ["q/1", "b", 1, true], ["q/2", "c", 1, true]]);
    const two = await subscribed(world, "g2", ["q/2", 2]);
    expect(publishes(two.packets)).toEqual([["q/2", "c", 2, true]]);
  });

  test("wildcards anywhere, `$` topics not for `#`/`+`-first filters [MQTT-4.7.2-1]", async () => {
    const world = new TestWorld();
    await retain(world, [["a/x/b", "1"], ["a/b", "2"], ["$SYS/up", "3"]]);
    expect(publishes((await subscribed(world, "w1", ["a/#/b", 0])).packets).map((p) => p[0]).sort()).toEqual(["a/b", "a/x/b"]);
    expect(publishes((await subscribed(world, "w2", ["#", 0])).packets).map((p) => p[0]).sort()).toEqual(["a/b", "a/x/b"]);
    expect(publishes((await subscribed(world, "w3", ["$SYS/#", 0])).packets).map((p) => p[0])).toEqual(["$SYS/up"]);
  });

  test("an empty retained payload deletes it [MQTT-3.3.1-10] and is still published [MQTT-3.3.1-11]", async () => {
    const world = new TestWorld();
    world.broker.declareQueue("/", "tap");
    world.broker.bindQueue("/", "tap", "amq.topic", "#");
    await retain(world, [["d", "x"], ["d", ""]]);
    expect(world.broker.takeMessages("/", "tap").map((m) => text(m.payload))).toEqual(["x", ""]);
    expect(publishes((await subscribed(world, "none", ["d", 1])).packets)).toEqual([]);
    expect(world.retainedStore.count).toBe(0);
  });

  test("a retained publish RabbitMQ refuses is not stored, QoS 0 included (it waits for the confirm)", async () => {
    const world = new TestWorld();
    world.broker.users.addUser("eve", "pw");
    world.broker.users.setPermissions("eve", "/", { configure: ".*", write: ".*", read: ".*" });
    world.broker.users.setTopicPermissions("eve", "/", "amq.topic", { write: "^ok\\.", read: ".*" });
    for (const qos of [0, 1] as const) {
      const eve = await world.connected({ clientId: `eve-${qos}`, username: "eve", password: enc.encode("pw") });
      eve.publish("secret/x", "planted", qos, 1, { retain: true });
      await eve.closed();
    }
    expect(world.retainedStore.count).toBe(0);
  });

  test("the store is written before the PUBACK (a client that subscribes after its PUBACK finds it)", async () => {
    const world = new TestWorld();
    const client = await world.connected({ clientId: "self" });
    world.broker.holdConfirms();
    client.publish("mine", "v", 1, 3, { retain: true });
    await settle();
    expect(world.retainedStore.count).toBe(0); // not before RabbitMQ confirmed it
    world.broker.releaseConfirms();
    await settle();
    expect(hex(client.takeBytes())).toBe("40020003");
    expect(world.retainedStore.count).toBe(1);
    client.subscribe(2, ["mine", 1]);
    await settle(6);
    expect(publishes(client.packets())).toEqual([["mine", "v", 1, true]]);
  });

  test("no retained message for a filter RabbitMQ refused (SUBACK 0x80)", async () => {
    const world = new TestWorld();
    await retain(world, [["private/x", "p"], ["public/x", "q"]]);
    world.broker.users.addUser("carol", "pw");
    world.broker.users.setPermissions("carol", "/", { configure: ".*", write: ".*", read: ".*" });
    world.broker.users.setTopicPermissions("carol", "/", "amq.topic", { write: ".*", read: "^public\\." });
    const client = await world.connected({ clientId: "carol-r", username: "carol", password: enc.encode("pw") });
    client.subscribe(1, ["private/+", 1], ["public/+", 1]);
    await settle(6);
    const packets = client.packets();
    expect(packets[0]).toMatchObject({ type: PacketType.Suback, reasonCodes: [0x80, 1] });
    expect(publishes(packets)).toEqual([["public/x", "q", 1, true]]);
  });

  test("every SUBSCRIBE resends them, also for a filter already subscribed [MQTT-3.8.4-3]; one copy per topic per SUBSCRIBE", async () => {
    const world = new TestWorld();
    await retain(world, [["r/a", "1", 2]]);
    const { client, packets } = await subscribed(world, "again", ["r/+", 0], ["r/#", 2]);
    expect(publishes(packets)).toEqual([["r/a", "1", 2, true]]);
    const [first] = packets.filter((p): p is PublishPacket => p.type === PacketType.Publish);
    client.send({ type: PacketType.Pubrec, packetId: first!.packetId! });
    client.send({ type: PacketType.Pubcomp, packetId: first!.packetId! });
    client.packets();
    client.subscribe(2, ["r/+", 1]);
    await settle(6);
    expect(publishes(client.packets())).toEqual([["r/a", "1", 1, true]]);
  });

  test("QoS 1/2 retained messages respect the in-flight window; more follow as they are acknowledged", async () => {
    const world = new TestWorld({ ...TEST_OPTIONS, maxInflightRetained: 3 });
    await retain(world, Array.from({ length: 8 }, (_, i): [string, string, 1] => [`w/${i}`, String(i), 1]));
    const { client, packets } = await subscribed(world, "windowed", ["w/+", 2]);
    let sent = packets.filter((p): p is PublishPacket => p.type === PacketType.Publish);
    expect(sent.length).toBe(3);
    const seen = new Set(sent.map((p) => p.topic));
    while (sent.length > 0) {
      for (const p of sent) client.send({ type: PacketType.Puback, packetId: p.packetId! });
      await settle(4);
      sent = client.packets().filter((p): p is PublishPacket => p.type === PacketType.Publish);
      expect(sent.length).toBeLessThanOrEqual(3);
      for (const p of sent) seen.add(p.topic);
    }
    expect(seen.size).toBe(8);
  });

  test("retained messages still waiting for the window are not sent after an UNSUBSCRIBE of their filter", async () => {
    const world = new TestWorld({ ...TEST_OPTIONS, maxInflightRetained: 1 });
    await retain(world, [["u/1", "1"], ["u/2", "2"], ["u/3", "3"]]);
    const { client, packets } = await subscribed(world, "unsub", ["u/+", 1]);
    const [first] = packets.filter((p): p is PublishPacket => p.type === PacketType.Publish);
    expect(first?.retain).toBe(true);
    client.send({ type: PacketType.Unsubscribe, packetId: 2, topicFilters: ["u/+"] });
    await settle(4);
    client.send({ type: PacketType.Puback, packetId: first!.packetId! });
    await settle(6);
    expect(publishes(client.packets())).toEqual([]);
  });

  test("retained QoS 0 messages wait while the client does not read, and resume on drain", async () => {
    const world = new TestWorld();
    await retain(world, [["z/1", "1", 0], ["z/2", "2", 0], ["z/3", "3", 0]]);
    const client = await world.connected({ clientId: "slowr" });
    client.transport.belowHighWater = false;
    client.subscribe(1, ["z/+", 0]);
    await settle(6);
    expect(publishes(client.packets()).length).toBe(1); // the write that went over the mark
    client.transport.belowHighWater = true;
    client.connection.onDrain();
    await settle(6);
    expect(publishes(client.packets()).length).toBe(2);
  });

  test("a retained QoS 2 message runs the full PUBREC/PUBREL/PUBCOMP flow", async () => {
    const world = new TestWorld();
    await retain(world, [["two", "x", 2]]);
    const { client, packets } = await subscribed(world, "r2", ["two", 2]);
    const [p] = packets.filter((x): x is PublishPacket => x.type === PacketType.Publish);
    expect(p).toMatchObject({ qos: 2, retain: true, packetId: 1 });
    client.send({ type: PacketType.Pubrec, packetId: 1 });
    expect(hex(client.takeBytes())).toBe("62020001");
    client.send({ type: PacketType.Pubcomp, packetId: 1 });
    expect(world.logLines("PUBCOMP for packet id 1").length).toBe(0);
  });

  test("a will with Will Retain is stored [MQTT-3.1.2-17]", async () => {
    const world = new TestWorld();
    const dying = await world.connected({
      clientId: "dying",
      will: { topic: "status/dying", payload: enc.encode("offline"), qos: 0, retain: true },
    });
    dying.transport.close();
    await dying.closed();
    expect(publishes((await subscribed(world, "watcher", ["status/#", 1])).packets)).toEqual([["status/dying", "offline", 0, true]]);
  });

  test("kept across an adapter restart (a new store over the same storage)", async () => {
    const world = new TestWorld();
    await retain(world, [["keep", "me", 1]]);
    world.retainedStore.close();
    world.retainedStore = createMemoryRetainedStore({ maxCount: 10, maxBytes: 100 }, world.log, world.retainedStorage);
    expect(publishes((await subscribed(world, "after", ["keep", 1])).packets)).toEqual([["keep", "me", 1, true]]);
  });

  test("a full store refuses new topics with a log line; the publish is still acknowledged and forwarded", async () => {
    const world = new TestWorld(TEST_OPTIONS, undefined, { maxCount: 1, maxBytes: 100 });
    world.broker.declareQueue("/", "tap");
    world.broker.bindQueue("/", "tap", "amq.topic", "#");
    await retain(world, [["one", "1"], ["two", "2"]]);
    expect(world.broker.takeMessages("/", "tap").length).toBe(2);
    expect(world.logLines("retained message store is full").length).toBe(1);
    expect(publishes((await subscribed(world, "full", ["#", 1])).packets)).toEqual([["one", "1", 1, true]]);
  });
});
