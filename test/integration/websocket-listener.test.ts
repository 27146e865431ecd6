/**
 * MQTT over WebSocket (web_mqtt.tcp.*) and secure WebSocket (web_mqtt.ssl.*) against the
 * in-process adapter and a real RabbitMQ: MQTT.js over ws:// and wss://, and a hand-written
 * WebSocket client (websocket-raw-client.ts) for what MQTT.js hides: the subprotocol answer,
 * packets split over messages and several in one [MQTT-6.0.0-2], text messages [MQTT-6.0.0-1],
 * refused upgrades, oversized messages, the connection limit, and a client that stops reading.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import mqttPacket, { type Packet } from "mqtt-packet";
import { buildDefaults, type AdapterConfig } from "../../src/config/index.ts";
import { WS_HIGH_WATER_BYTES } from "../../src/listeners/websocket-transport.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { ensureRabbitmq, rabbitmqctlJson, uniqueName } from "../support/broker.ts";
import { connectMqttJs, endAll, HOOK_TIMEOUT_MS, Inbox, TEST_TIMEOUT_MS, waitUntil } from "./mqtt-support.ts";
import { sslOptions, testPki } from "./tls-support.ts";
import { RawWebSocket, type UpgradeAnswer } from "./websocket-raw-client.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

const pki = testPki();

/** An adapter with ws:// and wss:// on free ports; `web` overrides web_mqtt settings. */
async function startWebAdapter(web: Partial<AdapterConfig["webMqtt"]> = {}, more: Partial<AdapterConfig> = {}, host = "127.0.0.1") {
  const adapter = await startAdapter({
    webMqtt: {
      ...buildDefaults().webMqtt,
      tcpListener: { host, port: 0 },
      sslListener: { host, port: 0 },
      ssl: sslOptions(),
      ...web,
    },
    ...more,
  });
  const [, ws, wss] = adapter.server.listeners;
  return { adapter, wsPort: ws!.port, wssPort: wss?.port ?? 0 };
}

let web: Awaited<ReturnType<typeof startWebAdapter>>;

beforeAll(async () => {
  web = await startWebAdapter();
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
  await web?.adapter.stop();
}, HOOK_TIMEOUT_MS);

const encode = (packet: Record<string, unknown>): Buffer => mqttPacket.generate(packet as unknown as Packet);

/** The MQTT packets in a byte stream (mqtt-packet's parser). */
function packetsOf(bytes: Uint8Array): Packet[] {
  const packets: Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on("packet", (packet: Packet) => packets.push(packet));
  parser.parse(Buffer.from(bytes));
  return packets;
}

async function openRaw(port: number, options: Parameters<typeof RawWebSocket.open>[1] = {}): Promise<RawWebSocket> {
  const opened = await RawWebSocket.open(port, options);
  if (!(opened instanceof RawWebSocket)) throw new Error(`upgrade refused: ${opened.status} ${opened.body}`);
  return opened;
}

async function refusedUpgrade(port: number, options: Parameters<typeof RawWebSocket.open>[1]): Promise<UpgradeAnswer> {
  const opened = await RawWebSocket.open(port, options);
  if (opened instanceof RawWebSocket) {
    opened.end();
    throw new Error("the upgrade was accepted");
  }
  return opened;
}

const connect = (clientId: string) => encode({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, keepalive: 60, clientId });

/** Lines logged by `adapter` after index `from` that contain `fragment`. */
const linesSince = (adapter: TestAdapter, from: number, fragment: string) => adapter.logLines.slice(from).filter((line) => line.includes(fragment));

describe("MQTT over WebSocket with real clients", () => {
  test("logs `started MQTT WebSocket Listener on [::]:PORT` (and the SSL one) and serves MQTT.js over IPv6", async () => {
    const dual = await startWebAdapter({}, {}, "::");
    try {
      expect(dual.adapter.logLines).toContainEqual(expect.stringContaining(`started MQTT WebSocket Listener on [::]:${dual.wsPort}`));
      expect(dual.adapter.logLines).toContainEqual(expect.stringContaining(`started MQTT WebSocket SSL Listener on [::]:${dual.wssPort}`));
      // MQTT.js drops the brackets of an IPv6 URL; the raw client connects to ::1 itself.
      const ws = await openRaw(dual.wsPort, { host: "::1" });
      ws.sendBinary(connect(uniqueName("v6")));
      await ws.waitForMessages(1, "CONNACK over IPv6");
      expect(packetsOf(ws.bytes)).toMatchObject([{ cmd: "connack", returnCode: 0 }]);
      ws.end();
    } finally {
      await dual.adapter.stop();
    }
  });

  const flavours: Array<[string, () => string, object]> = [
    ["ws:// with MQTT 3.1.1 (subprotocol mqtt)", () => `ws://127.0.0.1:${web.wsPort}/ws`, { protocolVersion: 4 }],
    ["ws:// with MQTT 3.1 (MQTT.js offers only mqttv3.1)", () => `ws://127.0.0.1:${web.wsPort}/ws`, { protocolVersion: 3, protocolId: "MQIsdp" }],
    ["wss:// (web_mqtt.ssl.*)", () => `wss://localhost:${web.wssPort}/ws`, { protocolVersion: 4, ca: pki.ca.cert }],
  ];
  for (const [name, url, options] of flavours) {
    test(`MQTT.js over ${name} publishes and receives through RabbitMQ`, async () => {
      const topic = `${uniqueName("ws")}/echo`;
      const subscriber = await connectMqttJs(url(), { ...options, clientId: uniqueName("wsub") });
      const publisher = await connectMqttJs(url(), { ...options, clientId: uniqueName("wpub") });
      try {
        const inbox = new Inbox(subscriber);
        await subscriber.subscribeAsync(topic, { qos: 1 });
        await publisher.publishAsync(topic, `hello over ${name}`, { qos: 1 });
        const message = await inbox.next("the message over WebSocket");
        expect([message.topic, message.payload]).toEqual([topic, `hello over ${name}`]);
      } finally {
        await endAll(publisher, subscriber);
      }
    });
  }
});

describe("the WebSocket subprotocol [MQTT-6.0.0-3] [MQTT-6.0.0-4]", () => {
  const accepted: Array<[string[], string]> = [
    [["mqtt"], "mqtt"],
    [["foo", "mqtt"], "mqtt"],
    [["mqttv3.1"], "mqttv3.1"],
  ];
  for (const [offered, chosen] of accepted) {
    test(`offered ${JSON.stringify(offered)}: answers "${chosen}"`, async () => {
      const ws = await openRaw(web.wsPort, { protocols: offered });
      expect(ws.headers["sec-websocket-protocol"]).toBe(chosen);
      ws.end();
    });
  }

  const refused: Array<[string, Parameters<typeof RawWebSocket.open>[1], number, string]> = [
    ["no subprotocol", { protocols: [] }, 400, 'offered no WebSocket subprotocol; MQTT over WebSocket needs "mqtt" [MQTT-6.0.0-3]'],
    ["a wrong subprotocol", { protocols: ["stomp"] }, 400, 'offered WebSocket subprotocol(s) "stomp", expected "mqtt"'],
    ["another path", { path: "/mqtt" }, 404, "GET /mqtt: MQTT over WebSocket is served at /ws (web_mqtt.ws_path)"],
    ["a plain HTTP GET of the path", { plainHttp: true }, 426, "without a WebSocket upgrade"],
  ];
  for (const [name, options, status, fragment] of refused) {
    test(`${name}: HTTP ${status} and one log line`, async () => {
      const from = web.adapter.logLines.length;
      const answer = await refusedUpgrade(web.wsPort, options);
      expect(answer.status).toBe(status);
      const lines = await waitUntil(() => linesSince(web.adapter, from, "request from").length > 0 && linesSince(web.adapter, from, "request from"), "the refusal line");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`(HTTP ${status})`);
      expect(lines[0]).toContain(fragment);
    });
  }
});

describe("WebSocket frames carry a byte stream [MQTT-6.0.0-2]", () => {
  test("a CONNECT split over three messages; PUBLISH, PINGREQ and half a PUBLISH in one message, its other half in the next", async () => {
    const ws = await openRaw(web.wsPort);
    try {
      const bytes = connect(uniqueName("frag"));
      ws.sendBinary(bytes.subarray(0, 1));
      ws.sendBinary(bytes.subarray(1, 5));
      ws.sendBinary(bytes.subarray(5));
      await ws.waitForMessages(1, "CONNACK");
      expect(packetsOf(ws.bytes)).toMatchObject([{ cmd: "connack", returnCode: 0 }]);
      const topic = `${uniqueName("ws")}/batch`;
      ws.sendBinary(encode({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos: 1 }] }));
      await waitUntil(() => packetsOf(ws.bytes).length >= 2, "SUBACK");
      const second = encode({ cmd: "publish", topic, payload: Buffer.from("second, split"), qos: 1, messageId: 3 });
      ws.sendBinary(Buffer.concat([encode({ cmd: "publish", topic, payload: Buffer.from("first"), qos: 1, messageId: 2 }), encode({ cmd: "pingreq" }), second.subarray(0, 7)]));
      ws.sendBinary(second.subarray(7));
      const packets = await waitUntil(() => {
        const all = packetsOf(ws.bytes);
        return all.length >= 7 && all;
      }, "PUBACKs, PINGRESP and both deliveries");
      expect(packets.map((p) => p.cmd).sort()).toEqual(["connack", "pingresp", "puback", "puback", "publish", "publish", "suback"]);
      const deliveries = packets.filter((p) => p.cmd === "publish").map((p) => (p as { payload: Buffer }).payload.toString());
      expect(deliveries).toEqual(["first", "second, split"]);
    } finally {
      ws.end();
    }
  });

  test("a text message closes the connection with 1003 and one log line, while another client keeps working [MQTT-6.0.0-1]", async () => {
    const bystander = await connectMqttJs(`ws://127.0.0.1:${web.wsPort}/ws`, { clientId: uniqueName("ok") });
    try {
      const ws = await openRaw(web.wsPort);
      const id = uniqueName("text");
      ws.sendBinary(connect(id));
      await ws.waitForMessages(1, "CONNACK");
      const from = web.adapter.logLines.length;
      ws.sendText("CONNECT as JSON, by mistake");
      expect(await ws.waitForClose()).toBe(1003);
      const lines = await waitUntil(() => linesSince(web.adapter, from, "closing MQTT connection").length > 0 && linesSince(web.adapter, from, "closing MQTT connection"), "the closing line");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain("received a text WebSocket message (27 bytes); MQTT packets must be sent in binary messages [MQTT-6.0.0-1]");
      const topic = `${uniqueName("ws")}/still`;
      const inbox = new Inbox(bystander);
      await bystander.subscribeAsync(topic, { qos: 0 });
      await bystander.publishAsync(topic, "unaffected", { qos: 0 });
      expect((await inbox.next("the bystander's message")).payload).toBe("unaffected");
    } finally {
      await endAll(bystander);
    }
  });

  test("a message over web_mqtt.ws_opts.max_frame_size closes with 1009 and one log line", async () => {
    const small = await startWebAdapter({ wsMaxFrameSizeBytes: 1024, sslListener: null });
    try {
      const ws = await openRaw(small.wsPort);
      ws.sendBinary(connect(uniqueName("big")));
      await ws.waitForMessages(1, "CONNACK");
      ws.sendBinary(encode({ cmd: "publish", topic: "t/big", payload: Buffer.alloc(2000), qos: 0 }));
      expect(await ws.waitForClose()).toBe(1009);
      const line = await waitUntil(() => small.adapter.logLines.find((l) => l.includes("closing MQTT connection")), "the closing line");
      expect(line).toContain("received a WebSocket message larger than 1024 bytes (web_mqtt.ws_opts.max_frame_size); closed with code 1009");
    } finally {
      await small.adapter.stop();
    }
  });

  test("web_mqtt.max_connections: the next upgrade gets HTTP 503 and a log line", async () => {
    const limited = await startWebAdapter({ maxConnections: 2, sslListener: null });
    const open: RawWebSocket[] = [];
    try {
      open.push(await openRaw(limited.wsPort), await openRaw(limited.wsPort));
      const answer = await refusedUpgrade(limited.wsPort, {});
      expect(answer.status).toBe(503);
      expect(limited.adapter.logLines).toContainEqual(expect.stringContaining("2 WebSocket connections are open, the limit (web_mqtt.max_connections)"));
      open.pop()!.end();
      await waitUntil(async () => {
        const again = await RawWebSocket.open(limited.wsPort);
        if (again instanceof RawWebSocket) open.push(again);
        return again instanceof RawWebSocket;
      }, "a free slot after one client left");
    } finally {
      for (const ws of open) ws.end();
      await limited.adapter.stop();
    }
  });
});

describe("backpressure over WebSocket", () => {
  test("a QoS 0 subscriber that stops reading: the rest waits in RabbitMQ, the adapter's buffer stays bounded, and it all arrives once it reads", async () => {
    // More than loopback TCP buffers hold (several MB), so the adapter must push back.
    const MESSAGES = 2000;
    const PAYLOAD_BYTES = 8 * 1024;
    const id = uniqueName("slowws");
    const topic = `${uniqueName("ws")}/flood`;
    // A queue per session: its prefetch window is the flow control pinned here (the shared QoS 0
    // fan-out drops for a slow client instead: qos0-fanout tests).
    const web = await startWebAdapter({}, { qos0Fanout: "per_session" });
    const ws = await openRaw(web.wsPort);
    const publisher = await connectMqttJs(`ws://127.0.0.1:${web.wsPort}/ws`, { clientId: uniqueName("flood") });
    try {
      ws.sendBinary(connect(id));
      ws.sendBinary(encode({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos: 0 }] }));
      await waitUntil(() => packetsOf(ws.bytes).length >= 2, "CONNACK and SUBACK");
      ws.pause();
      const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
      // In windows of 50 QoS 1 publishes: fast, and still bounded.
      for (let i = 0; i < MESSAGES; i += 50) {
        await Promise.all(Array.from({ length: Math.min(50, MESSAGES - i) }, () => publisher.publishAsync(topic, payload, { qos: 1 })));
      }
      const queue = `mqtt-subscription-${id}qos1`;
      type Row = { name: string; messages_ready: number };
      const ready = async () => (await rabbitmqctlJson<Row[]>("list_queues", "name", "messages_ready")).find((r) => r.name === queue)?.messages_ready ?? 0;
      // The adapter stopped taking deliveries: they wait in RabbitMQ, not in the adapter.
      const waiting = await waitUntil(async () => {
        const n = await ready();
        return n > 0 && n;
      }, "messages waiting in RabbitMQ", { timeoutMs: 20_000, intervalMs: 200 });
      const connection = [...web.adapter.server.connections].find((c) => c.info.clientId === id)!;
      const buffered = (connection as unknown as { transport: { bufferedBytes: number } }).transport.bufferedBytes;
      console.log(`WebSocket subscriber that stopped reading: ${waiting} of ${MESSAGES} messages wait in RabbitMQ, ${buffered} bytes buffered in the adapter`);
      // Bounded by the high-water mark, plus the deliveries already in flight (the prefetch window) and one batch.
      const prefetch = buildDefaults().prefetch;
      expect(buffered).toBeLessThanOrEqual(WS_HIGH_WATER_BYTES + (prefetch + 1) * (PAYLOAD_BYTES + 64) + 16 * 1024);
      ws.resume();
      await waitUntil(() => packetsOf(ws.bytes).filter((p) => p.cmd === "publish").length === MESSAGES, `all ${MESSAGES} messages once it reads`, { timeoutMs: 30_000, intervalMs: 100 });
      expect(await ready()).toBe(0);
    } finally {
      ws.end();
      await endAll(publisher);
      await web.adapter.stop();
    }
  }, 60_000);
});
