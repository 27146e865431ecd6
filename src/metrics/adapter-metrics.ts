/**
 * The adapter's counters, kept as plain numbers in typed arrays indexed by packet type, QoS or
 * close reason: what a Connection calls per packet (ProtocolMetrics) is one or two additions,
 * with no allocation and no string-keyed lookup. Names, labels and text are made only when
 * Prometheus scrapes (render.ts). Gauges (open connections, AMQP connections) are not kept
 * here at all: they are counted from the live objects at scrape time.
 *
 * Invariant: every counter only grows (Prometheus counters), from 0 at process start.
 */
import type { PacketType, QoS } from "../codec/index.ts";
import { MAX_CLOSE_REASON, type ProtocolMetrics } from "../protocol/index.ts";
import { Histogram } from "./histogram.ts";

/** PUBACK latency bucket bounds, ms (rendered in seconds): 0.5 ms … 10 s. */
export const PUBACK_LATENCY_BOUNDS_MS = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** Packet types are 4 bits: index 0..15. */
const PACKET_TYPES = 16;

export class AdapterMetrics implements ProtocolMetrics {
  /** Packets and bytes read from clients, by packet type (fixed header included). */
  readonly incomingPackets = new Float64Array(PACKET_TYPES);
  readonly incomingBytes = new Float64Array(PACKET_TYPES);
  /** Packets and bytes written to clients, by packet type. */
  readonly outgoingPackets = new Float64Array(PACKET_TYPES);
  readonly outgoingBytes = new Float64Array(PACKET_TYPES);
  /** Client PUBLISHes the broker accepted, by QoS. */
  readonly messagesPublished = new Float64Array(3);
  /** PUBLISHes written to clients, by QoS. */
  readonly messagesDelivered = new Float64Array(3);
  /** Connections closed, by ReasonCode / CloseReason (index = the code). */
  readonly connectionsClosed = new Float64Array(MAX_CLOSE_REASON + 1);
  connectionsOpened = 0;
  /** Shared-fan-out QoS 0 deliveries not written because the client's socket was backed up. */
  qos0MessagesDropped = 0;
  /** QoS 1 PUBLISH read → PUBACK written, ms. */
  readonly pubackLatencyMs = new Histogram(PUBACK_LATENCY_BOUNDS_MS);

  packetReceived(type: PacketType, sizeBytes: number): void {
    this.incomingPackets[type]! += 1;
    this.incomingBytes[type]! += sizeBytes;
  }

  packetSent(type: PacketType, sizeBytes: number): void {
    this.outgoingPackets[type]! += 1;
    this.outgoingBytes[type]! += sizeBytes;
  }

  messagePublished(qos: QoS): void {
    this.messagesPublished[qos]! += 1;
  }

  messageDelivered(qos: QoS): void {
    this.messagesDelivered[qos]! += 1;
  }

  qos0MessageDropped(): void {
    this.qos0MessagesDropped++;
  }

  pubackLatency(latencyMs: number): void {
    this.pubackLatencyMs.observe(latencyMs);
  }

  connectionOpened(): void {
    this.connectionsOpened++;
  }

  connectionClosed(reason: number): void {
    // Out-of-range codes would be our bug; count them nowhere rather than grow the array.
    if (reason >= 0 && reason <= MAX_CLOSE_REASON) this.connectionsClosed[reason]! += 1;
  }
}
