/**
 * The metrics endpoint and the admin socket of an in-process adapter against the real RabbitMQ:
 * MQTT.js clients connect, publish and subscribe, then a scrape (plain HTTP, as Prometheus does)
 * must show exactly what they did, and `status` / `list_connections` over the admin socket must
 * show the clients and RabbitMQ's own version. Each describe block runs a fresh adapter, so its
 * counters start at zero.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { askAdmin, type ConnectionRow, type StatusReport } from "../../src/admin/index.ts";
import { parsePrometheusText, sampleValue, type Sample } from "../../src/metrics/test-helpers.ts";
import { ensureRabbitmq, uniqueName } from "../support/broker.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { HOOK_TIMEOUT_MS, TEST_TIMEOUT_MS, waitUntil, withTimeout } from "./mqtt-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

const P = "rabbitmq_mqtt_adapter_";
let adapter: TestAdapter;
let socketDir: string;
let socketPath: string;

beforeAll(async () => {
  socketDir = mkdtempSync(join(tmpdir(), "metrics-scrape-"));
  socketPath = join(socketDir, "admin.sock");
  adapter = await startAdapter({ metrics: { ip: "127.0.0.1", port: 0 }, adminSocketPath: socketPath });
}, HOOK_TIMEOUT_MS);
afterAll(async () => {
  await adapter.stop();
  rmSync(socketDir, { recursive: true, force: true });
}, HOOK_TIMEOUT_MS);

async function scrape(): Promise<Sample[]> {
  const endpoint = adapter.server.operator.metricsEndpoint!;
  const response = await fetch(endpoint.url);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parsePrometheusText(await response.text());
}

const v = (samples: Sample[], name: string, labels: Record<string, string> = {}) => sampleValue(samples, P + name, labels);

/** PUBLISH size in MQTT 3.1.1 (remaining length < 128): header 2 + topic length 2 + topic + packet id (QoS > 0) + payload. */
const publishSize = (topic: string, payload: string, qos: number) => 2 + 2 + Buffer.byteLength(topic) + (qos > 0 ? 2 : 0) + Buffer.byteLength(payload);

describe("metrics endpoint (in-process adapter, real RabbitMQ)", () => {
  test("a scrape shows the clients' packets, bytes, messages, PUBACK latency, connections and AMQP resources", async () => {
    const before = await scrape();
    expect(v(before, "connections", { protocol: "mqtt311" })).toBe(0);
    expect(v(before, "incoming_packets_total", { packet_type: "publish" })).toBe(0);

    const base = uniqueName("metrics");
    const subscriber = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("sub"), protocolVersion: 4 });
    const publisher = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("pub"), protocolVersion: 4 });
    const v31 = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("v31"), protocolId: "MQIsdp", protocolVersion: 3 });
    try {
      await subscriber.subscribeAsync(`${base}/#`, { qos: 1 });
      const messages: Array<{ qos: number }> = [];
      const allReceived = new Promise<void>((resolve) =>
        subscriber.on("message", (_topic, _payload, packet) => {
          messages.push({ qos: packet.qos });
          if (messages.length === 5) resolve();
        }),
      );
      const sent: Array<[string, string, 0 | 1]> = [
        [`${base}/a`, "one", 1],
        [`${base}/b`, "two!", 1],
        [`${base}/c`, "three", 1],
        [`${base}/d`, "x", 0],
        [`${base}/e`, "yy", 0],
      ];
      for (const [topic, payload, qos] of sent) await publisher.publishAsync(topic, payload, { qos });
      await withTimeout(allReceived, 10_000, "the subscriber to receive all 5 messages");

      // The subscriber's PUBACKs travel after its last message: wait until the adapter has read them.
      const after = await waitUntil(async () => {
        const samples = await scrape();
        return v(samples, "incoming_packets_total", { packet_type: "puback" }) >= 3 ? samples : undefined;
      }, "the subscriber's 3 PUBACKs to be counted");

      expect(v(after, "connections", { protocol: "mqtt311" })).toBe(2);
      expect(v(after, "connections", { protocol: "mqtt310" })).toBe(1);
      expect(v(after, "connections", { protocol: "mqtt50" })).toBe(0);
      expect(v(after, "connections_opened_total")).toBe(3);
      expect(v(after, "incoming_packets_total", { packet_type: "connect" })).toBe(3);
      expect(v(after, "incoming_packets_total", { packet_type: "subscribe" })).toBe(1);
      expect(v(after, "incoming_packets_total", { packet_type: "publish" })).toBe(5);
      expect(v(after, "incoming_packets_total", { packet_type: "puback" })).toBe(3);
      expect(v(after, "incoming_bytes_total", { packet_type: "publish" })).toBe(sent.reduce((sum, [t, p, q]) => sum + publishSize(t, p, q), 0));
      expect(v(after, "outgoing_packets_total", { packet_type: "connack" })).toBe(3);
      expect(v(after, "outgoing_packets_total", { packet_type: "suback" })).toBe(1);
      expect(v(after, "outgoing_packets_total", { packet_type: "puback" })).toBe(3);
      expect(v(after, "outgoing_bytes_total", { packet_type: "puback" })).toBe(12);
      expect(v(after, "outgoing_packets_total", { packet_type: "publish" })).toBe(5);
      expect(v(after, "messages_published_total", { qos: "1" })).toBe(3);
      expect(v(after, "messages_published_total", { qos: "0" })).toBe(2);
      expect(v(after, "messages_delivered_total", { qos: "1" })).toBe(3);
      expect(v(after, "messages_delivered_total", { qos: "0" })).toBe(2);
      expect(v(after, "puback_latency_seconds_count")).toBe(3);
      expect(v(after, "puback_latency_seconds_bucket", { le: "+Inf" })).toBe(3);
      expect(v(after, "puback_latency_seconds_sum")).toBeGreaterThan(0);
      // The pool of guest on / (how many connections it keeps is the pool's business): at least
      // one connection, carrying at least the publish and the consumer channel.
      expect(v(after, "amqp_connections")).toBeGreaterThanOrEqual(1);
      expect(v(after, "amqp_channels")).toBeGreaterThanOrEqual(2);
    } finally {
      await Promise.all([subscriber.endAsync(), publisher.endAsync(), v31.endAsync()]);
    }
    const closed = await waitUntil(async () => {
      const samples = await scrape();
      return v(samples, "connections", { protocol: "mqtt311" }) === 0 ? samples : undefined;
    }, "the connections gauge to drop to 0");
    expect(v(closed, "connections_closed_total", { reason: "client_disconnect" })).toBe(3);
  });

  test("refused logins and vanished sockets are counted under their reasons", async () => {
    const refused = await mqtt
      .connectAsync(adapter.url, { clientId: uniqueName("bad"), protocolVersion: 4, username: "guest", password: "wrong", reconnectPeriod: 0 })
      .then((client) => client.endAsync().then(() => "connected"))
      .catch((error: Error) => error.message);
    expect(refused).toContain("Bad username or password");
    const gone: MqttClient = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("gone"), protocolVersion: 4, reconnectPeriod: 0 });
    gone.stream.destroy(); // the socket closes without DISCONNECT
    const samples = await waitUntil(async () => {
      const s = await scrape();
      return s.some((x) => x.name === `${P}connections_closed_total` && x.labels.reason === "socket_closed") ? s : undefined;
    }, "a socket_closed close to be counted");
    expect(v(samples, "connections_closed_total", { reason: "bad_user_name_or_password" })).toBe(1);
    expect(v(samples, "connections_closed_total", { reason: "socket_closed" })).toBe(1);
    gone.end(true);
  });
});

describe("admin socket (in-process adapter, real RabbitMQ)", () => {
  test("status names the listeners, the clients by protocol and RabbitMQ's version from its server properties", async () => {
    const clientId = uniqueName("status");
    const client = await mqtt.connectAsync(adapter.url, { clientId, protocolVersion: 4 });
    try {
      await client.publishAsync(`${clientId}/t`, "x", { qos: 1 }); // makes the pool open its publish channel
      const reply = await askAdmin<StatusReport>(socketPath, "status");
      if (reply.kind !== "ok") throw new Error(`status failed: ${JSON.stringify(reply)}`);
      const status = reply.result;
      expect(status.pid).toBe(process.pid);
      expect(status.listeners).toEqual([
        { protocol: "mqtt", interface: "127.0.0.1", port: adapter.port },
        { protocol: "http/prometheus", interface: "127.0.0.1", port: adapter.server.operator.metricsEndpoint!.port },
      ]);
      expect(status.mqtt_connections.by_protocol.mqtt311).toBeGreaterThanOrEqual(1);
      expect(status.amqp.server_product).toBe("RabbitMQ");
      expect(status.amqp.server_version).toMatch(/^\d+\.\d+\.\d+/);
      expect(status.amqp.connections.length).toBeGreaterThanOrEqual(1);
      expect(status.amqp.connections[0]).toMatchObject({ vhost: "/", user: "guest" });
      expect(status.amqp.channels).toBeGreaterThanOrEqual(1);

      const listed = await askAdmin<ConnectionRow[]>(socketPath, "list_connections");
      if (listed.kind !== "ok") throw new Error(`list_connections failed: ${JSON.stringify(listed)}`);
      const row = listed.result.find((r) => r.client_id === clientId);
      expect(row).toMatchObject({ client_id: clientId, user: "guest", vhost: "/", protocol: "MQTT 3.1.1" });
      expect(row!.peer).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(Date.parse(row!.connected_at)).toBeLessThanOrEqual(Date.now());
    } finally {
      await client.endAsync();
    }
  });
});
