/**
 * The scrape answer: every family of the adapter's metrics, named in the style of RabbitMQ's
 * `rabbitmq_prometheus` plugin under one prefix of our own, `rabbitmq_mqtt_adapter_`, so they
 * never collide with the broker's own series when both are scraped into one Prometheus.
 * Made from the counters (AdapterMetrics) and gauges counted from live objects at scrape time.
 */
import { VERSION } from "../version.ts";
import type { AdapterMetrics } from "./adapter-metrics.ts";
import { CLIENT_PACKET_TYPES, PROTOCOL_LABELS, SERVER_PACKET_TYPES, closeReasonLabel, packetTypeLabel } from "./labels.ts";
import { PrometheusText } from "./prometheus-text.ts";

/** The prefix of every metric the adapter exports. */
export const METRIC_PREFIX = "rabbitmq_mqtt_adapter_";

/** Values counted from live objects when scraped. */
export interface RuntimeGauges {
  /** Open MQTT connections by protocol label (see protocolLabel), missing labels count 0. */
  connectionsByProtocol: Readonly<Record<string, number>>;
  /** AMQP connections the adapter holds to RabbitMQ, and the channels open on them. */
  amqpConnections: number;
  amqpChannels: number;
  /** Local QoS 0 delivery (adapter.qos0_local_delivery): messages delivered locally, echoes dropped. */
  qos0LocalDeliveries: number;
  qos0EchoesDropped: number;
  /** When the process started, seconds since the epoch. */
  startTimeSeconds: number;
  residentMemoryBytes: number;
}

const QOS_LABELS = ["0", "1", "2"];

/** The text exposition of `metrics` and `gauges`. */
export function renderMetrics(metrics: AdapterMetrics, gauges: RuntimeGauges): string {
  const p = METRIC_PREFIX;
  const out = new PrometheusText();

  out.family(`${p}build_info`, "gauge", "rabbitmq-mqtt and Bun versions (always 1)");
  out.sample(`${p}build_info`, { version: VERSION, bun_version: Bun.version }, 1);
  out.family(`${p}process_start_time_seconds`, "gauge", "Start time of the adapter process since the Unix epoch, in seconds");
  out.sample(`${p}process_start_time_seconds`, undefined, gauges.startTimeSeconds);
  out.family(`${p}process_resident_memory_bytes`, "gauge", "Resident memory of the adapter process, in bytes");
  out.sample(`${p}process_resident_memory_bytes`, undefined, gauges.residentMemoryBytes);

  out.family(`${p}connections`, "gauge", "Open MQTT connections by protocol version (pending: no CONNECT accepted yet)");
  for (const protocol of PROTOCOL_LABELS) out.sample(`${p}connections`, { protocol }, gauges.connectionsByProtocol[protocol] ?? 0);
  out.family(`${p}connections_opened_total`, "counter", "MQTT connections accepted (sockets), since start");
  out.sample(`${p}connections_opened_total`, undefined, metrics.connectionsOpened);
  out.family(`${p}connections_closed_total`, "counter", "MQTT connections closed, by reason (client_disconnect, socket_closed, or the MQTT 5 reason code name)");
  const closed = metrics.connectionsClosed;
  let anyClosed = false;
  for (let reason = 0; reason < closed.length; reason++) {
    if (closed[reason] === 0) continue;
    anyClosed = true;
    out.sample(`${p}connections_closed_total`, { reason: closeReasonLabel(reason) }, closed[reason]!);
  }
  if (!anyClosed) out.sample(`${p}connections_closed_total`, { reason: closeReasonLabel(0) }, 0);

  out.family(`${p}incoming_packets_total`, "counter", "MQTT packets received from clients, by packet type");
  for (const type of CLIENT_PACKET_TYPES) out.sample(`${p}incoming_packets_total`, { packet_type: packetTypeLabel(type) }, metrics.incomingPackets[type]!);
  out.family(`${p}incoming_bytes_total`, "counter", "Bytes of MQTT packets received from clients (fixed header included), by packet type");
  for (const type of CLIENT_PACKET_TYPES) out.sample(`${p}incoming_bytes_total`, { packet_type: packetTypeLabel(type) }, metrics.incomingBytes[type]!);
  out.family(`${p}outgoing_packets_total`, "counter", "MQTT packets sent to clients, by packet type");
  for (const type of SERVER_PACKET_TYPES) out.sample(`${p}outgoing_packets_total`, { packet_type: packetTypeLabel(type) }, metrics.outgoingPackets[type]!);
  out.family(`${p}outgoing_bytes_total`, "counter", "Bytes of MQTT packets sent to clients, by packet type");
  for (const type of SERVER_PACKET_TYPES) out.sample(`${p}outgoing_bytes_total`, { packet_type: packetTypeLabel(type) }, metrics.outgoingBytes[type]!);

  out.family(`${p}messages_published_total`, "counter", "Messages published by MQTT clients and accepted by RabbitMQ (confirmed for QoS 1 and 2), by QoS");
  for (const qos of [0, 1, 2]) out.sample(`${p}messages_published_total`, { qos: QOS_LABELS[qos]! }, metrics.messagesPublished[qos]!);
  out.family(`${p}messages_delivered_total`, "counter", "Messages written to MQTT clients, by the QoS they were delivered with");
  for (const qos of [0, 1, 2]) out.sample(`${p}messages_delivered_total`, { qos: QOS_LABELS[qos]! }, metrics.messagesDelivered[qos]!);

  out.family(`${p}qos0_messages_dropped_total`, "counter", "QoS 0 messages of the shared fan-out (adapter.qos0_fanout = shared) not written to a client whose socket was backed up");
  out.sample(`${p}qos0_messages_dropped_total`, undefined, metrics.qos0MessagesDropped);
  out.family(`${p}qos0_local_deliveries_total`, "counter", "QoS 0 messages of this adapter's clients handed to its shared fan-out subscribers directly, without the round trip through RabbitMQ (adapter.qos0_local_delivery), once per subscribing user");
  out.sample(`${p}qos0_local_deliveries_total`, undefined, gauges.qos0LocalDeliveries);
  out.family(`${p}qos0_echoes_suppressed_total`, "counter", "copies of locally delivered QoS 0 messages that came back from RabbitMQ on a shared fan-out queue and were dropped");
  out.sample(`${p}qos0_echoes_suppressed_total`, undefined, gauges.qos0EchoesDropped);

  const latency = metrics.pubackLatencyMs;
  out.family(`${p}puback_latency_seconds`, "histogram", "Time from reading a QoS 1 PUBLISH to writing its PUBACK (includes RabbitMQ's publisher confirm)");
  out.histogram(`${p}puback_latency_seconds`, undefined, latency.upperBounds, latency.cumulative(), latency.sum, 0.001);

  out.family(`${p}amqp_connections`, "gauge", "AMQP 0-9-1 connections open to RabbitMQ (pooled per vhost and user)");
  out.sample(`${p}amqp_connections`, undefined, gauges.amqpConnections);
  out.family(`${p}amqp_channels`, "gauge", "AMQP 0-9-1 channels open on those connections");
  out.sample(`${p}amqp_channels`, undefined, gauges.amqpChannels);
  return out.text();
}
