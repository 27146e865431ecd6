/**
 * What this process remembers about one MQTT session between the client's connections.
 *
 * RabbitMQ holds the durable part of a session (its queue and bindings); this holds only what
 * RabbitMQ cannot give back cheaply: the QoS the client was granted per filter (bindings carry
 * no QoS) and, for QoS 2, the packet ids PUBREC'd but not yet released by PUBREL.
 *
 * Invariants:
 * - `subscriptions` holds exactly the filters whose SUBACK granted a QoS (never 0x80) and that
 *   were not unsubscribed since; the value is the QoS that SUBACK granted.
 * - every id in `awaitingPubrel` has been PUBREC'd and no PUBCOMP has been sent for it.
 */
import type { QoS } from "../codec/index.ts";

export interface SessionState {
  /** Granted QoS per topic filter (MQTT syntax, as the client sent it). Set by SUBSCRIBE / UNSUBSCRIBE. */
  readonly subscriptions: Map<string, QoS>;
  /** Inbound QoS 2 packet ids between our PUBREC and the client's PUBREL. */
  readonly awaitingPubrel: Set<number>;
}

/** An empty session: no subscriptions, nothing in flight. */
export function createSessionState(): SessionState {
  return { subscriptions: new Map(), awaitingPubrel: new Set() };
}
