import { describe, expect, test } from "bun:test";
import type { Backend, BackendSession, OutboundMessage } from "../backend/backend.ts";
import { PacketType, encodePacket } from "../codec/index.ts";
import { TEST_OPTIONS, TestWorld, hex, settle, text } from "./test-support.ts";

const enc = new TextEncoder();

/** The session's methods bound to it, so they survive being spread into another object. */
function bindAll(session: BackendSession): BackendSession {
  return {
    publish: session.publish.bind(session),
    subscribe: session.subscribe.bind(session),
    unsubscribe: session.unsubscribe.bind(session),
    settle: session.settle.bind(session),
    close: session.close.bind(session),
  };
}

/** A world with an AMQP queue `tap` bound to every topic, to see what MQTT published. */
function tappedWorld(options = TEST_OPTIONS): TestWorld {
  const world = new TestWorld(options);
  world.broker.declareQueue("/", "tap");
  world.broker.bindQueue("/", "tap", "amq.topic", "#");
  return world;
}

describe("PUBLISH from the client", () => {
  test("QoS 0 reaches the exchange with the contract's routing key, headers and delivery mode, unanswered", async () => {
    const world = tappedWorld();
    const client = await world.connected();
    client.publish("sensors/t1", "21.5", 0);
    await settle();
    expect(hex(client.takeBytes())).toBe("");
    const [message] = world.broker.takeMessages("/", "tap");
    expect(message).toMatchObject({ routingKey: "sensors.t1", deliveryMode: 1, headers: { "x-mqtt-publish-qos": 0, "x-mqtt-dup": false } });
    expect(text(message!.payload)).toBe("21.5");
  });

  test("QoS 1 is PUBACKed only after the broker confirmed it", async () => {
    const world = tappedWorld();
    const client = await world.connected();
    world.broker.holdConfirms();
    client.publish("a/b", "x", 1, 7);
    await settle();
    expect(hex(client.takeBytes())).toBe("");
    world.broker.releaseConfirms();
    await settle();
    expect(hex(client.takeBytes())).toBe("40020007");
    expect(world.broker.takeMessages("/", "tap")[0]).toMatchObject({ deliveryMode: 2, headers: { "x-mqtt-publish-qos": 1 } });
  });

  test("PUBACKs go out in the order the PUBLISHes arrived, whatever the confirm order [MQTT-4.6.0-2]", async () => {
    const world = tappedWorld();
    // The real memory backend underneath; only the moment each publish() resolves is ours to pick.
    const held: Array<() => void> = [];
    const reordering: Backend = {
      shutdown: () => world.backend.shutdown(),
      connect: async (request, events) => {
        const outcome = await world.backend.connect(request, events);
        if (!outcome.ok) return outcome;
        const session = outcome.session;
        const publish = (message: OutboundMessage) =>
          session.publish(message).then((result) => new Promise<typeof result>((resolve) => held.push(() => resolve(result))));
        return { ...outcome, session: { ...bindAll(session), publish } };
      },
    };
    const client = world.client(4, reordering);
    client.connect();
    await client.nextPacket();
    client.publish("a", "1", 1, 1);
    client.publish("a", "2", 1, 2);
    client.publish("a", "3", 1, 3);
    await settle();
    expect(held.length).toBe(3);
    held[2]!();
    held[1]!();
    await settle();
    expect(hex(client.takeBytes())).toBe("");
    held[0]!();
    await settle();
    expect(hex(client.takeBytes())).toBe("400200014002000240020003");
  });

  test("stops reading at maxInflightPublishesPerClient unconfirmed publishes and resumes below it", async () => {
    const world = tappedWorld({ ...TEST_OPTIONS, maxInflightPublishesPerClient: 2 });
    const client = await world.connected();
    world.broker.holdConfirms();
    const three = new Uint8Array([
      ...encodePacket({ type: PacketType.Publish, topic: "a", payload: enc.encode("1"), qos: 1, retain: false, dup: false, packetId: 1 }, 4),
      ...encodePacket({ type: PacketType.Publish, topic: "a", payload: enc.encode("2"), qos: 1, retain: false, dup: false, packetId: 2 }, 4),
      ...encodePacket({ type: PacketType.Publish, topic: "a", payload: enc.encode("3"), qos: 1, retain: false, dup: false, packetId: 3 }, 4),
    ]);
    client.sendBytes(three);
    three.fill(0); // the connection must not depend on the caller's chunk after onData returns
    await settle();
    expect(client.transport.readingPaused).toBe(true);
    expect(world.broker.published.length).toBe(2); // the third waits in the decoder
    world.broker.releaseConfirms();
    await settle();
    world.broker.releaseConfirms();
    await settle();
    expect(client.transport.readingPaused).toBe(false);
    expect(hex(client.takeBytes())).toBe("400200014002000240020003");
    expect(world.broker.takeMessages("/", "tap").map((m) => text(m.payload))).toEqual(["1", "2", "3"]);
  });

  test("a publish RabbitMQ refuses closes the connection with a log line and publishes the will [MQTT-3.3.5-2]", async () => {
    const world = tappedWorld();
    world.broker.users.addUser("bob", "pw");
    world.broker.users.setPermissions("bob", "/", { configure: ".*", write: ".*", read: ".*" });
    world.broker.users.setTopicPermissions("bob", "/", "amq.topic", { write: "^(status|open)\\.", read: ".*" });
    const client = await world.connected({
      clientId: "bob-1",
      username: "bob",
      password: enc.encode("pw"),
      will: { topic: "status/bob", payload: enc.encode("dead"), qos: 0, retain: false },
    });
    client.publish("secret/x", "no", 1, 5);
    await client.closed();
    expect(hex(client.takeBytes())).toBe(""); // no PUBACK for a refused publish
    const lines = world.logLines("RabbitMQ refused a QoS 1 PUBLISH");
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("[MQTT-3.3.5-2]");
    expect(world.broker.takeMessages("/", "tap").map((m) => m.routingKey)).toEqual(["status.bob"]);
  });

  test("a topic name with a wildcard closes the connection [MQTT-3.3.2-2]", async () => {
    const world = tappedWorld();
    const client = await world.connected();
    // PUBLISH QoS 0, topic "a/+", no payload, written by hand
    client.sendBytes("30050003612f2b");
    await client.closed();
    expect(world.logLines("[MQTT-3.3.2-2]").length).toBe(1);
    expect(world.broker.takeMessages("/", "tap")).toEqual([]);
  });

  test("a PUBLISH over the packet size limit closes the connection before it is buffered", async () => {
    const world = tappedWorld({ ...TEST_OPTIONS, maxPacketSizeBytes: 64 });
    const client = await world.connected();
    client.publish("a", "x".repeat(100), 0);
    await client.closed();
    expect(world.logLines("closing MQTT connection").length).toBe(1);
  });
});

describe("QoS 2 PUBLISH from the client", () => {
  test("is published once and answered PUBREC after the confirm, PUBCOMP after PUBREL", async () => {
    const world = tappedWorld();
    const client = await world.connected();
    client.publish("q2", "once", 2, 9);
    await settle();
    expect(hex(client.takeBytes())).toBe("50020009");
    client.send({ type: PacketType.Pubrel, packetId: 9 });
    expect(hex(client.takeBytes())).toBe("70020009");
    expect(world.broker.takeMessages("/", "tap").map((m) => [text(m.payload), m.headers["x-mqtt-publish-qos"]])).toEqual([["once", 2]]);
  });

  test("a DUP resend before PUBREL is answered PUBREC again and not published again [MQTT-4.3.3-2]", async () => {
    const world = tappedWorld();
    const client = await world.connected();
    client.publish("q2", "once", 2, 4);
    await settle();
    client.publish("q2", "once", 2, 4, { dup: true });
    await settle();
    expect(hex(client.takeBytes())).toBe("5002000450020004");
    expect(world.broker.takeMessages("/", "tap").length).toBe(1);
  });

  test("a resend while the first copy is still unconfirmed is not published again", async () => {
    const world = tappedWorld();
    const client = await world.connected();
    world.broker.holdConfirms();
    client.publish("q2", "once", 2, 4);
    client.publish("q2", "once", 2, 4, { dup: true });
    world.broker.releaseConfirms();
    await settle();
    expect(hex(client.takeBytes())).toBe("50020004");
    expect(world.broker.takeMessages("/", "tap").length).toBe(1);
  });

  test("PUBREL for an unknown packet id still gets PUBCOMP [MQTT-3.6.4-1]", async () => {
    const world = tappedWorld();
    const client = await world.connected();
    client.send({ type: PacketType.Pubrel, packetId: 77 });
    expect(hex(client.takeBytes())).toBe("7002004d");
  });
});

describe("broker flow control (memory or disk alarm)", () => {
  test("only a client that PUBLISHes while publishing is blocked stops being read; others keep going; after unblock nothing is lost", async () => {
    const world = tappedWorld();
    const subscriber = await world.connected({ clientId: "sub" });
    const publisher = await world.connected({ clientId: "pub" });
    subscriber.subscribe(1, ["news", 1]);
    await settle();
    expect(hex(subscriber.takeBytes())).toBe("9003000101");
    publisher.publish("news", "before", 1, 1);
    await settle();
    expect(hex(publisher.takeBytes())).toBe("40020001");
    const [delivery] = subscriber.packets();
    expect(delivery).toMatchObject({ type: PacketType.Publish, topic: "news", packetId: 1 });

    world.broker.setBlocked(true);
    await settle();
    // The blocked notice alone pauses nobody.
    expect([subscriber.transport.readingPaused, publisher.transport.readingPaused]).toEqual([false, false]);
    // A PUBLISH while blocked is handed over (it waits in the broker) and pauses its client:
    // the PINGREQ behind it stays unread.
    publisher.publish("news", "during", 1, 2);
    publisher.sendBytes("c000");
    await settle();
    expect(publisher.transport.readingPaused).toBe(true);
    expect(hex(publisher.takeBytes())).toBe("");
    // The subscriber is still read: its PUBACK settles the delivery, PINGREQ and SUBSCRIBE are answered.
    subscriber.send({ type: PacketType.Puback, packetId: 1 });
    subscriber.sendBytes("c000");
    subscriber.subscribe(2, ["more", 0]);
    await settle();
    expect(hex(subscriber.takeBytes())).toBe("d000" + "9003000200");
    expect(world.broker.queueInfo("/", "mqtt-subscription-subqos1")?.messagesUnacknowledged).toBe(0);
    // A new client logs in.
    const late = await world.connected({ clientId: "late" });
    expect(late.transport.closed).toBe(false);
    expect(world.logLines("not reading from the client").map((line) => line.includes("client pub"))).toEqual([true]);

    world.broker.setBlocked(false);
    await settle();
    expect(publisher.transport.readingPaused).toBe(false);
    // Read again: the PINGREQ is answered at once, the PUBLISH once the broker confirmed it.
    expect(hex(publisher.takeBytes())).toBe("d000" + "40020002");
    expect(subscriber.packets()).toMatchObject([{ type: PacketType.Publish, topic: "news", payload: enc.encode("during") }]);
    expect(world.broker.takeMessages("/", "tap").map((m) => text(m.payload))).toEqual(["before", "during"]);
    expect(world.logLines("reading from the client again").length).toBe(1);
  });
});
