/**
 * What this process remembers about one MQTT session between the client's connections.
 *
 * RabbitMQ holds the durable part of a session (its queue and bindings); this holds only what
 * RabbitMQ cannot give back cheaply: the QoS the client was granted per filter (bindings carry
 * no QoS) and the QoS 2 packet ids whose flow is half done, both ways, so that a client
 * reconnecting to a persistent session continues them [MQTT-4.4.0-1].
 *
 * Invariants:
 * - `subscriptions` holds exactly the filters whose SUBACK granted a QoS (never 0x80) and that
 *   were not unsubscribed since; the value is the QoS that SUBACK granted.
 * - every id in `awaitingPubrel` has been PUBREC'd and no PUBCOMP has been sent for it;
 * - every id in `awaitingPubcomp` was PUBREC'd by the client and answered with our PUBREL, and
 *   its PUBCOMP has not arrived; its broker delivery is settled (the client owns the message),
 *   at PUBCOMP or, at the latest, when the connection closes.
 */
import type { QoS } from "../codec/index.ts";

export interface SessionState {
  /** Granted QoS per topic filter (MQTT syntax, as the client sent it). Set by SUBSCRIBE / UNSUBSCRIBE. */
  readonly subscriptions: Map<string, QoS>;
  /** Inbound QoS 2 packet ids between our PUBREC and the client's PUBREL. */
  readonly awaitingPubrel: Set<number>;
  /** Outbound QoS 2 packet ids between our PUBREL and the client's PUBCOMP: PUBREL is resent on reconnect. */
  readonly awaitingPubcomp: Set<number>;
}

/** An empty session: no subscriptions, nothing in flight. */
export function createSessionState(): SessionState {
  return { subscriptions: new Map(), awaitingPubrel: new Set(), awaitingPubcomp: new Set() };
}

/** Whether a QoS 2 flow of this session is half done (a reconnecting client must continue it). */
export function hasPacketIdState(state: SessionState): boolean {
  return state.awaitingPubrel.size > 0 || state.awaitingPubcomp.size > 0;
}
