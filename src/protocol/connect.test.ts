import { describe, expect, test } from "bun:test";
import { PacketType, encodePacket } from "../codec/index.ts";
import { TEST_OPTIONS, TestWorld, hex, settle } from "./test-support.ts";

const enc = new TextEncoder();
const CONNACK = (code: number) => `200200${code.toString(16).padStart(2, "0")}`;

describe("CONNECT", () => {
  test("accepts a 3.1.1 CONNECT with CONNACK 0 and logs the login", async () => {
    const world = new TestWorld();
    const client = world.client(4);
    client.connect({ clientId: "c1" });
    await settle();
    expect(hex(client.takeBytes())).toBe("20020000");
    expect(client.connection.info).toMatchObject({ clientId: "c1", username: "guest", vhost: "/", protocolVersion: 4 });
    expect(world.logLines("accepted MQTT 3.1.1 connection").length).toBe(1);
  });

  test("accepts MQTT 3.1 (MQIsdp) with the session-present byte reserved (0)", async () => {
    const world = new TestWorld();
    const client = world.client(3);
    client.connect({ clientId: "c31", cleanSession: false });
    await settle();
    expect(hex(client.takeBytes())).toBe("20020000");
  });

  test("closes a connection whose first packet is not CONNECT, without CONNACK [MQTT-3.1.0-1]", async () => {
    const world = new TestWorld();
    const client = world.client();
    client.sendBytes("c000"); // PINGREQ
    await client.closed();
    expect(hex(client.takeBytes())).toBe("");
    expect(world.logLines("[MQTT-3.1.0-1]").length).toBe(1);
  });

  test("explains a TLS handshake on the plain port in one log line and closes", async () => {
    const world = new TestWorld();
    const client = world.client();
    client.sendBytes("160301020001000001fc0303");
    await client.closed();
    expect(world.logLines("TLS ClientHello").length).toBe(1);
  });

  test("closes a connection that sends a second CONNECT [MQTT-3.1.0-2], publishing the will", async () => {
    const world = new TestWorld();
    world.broker.declareQueue("/", "wills");
    world.broker.bindQueue("/", "wills", "amq.topic", "will.#");
    const client = await world.connected({ clientId: "twice", will: { topic: "will/twice", payload: enc.encode("gone"), qos: 0, retain: false } });
    client.connect({ clientId: "twice" });
    await client.closed();
    expect(hex(client.takeBytes())).toBe("");
    expect(world.logLines("[MQTT-3.1.0-2]").length).toBe(1);
    expect(world.broker.takeMessages("/", "wills").map((m) => m.routingKey)).toEqual(["will.twice"]);
  });

  test("closes a connection that sends no CONNECT within the login timeout", async () => {
    const world = new TestWorld({ ...TEST_OPTIONS, loginTimeoutMs: 10_000 });
    const client = world.client();
    world.nowMs += 9_999;
    client.connection.checkTimeouts(world.nowMs);
    expect(client.transport.closed).toBe(false);
    world.nowMs += 1;
    client.connection.checkTimeouts(world.nowMs);
    await client.closed();
    expect(world.logLines("login timeout of 10000 ms").length).toBe(1);
  });

  test("answers an unknown protocol level with CONNACK 1 and closes [MQTT-3.1.2-2]", async () => {
    const world = new TestWorld();
    const client = world.client();
    // CONNECT "MQTT" level 9, clean session, keepalive 60, client id "x"
    client.sendBytes("100d00044d5154540902003c000178");
    await client.closed();
    expect(hex(client.takeBytes())).toBe(CONNACK(1));
  });

  test("answers an MQTT 5.0 CONNECT with CONNACK 0x84 in 5.0 format (not supported yet)", async () => {
    const world = new TestWorld();
    const client = world.client(5);
    client.connect({ clientId: "v5" });
    await client.closed();
    // CONNACK, Remaining Length 3: flags 0, reason 0x84, Property Length 0
    expect(hex(client.takeBytes())).toBe("2003008400");
  });

  test("refuses an empty client id with Clean Session 0: CONNACK 2 [MQTT-3.1.3-8]", async () => {
    const world = new TestWorld();
    const client = world.client();
    client.connect({ clientId: "", cleanSession: false });
    await client.closed();
    expect(hex(client.takeBytes())).toBe(CONNACK(2));
  });

  test("assigns a client id to an empty one with Clean Session 1 [MQTT-3.1.3-6]", async () => {
    const world = new TestWorld();
    const client = world.client();
    client.connect({ clientId: "" });
    await settle();
    expect(hex(client.takeBytes())).toBe(CONNACK(0));
    expect(client.connection.info.clientId).toMatch(/^rabbitmq-mqtt-[0-9a-f]{32}$/);
  });

  test("accepts 3.1 client ids longer than 23 characters, as the native plugin does", async () => {
    const world = new TestWorld();
    const client = world.client(3);
    client.connect({ clientId: "a-client-id-longer-than-twenty-three" });
    await settle();
    expect(hex(client.takeBytes())).toBe(CONNACK(0));
  });
});

describe("CONNECT credentials (DESIGN.md's table)", () => {
  function worldWithAlice(options = TEST_OPTIONS): TestWorld {
    const world = new TestWorld(options);
    world.broker.users.addUser("alice", "secret");
    world.broker.users.setPermissions("alice", "/", { configure: ".*", write: ".*", read: ".*" });
    world.broker.addVhost("plant:7");
    world.broker.users.setPermissions("alice", "plant:7", { configure: ".*", write: ".*", read: ".*" });
    return world;
  }
  const cases: Array<[name: string, fields: { username?: string; password?: string }, options: typeof TEST_OPTIONS, code: number, vhost?: string]> = [
    ["user + password the broker accepts: CONNACK 0", { username: "alice", password: "secret" }, TEST_OPTIONS, 0, "/"],
    ["`vhost:user` is split at the last colon", { username: "plant:7:alice", password: "secret" }, TEST_OPTIONS, 0, "plant:7"],
    ["a wrong password: CONNACK 4", { username: "alice", password: "nope" }, TEST_OPTIONS, 4],
    ["a vhost the user may not use: CONNACK 5", { username: "nowhere:alice", password: "secret" }, TEST_OPTIONS, 5],
    ["only a user name: CONNACK 4", { username: "alice" }, TEST_OPTIONS, 4],
    ["only a password (3.1 allows sending it): CONNACK 4", { password: "secret" }, TEST_OPTIONS, 4],
    ["none, anonymous allowed: logs in as mqtt.default_user", {}, TEST_OPTIONS, 0, "/"],
    ["none, anonymous off: CONNACK 4 (the plugin's code)", {}, { ...TEST_OPTIONS, allowAnonymous: false }, 4],
    ["the port-to-vhost mapping comes before mqtt.vhost", { username: "alice", password: "secret" }, { ...TEST_OPTIONS, portVhostMapping: { 1883: "plant:7" } }, 0, "plant:7"],
    ["`vhost:user` comes before the port-to-vhost mapping", { username: "/:alice", password: "secret" }, { ...TEST_OPTIONS, portVhostMapping: { 1883: "plant:7" } }, 0, "/"],
    ["a mapping for another port changes nothing", { username: "alice", password: "secret" }, { ...TEST_OPTIONS, portVhostMapping: { 8883: "plant:7" } }, 0, "/"],
    ["anonymous clients use the mapped vhost too", {}, { ...TEST_OPTIONS, portVhostMapping: { 1883: "plant:7" }, defaultUser: "alice", defaultPass: "secret" }, 0, "plant:7"],
  ];
  for (const [name, fields, options, code, vhost] of cases) {
    test(name, async () => {
      const world = worldWithAlice(options);
      const client = world.client(3);
      client.connect({
        clientId: "cred",
        ...(fields.username !== undefined ? { username: fields.username } : {}),
        ...(fields.password !== undefined ? { password: enc.encode(fields.password) } : {}),
      });
      await settle();
      expect(hex(client.takeBytes())).toBe(CONNACK(code));
      if (code === 0) expect(client.connection.info.vhost).toBe(vhost!);
      else {
        await client.closed();
        expect(world.logLines("closing MQTT connection").length).toBe(1);
      }
    });
  }

  test("a password that is not UTF-8 gets CONNACK 4 with a reason in the log", async () => {
    const world = worldWithAlice();
    const client = world.client();
    client.connect({ clientId: "utf", username: "alice", password: Uint8Array.of(0xff, 0xfe) });
    await client.closed();
    expect(hex(client.takeBytes())).toBe(CONNACK(4));
    expect(world.logLines("not valid UTF-8").length).toBe(1);
  });

  test("an unreachable broker gets CONNACK 3", async () => {
    const world = new TestWorld();
    world.broker.available = false;
    const client = world.client();
    client.connect({ clientId: "down" });
    await client.closed();
    expect(hex(client.takeBytes())).toBe(CONNACK(3));
  });
});

describe("packets sent right after CONNECT", () => {
  test("wait for the broker's answer and are then handled in order [MQTT-3.1.4-5]", async () => {
    const world = new TestWorld();
    const client = world.client();
    const connect = encodePacket(
      { type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 4, cleanSession: true, keepaliveSeconds: 0, clientId: "pipe" },
      4,
    );
    const ping = Uint8Array.of(0xc0, 0x00);
    const chunk = new Uint8Array(connect.length + 2 * ping.length);
    chunk.set(connect);
    chunk.set(ping, connect.length);
    chunk.set(ping, connect.length + 2);
    client.sendBytes(chunk);
    chunk.fill(0xee); // the listener may reuse its buffer: the connection must have copied what it kept
    expect(client.transport.readingPaused).toBe(true);
    await settle();
    expect(hex(client.takeBytes())).toBe("20020000d000d000");
    expect(client.transport.readingPaused).toBe(false);
  });

  test("are never handled when the CONNECT is refused [MQTT-3.1.4-5]", async () => {
    const world = new TestWorld({ ...TEST_OPTIONS, allowAnonymous: false });
    const client = world.client();
    const connect = encodePacket(
      { type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 4, cleanSession: true, keepaliveSeconds: 0, clientId: "nope" },
      4,
    );
    client.sendBytes(new Uint8Array([...connect, 0xc0, 0x00]));
    await client.closed();
    expect(hex(client.takeBytes())).toBe(CONNACK(4));
  });
});
