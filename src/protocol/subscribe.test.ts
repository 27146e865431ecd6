import { describe, expect, test } from "bun:test";
import { PacketType, encodePacket, type PublishPacket, type QoS } from "../codec/index.ts";
import { deliveryQos } from "./delivery.ts";
import { TestWorld, hex, settle, text } from "./test-support.ts";

const enc = new TextEncoder();

describe("SUBSCRIBE", () => {
  test("SUBACK grants the requested QoS 0, 1 and 2 per filter, in order [MQTT-3.8.4-5]", async () => {
    const world = new TestWorld();
    const client = await world.connected();
    client.subscribe(3, ["a/0", 0], ["a/1", 1], ["a/2", 2]);
    await settle();
    expect(hex(client.takeBytes())).toBe("9005000300" + "0102");
    const info = world.broker.queueInfo("/", "mqtt-subscription-test-clientqos1");
    expect(info?.bindings.sort()).toEqual(["amq.topic:a.0", "amq.topic:a.1", "amq.topic:a.2"]);
  });

  test("a filter RabbitMQ refuses gets 0x80, the others are granted, the connection stays", async () => {
    const world = new TestWorld();
    world.broker.users.addUser("carol", "pw");
    world.broker.users.setPermissions("carol", "/", { configure: ".*", write: ".*", read: ".*" });
    world.broker.users.setTopicPermissions("carol", "/", "amq.topic", { write: ".*", read: "^public\\." });
    const client = await world.connected({ clientId: "carol-1", username: "carol", password: enc.encode("pw") });
    client.subscribe(1, ["public/news", 1], ["private/x", 1]);
    await settle();
    expect(hex(client.takeBytes())).toBe("90040001" + "0180");
    expect(client.transport.closed).toBe(false);
    expect(world.logLines("SUBSCRIBE refused by RabbitMQ").length).toBe(1);
  });

  test("a wildcard that does not fill its level closes the connection [MQTT-4.7.1-2]", async () => {
    const world = new TestWorld();
    const client = await world.connected();
    // SUBSCRIBE id 1, filter "a/b#" QoS 0, written by hand (our encoder is not the one to test here)
    client.sendBytes("820900010004612f622300");
    await client.closed();
    expect(world.logLines("[MQTT-4.7.1-2]").length).toBe(1);
  });

  test("'#' in the middle of a filter is accepted, as the native plugin does (AMQP semantics)", async () => {
    const world = new TestWorld();
    const client = await world.connected();
    // SUBSCRIBE id 1, filter "a/#/b" QoS 0
    client.sendBytes("820a000100" + "05612f232f62" + "00");
    await settle();
    expect(hex(client.takeBytes())).toBe("9003000100");
    expect(world.broker.queueInfo("/", "mqtt-subscription-test-clientqos1")?.bindings).toEqual(["amq.topic:a.#.b"]);
  });

  test("UNSUBSCRIBE unbinds and answers UNSUBACK, also for a filter never subscribed", async () => {
    const world = new TestWorld();
    const client = await world.connected();
    client.subscribe(1, ["a/b", 1]);
    await settle();
    client.takeBytes();
    client.send({ type: PacketType.Unsubscribe, packetId: 2, topicFilters: ["a/b", "never/was"] });
    await settle();
    expect(hex(client.takeBytes())).toBe("b0020002");
    expect(world.broker.queueInfo("/", "mqtt-subscription-test-clientqos1")?.bindings).toEqual([]);
    world.broker.publish({ routingKey: "a.b", payload: "late" });
    await settle();
    expect(client.packets()).toEqual([]);
  });

  test("SUBSCRIBE then UNSUBSCRIBE of one filter reach the broker in that order", async () => {
    const world = new TestWorld();
    const client = await world.connected();
    client.subscribe(1, ["x", 0]);
    client.send({ type: PacketType.Unsubscribe, packetId: 2, topicFilters: ["x"] });
    await settle();
    expect(hex(client.takeBytes())).toBe("9003000100" + "b0020002");
    expect(world.broker.queueInfo("/", "mqtt-subscription-test-clientqos1")?.bindings).toEqual([]);
  });
});

describe("deliveries", () => {
  const qosCases: Array<[granted: QoS | undefined, published: QoS, expected: QoS]> = [
    [0, 0, 0],
    [0, 1, 0],
    [1, 0, 0],
    [1, 1, 1],
    [1, 2, 1],
    [2, 2, 2],
    [2, 1, 1],
    [2, 0, 0],
    [undefined, 1, 1],
    [undefined, 2, 1],
    [undefined, 0, 0],
  ];
  for (const [granted, published, expected] of qosCases) {
    test(`granted ${granted ?? "unknown"}, published ${published}: delivered at QoS ${expected} [MQTT-3.8.4-6]`, () => {
      expect(deliveryQos(granted, published)).toBe(expected);
    });
  }

  test("the highest granted QoS over matching filters wins, min with the message QoS, one copy", async () => {
    const world = new TestWorld();
    const client = await world.connected();
    client.subscribe(1, ["t/+", 0], ["t/#", 1]);
    await settle();
    client.takeBytes();
    world.broker.publish({ routingKey: "t.x", payload: "q1", headers: { "x-mqtt-publish-qos": 1 } });
    world.broker.publish({ routingKey: "t.x", payload: "q0", headers: { "x-mqtt-publish-qos": 0 } });
    world.broker.publish({ routingKey: "t.x", payload: "amqp" }); // no header: an AMQP publisher, QoS 1
    await settle();
    const got = client.packets() as PublishPacket[];
    expect(got.map((p) => [text(p.payload), p.qos, p.packetId])).toEqual([
      ["q1", 1, 1],
      ["q0", 0, undefined],
      ["amqp", 1, 2],
    ]);
  });

  test("a QoS 1 delivery is settled only when the PUBACK arrives; an unknown PUBACK is ignored", async () => {
    const world = new TestWorld();
    const client = await world.connected({ clientId: "acker" });
    client.subscribe(1, ["s", 1]);
    await settle();
    client.takeBytes();
    world.broker.publish({ routingKey: "s", payload: "m", headers: { "x-mqtt-publish-qos": 1 } });
    await settle();
    const [delivery] = client.packets() as PublishPacket[];
    const queue = () => world.broker.queueInfo("/", "mqtt-subscription-ackerqos1")!;
    expect(queue().messagesUnacknowledged).toBe(1);
    client.send({ type: PacketType.Puback, packetId: 999 });
    expect(queue().messagesUnacknowledged).toBe(1);
    expect(world.logLines("PUBACK for packet id 999").length).toBe(1);
    client.send({ type: PacketType.Puback, packetId: delivery!.packetId! });
    expect(queue().messagesUnacknowledged).toBe(0);
    expect(client.transport.closed).toBe(false);
  });

  test("a redelivered message goes out with DUP set, after a persistent session reconnects", async () => {
    const world = new TestWorld();
    const first = await world.connected({ clientId: "dup", cleanSession: false });
    first.subscribe(1, ["d", 1]);
    await settle();
    world.broker.publish({ routingKey: "d", payload: "m", headers: { "x-mqtt-publish-qos": 1 } });
    await settle();
    first.takeBytes();
    first.sendBytes("e000"); // DISCONNECT without PUBACK
    await first.closed();
    const second = await world.connected({ clientId: "dup", cleanSession: false });
    await settle();
    const [again] = second.packets() as PublishPacket[];
    expect(again).toMatchObject({ type: PacketType.Publish, dup: true, qos: 1, topic: "d" });
  });

  test("a persistent session keeps its granted QoS per filter across reconnects (in this process)", async () => {
    const world = new TestWorld();
    const first = await world.connected({ clientId: "keep", cleanSession: false });
    first.subscribe(1, ["k", 0]);
    await settle();
    first.sendBytes("e000");
    await first.closed();
    const second = await world.connected({ clientId: "keep", cleanSession: false });
    world.broker.publish({ routingKey: "k", payload: "m", headers: { "x-mqtt-publish-qos": 1 } });
    await settle();
    const [delivery] = second.packets() as PublishPacket[];
    expect(delivery).toMatchObject({ topic: "k", qos: 0 }); // granted 0, not the unknown-filter fallback of 1
  });

  test("QoS 0 deliveries written while the client does not read are settled on drain", async () => {
    const world = new TestWorld();
    const client = await world.connected({ clientId: "slow" });
    client.subscribe(1, ["z", 0]);
    await settle();
    client.transport.belowHighWater = false;
    world.broker.publish({ routingKey: "z", payload: "1", headers: { "x-mqtt-publish-qos": 0 } });
    world.broker.publish({ routingKey: "z", payload: "2", headers: { "x-mqtt-publish-qos": 0 } });
    await settle();
    const queue = () => world.broker.queueInfo("/", "mqtt-subscription-slowqos1")!;
    expect(queue().messagesUnacknowledged).toBe(2);
    client.transport.belowHighWater = true;
    client.connection.onDrain();
    expect(queue().messagesUnacknowledged).toBe(0);
  });

  test("a `$` topic routed only through `#`/`+`-first filters is acked and dropped [MQTT-4.7.2-1]", async () => {
    const world = new TestWorld();
    const client = await world.connected({ clientId: "dollar" });
    client.subscribe(1, ["#", 1], ["+/load", 1]);
    await settle();
    client.takeBytes();
    world.broker.publish({ routingKey: "$SYS.load", payload: "hidden", headers: { "x-mqtt-publish-qos": 1 } });
    world.broker.publish({ routingKey: "app.load", payload: "shown", headers: { "x-mqtt-publish-qos": 1 } });
    await settle();
    expect((client.packets() as PublishPacket[]).map((p) => p.topic)).toEqual(["app/load"]);
    expect(world.broker.queueInfo("/", "mqtt-subscription-dollarqos1")).toMatchObject({ messagesReady: 0, messagesUnacknowledged: 1 });
    client.subscribe(2, ["$SYS/#", 0]);
    await settle();
    client.takeBytes();
    world.broker.publish({ routingKey: "$SYS.load", payload: "now", headers: { "x-mqtt-publish-qos": 1 } });
    await settle();
    expect((client.packets() as PublishPacket[]).map((p) => [p.topic, p.qos])).toEqual([["$SYS/load", 0]]);
  });

  test("a message whose routing key is no valid MQTT topic is dropped with a warning", async () => {
    const world = new TestWorld();
    const client = await world.connected({ clientId: "odd" });
    client.subscribe(1, ["#", 0]);
    await settle();
    client.takeBytes();
    world.broker.publish({ routingKey: "", payload: "empty topic", headers: { "x-mqtt-publish-qos": 0 } });
    await settle();
    expect(client.packets()).toEqual([]);
    expect(world.logLines("dropping a message with routing key").length).toBe(1);
    expect(client.transport.closed).toBe(false);
  });
});

describe("ordering of SUBSCRIBE and what follows it", () => {
  test("a PUBLISH right behind a SUBSCRIBE in the same chunk waits for the binding: SUBACK first, then the PUBACK and the client's own message", async () => {
    const world = new TestWorld();
    const client = await world.connected();
    const subscribe = encodePacket(
      { type: PacketType.Subscribe, packetId: 1, subscriptions: [{ topicFilter: "own/topic", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] },
      4,
    );
    const publish = encodePacket({ type: PacketType.Publish, topic: "own/topic", payload: new TextEncoder().encode("hello"), qos: 1, retain: false, dup: false, packetId: 2 }, 4);
    const chunk = new Uint8Array(subscribe.length + publish.length);
    chunk.set(subscribe, 0);
    chunk.set(publish, subscribe.length);
    client.sendBytes(chunk);
    for (let i = 0; i < 5; i++) await settle();
    const types = client.packets().map((p) => p.type);
    // The delivery may overtake the PUBACK (RabbitMQ routes before it confirms): both orders are fine.
    expect(types[0]).toBe(PacketType.Suback);
    expect(types.slice(1).sort()).toEqual([PacketType.Publish, PacketType.Puback]);
  });
});
