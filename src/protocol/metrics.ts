/**
 * ProtocolMetrics: the counters a Connection bumps as it works. Declared here, implemented in
 * src/metrics (server.ts passes it in ConnectionDeps), so protocol/ does not depend on how they
 * are kept or exported. Every call sits on a hot path (once per packet), so implementations
 * must do no more than add to a number: no allocation, no string-keyed lookup.
 */
import type { PacketType, QoS, ReasonCode } from "../codec/index.ts";

/**
 * Why a connection closed, for `connectionClosed`: an MQTT 5 reason code (0x80..0xA2, what the
 * ProtocolError carried; the same code picks the 3.x CONNACK return code), or one of these.
 */
export enum CloseReason {
  /** The client sent DISCONNECT. */
  ClientDisconnect = 0x00,
  /** The socket closed (client gone, network error) without a DISCONNECT. */
  SocketClosed = 0x100,
}

/** Highest value `connectionClosed` receives, so implementations can size an array once. */
export const MAX_CLOSE_REASON = CloseReason.SocketClosed;

export interface ProtocolMetrics {
  /** A whole packet decoded from a client: its type and size, fixed header included. */
  packetReceived(type: PacketType, sizeBytes: number): void;
  /** A packet encoded and handed to the transport. */
  packetSent(type: PacketType, sizeBytes: number): void;
  /** A client's PUBLISH was accepted by the broker (confirmed, for QoS 1 and 2). */
  messagePublished(qos: QoS): void;
  /** A PUBLISH was written to a client (a broker delivery or a retained message). */
  messageDelivered(qos: QoS): void;
  /** A droppable QoS 0 delivery (shared fan-out) was not written: the client's socket was backed up. */
  qos0MessageDropped(): void;
  /** Time from a QoS 1 PUBLISH being read to its PUBACK being written, ms. */
  pubackLatency(latencyMs: number): void;
  /** A socket was accepted and a Connection made for it. */
  connectionOpened(): void;
  /** The connection started closing, for `reason` (a ReasonCode or a CloseReason). */
  connectionClosed(reason: ReasonCode | CloseReason): void;
}

/** What a Connection uses when it is given no metrics (protocol tests, tools). */
export const NO_METRICS: ProtocolMetrics = {
  packetReceived() {},
  packetSent() {},
  messagePublished() {},
  messageDelivered() {},
  qos0MessageDropped() {},
  pubackLatency() {},
  connectionOpened() {},
  connectionClosed() {},
};
