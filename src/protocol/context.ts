/**
 * ConnectionContext: what the per-packet handlers (publish.ts, delivery.ts, subscribe.ts, ...)
 * may use of their connection. Only connected connections run handlers, so the session, the
 * protocol version and the session state are always there.
 */
import type { BackendSession } from "../backend/backend.ts";
import type { Packet, ProtocolVersion } from "../codec/index.ts";
import type { Logger } from "../log.ts";
import type { RetainedStore } from "../retained/index.ts";
import type { SessionState } from "../session/index.ts";
import type { ProtocolError } from "./errors.ts";
import type { ProtocolMetrics } from "./metrics.ts";
import type { SubscriptionMatcher } from "./topic-match.ts";

/** Why the connection is not reading from its client; reading resumes when no reason is left. */
export const enum PauseReason {
  /** CONNECT is being checked by the broker: later packets wait [MQTT-3.1.4-5]. */
  Connecting = 1,
  /** maxInflightPublishesPerClient PUBLISHes are waiting for the broker. */
  InflightPublishes = 2,
  /** A PUBLISH arrived while the broker blocked publishing (memory or disk alarm): until unblocked. */
  BrokerBlocked = 4,
  /** Too many SUBSCRIBE / UNSUBSCRIBE operations queued for the broker. */
  QueuedOperations = 8,
}

export interface ConnectionContext {
  /** Carries the connection id and client id. */
  readonly log: Logger;
  readonly protocolVersion: ProtocolVersion;
  /** The client's vhost (retained messages are kept per vhost). */
  readonly vhost: string;
  readonly session: BackendSession;
  /** Where retained messages are stored (after RabbitMQ accepted them) and found for new subscriptions. */
  readonly retainedStore: RetainedStore;
  /** Counters for the metrics endpoint (messages published, PUBACK latency). */
  readonly metrics: ProtocolMetrics;
  /** Subscriptions and QoS 2 ids; lives in the SessionStore for non-clean sessions. */
  readonly sessionState: SessionState;
  /** The same subscriptions, pre-split for matching deliveries. */
  readonly matcher: SubscriptionMatcher;
  /** Encodes and writes `packet`; the transport's answer (false = over its high-water mark). */
  send(packet: Packet): boolean;
  /** Bytes written to the client and not yet taken by its socket. */
  bufferedBytes(): number;
  /** Closes the connection because of `error` (logged once, answered per protocol version). */
  fail(error: ProtocolError): void;
  /** The client sent DISCONNECT: close without error; the will only if `publishWill` (MQTT 5 reason 0x04). */
  endCleanly(publishWill: boolean): void;
  /** Whether the connection still serves its client (false once closing began). */
  isOpen(): boolean;
  /** Sets or clears one reason to stop reading from the client. */
  setPaused(reason: PauseReason, paused: boolean): void;
  /**
   * Runs `operation` after every operation queued before it has finished, so the broker sees
   * SUBSCRIBE and UNSUBSCRIBE in the order the client sent them. A rejection closes the connection.
   */
  enqueue(operation: () => Promise<void>): void;
}
