/**
 * RetainedStore: where retained messages live, per vhost, last message per topic. `protocol/`
 * sees only this interface, so a store shared by several adapter instances (behind one load
 * balancer) can replace the embedded single-file default without touching the protocol.
 *
 * The methods are asynchronous so that such a shared store (over the network) fits; the embedded
 * store answers at once. What every implementation guarantees:
 * - calls take effect in call order: a `match()` or `get()` called after a `put()` sees it
 *   (a client that got PUBACK for a retained publish and then subscribes gets that message);
 * - `put()` copies what it keeps: the payload may be a view that dies when the call returns;
 * - the store is bounded (count and payload bytes) and says so in the log when a bound refuses a
 *   message; it never drops a message silently.
 */
import type { QoS } from "../codec/index.ts";

/** A retained message as `get()` returns it. */
export interface RetainedMessage {
  topic: string;
  /** The QoS it was published with; delivered at min(this, granted) [MQTT-3.8.4-6]. */
  qos: QoS;
  /** Owned by the caller (never a view into the store's memory). */
  payload: Uint8Array;
}

/** A topic that `match()` found, with its stored QoS (the payload is fetched by `get()`). */
export interface RetainedRef {
  readonly topic: string;
  readonly qos: QoS;
}

/** What became of a `put()`. */
export type RetainOutcome =
  /** Stored (new topic) or replaced the topic's previous message. */
  | { kind: "stored" }
  /** Empty payload: the topic's message, if any, is gone [MQTT-3.3.1-10] [MQTT-3.3.1-11]. */
  | { kind: "deleted" }
  /**
   * A bound refused it. `droppedPrevious` is true when the topic had a message, which is now
   * deleted rather than kept: a stale message must not be handed to later subscribers as the
   * topic's last one [MQTT-3.3.1-5]. The store has logged it.
   */
  | { kind: "refused"; reason: string; droppedPrevious: boolean };

export interface RetainedStore {
  /**
   * Applies a PUBLISH with the retain flag, after RabbitMQ accepted it: stores `payload` as the
   * last message of `topic` in `vhost`, or deletes the topic's message when `payload` is empty.
   */
  put(vhost: string, topic: string, payload: Uint8Array, qos: QoS): Promise<RetainOutcome>;
  /**
   * The retained topics of `vhost` matching `filter` (AMQP topic semantics in MQTT syntax: `+`
   * one level, `#` zero or more, anywhere; filters starting with a wildcard skip `$` topics
   * [MQTT-4.7.2-1]), each once.
   */
  match(vhost: string, filter: string): Promise<RetainedRef[]>;
  /** The current message of `topic` in `vhost`, or undefined (never stored, or deleted since). */
  get(vhost: string, topic: string): Promise<RetainedMessage | undefined>;
  /** Retained messages held, and their payload bytes (for logs and metrics). */
  readonly count: number;
  readonly bytes: number;
  /** Releases files and connections; the store must not be used afterwards. */
  close(): void;
}

/** The bounds of a store: `adapter.retained.max_count` and `adapter.retained.max_bytes`. */
export interface RetainedLimits {
  /** Most retained messages kept, all vhosts together. */
  maxCount: number;
  /** Most payload bytes kept, all vhosts together. */
  maxBytes: number;
}
