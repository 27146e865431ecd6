import { describe, expect, test } from "bun:test";
import { PacketType, ReasonCode } from "../codec/index.ts";
import { CloseReason } from "../protocol/index.ts";
import { VERSION } from "../version.ts";
import { AdapterMetrics } from "./adapter-metrics.ts";
import { renderMetrics, type RuntimeGauges } from "./render.ts";
import { parsePrometheusText, sampleValue } from "./test-helpers.ts";

const P = "rabbitmq_mqtt_adapter_";
const GAUGES: RuntimeGauges = {
  connectionsByProtocol: { mqtt311: 3, mqtt50: 1 },
  amqpConnections: 2,
  amqpChannels: 5,
  qos0LocalDeliveries: 7,
  qos0EchoesDropped: 6,
  startTimeSeconds: 1_700_000_000,
  residentMemoryBytes: 50_000_000,
};

describe("renderMetrics", () => {
  test("every family has HELP and TYPE once, and every sample line parses", () => {
    const text = renderMetrics(new AdapterMetrics(), GAUGES);
    const types = text.split("\n").filter((line) => line.startsWith("# TYPE "));
    const names = types.map((line) => line.split(" ")[2]);
    expect(new Set(names).size).toBe(names.length);
    expect(names.every((name) => name!.startsWith(P))).toBe(true);
    expect(parsePrometheusText(text).length).toBeGreaterThan(40);
  });

  test("a fresh process shows zeroes for every packet type a client or server sends, not missing series", () => {
    const samples = parsePrometheusText(renderMetrics(new AdapterMetrics(), GAUGES));
    for (const type of ["connect", "publish", "puback", "subscribe", "pingreq", "disconnect", "auth"]) {
      expect(sampleValue(samples, `${P}incoming_packets_total`, { packet_type: type })).toBe(0);
    }
    for (const type of ["connack", "publish", "suback", "unsuback", "pingresp"]) {
      expect(sampleValue(samples, `${P}outgoing_bytes_total`, { packet_type: type })).toBe(0);
    }
    // Server-only types are not listed as incoming, client-only ones not as outgoing.
    expect(() => sampleValue(samples, `${P}incoming_packets_total`, { packet_type: "connack" })).toThrow("found 0");
    expect(() => sampleValue(samples, `${P}outgoing_packets_total`, { packet_type: "subscribe" })).toThrow("found 0");
  });

  test("what the protocol counted appears under its labels", () => {
    const metrics = new AdapterMetrics();
    metrics.connectionOpened();
    metrics.connectionOpened();
    metrics.packetReceived(PacketType.Connect, 30);
    metrics.packetReceived(PacketType.Publish, 100);
    metrics.packetReceived(PacketType.Publish, 50);
    metrics.packetSent(PacketType.Connack, 4);
    metrics.packetSent(PacketType.Puback, 4);
    metrics.messagePublished(1);
    metrics.messagePublished(0);
    metrics.messagePublished(1);
    metrics.messageDelivered(2);
    metrics.pubackLatency(0.3);
    metrics.pubackLatency(3);
    metrics.pubackLatency(20_000);
    metrics.connectionClosed(CloseReason.SocketClosed);
    metrics.connectionClosed(ReasonCode.KeepAliveTimeout);
    metrics.connectionClosed(ReasonCode.KeepAliveTimeout);
    const samples = parsePrometheusText(renderMetrics(metrics, GAUGES));
    const value = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, P + name, labels);

    expect(value("connections_opened_total")).toBe(2);
    expect(value("incoming_packets_total", { packet_type: "publish" })).toBe(2);
    expect(value("incoming_bytes_total", { packet_type: "publish" })).toBe(150);
    expect(value("incoming_bytes_total", { packet_type: "connect" })).toBe(30);
    expect(value("outgoing_packets_total", { packet_type: "puback" })).toBe(1);
    expect(value("outgoing_bytes_total", { packet_type: "connack" })).toBe(4);
    expect(value("messages_published_total", { qos: "0" })).toBe(1);
    expect(value("messages_published_total", { qos: "1" })).toBe(2);
    expect(value("messages_published_total", { qos: "2" })).toBe(0);
    expect(value("messages_delivered_total", { qos: "2" })).toBe(1);
    expect(value("connections_closed_total", { reason: "socket_closed" })).toBe(1);
    expect(value("connections_closed_total", { reason: "keep_alive_timeout" })).toBe(2);
    expect(value("puback_latency_seconds_bucket", { le: "0.0005" })).toBe(1);
    expect(value("puback_latency_seconds_bucket", { le: "0.005" })).toBe(2);
    expect(value("puback_latency_seconds_bucket", { le: "10" })).toBe(2);
    expect(value("puback_latency_seconds_bucket", { le: "+Inf" })).toBe(3);
    expect(value("puback_latency_seconds_count")).toBe(3);
    expect(value("puback_latency_seconds_sum")).toBeCloseTo(20.0033, 6);
  });

  test("gauges come from the snapshot given; protocols without connections show 0", () => {
    const samples = parsePrometheusText(renderMetrics(new AdapterMetrics(), GAUGES));
    expect(sampleValue(samples, `${P}connections`, { protocol: "mqtt311" })).toBe(3);
    expect(sampleValue(samples, `${P}connections`, { protocol: "mqtt50" })).toBe(1);
    expect(sampleValue(samples, `${P}connections`, { protocol: "mqtt310" })).toBe(0);
    expect(sampleValue(samples, `${P}connections`, { protocol: "pending" })).toBe(0);
    expect(sampleValue(samples, `${P}amqp_connections`)).toBe(2);
    expect(sampleValue(samples, `${P}amqp_channels`)).toBe(5);
    expect(sampleValue(samples, `${P}qos0_local_deliveries_total`)).toBe(7);
    expect(sampleValue(samples, `${P}qos0_echoes_suppressed_total`)).toBe(6);
    expect(sampleValue(samples, `${P}build_info`, { version: VERSION, bun_version: Bun.version })).toBe(1);
    expect(sampleValue(samples, `${P}process_start_time_seconds`)).toBe(1_700_000_000);
  });
});
