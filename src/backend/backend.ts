/**
 * The interface `protocol/` uses to reach the message broker. `protocol/` knows nothing of AMQP:
 * it hands over MQTT-level things (topics, filters, QoS, payload views) and gets MQTT-level
 * things back. `backend/amqp/` implements it on RabbitMQ; `backend/memory/` is an in-process fake
 * for protocol tests. A shared contract suite keeps the two honest.
 *
 * Invariants every implementation keeps:
 * - `publish()` resolves only once the broker has taken responsibility for the message
 *   (publisher confirm for QoS >= 1): a resolved QoS 1 publish is never lost.
 * - A delivery stays unsettled (counts against the prefetch window, is redelivered with
 *   `dup = true` after a reconnect) until `settle()` is called with its tag.
 * - One session's failure (refused bind, refused publish, deleted queue) never disturbs
 *   another session, even one sharing the same broker connection.
 */
import type { QoS } from "../codec/index.ts";

/** Why the backend said no. `protocol/` maps these to CONNACK / SUBACK / DISCONNECT codes. */
export type BackendErrorKind =
  /** Wrong username or password (AMQP 403 at login). MQTT 3.1.1 CONNACK 4. */
  | "bad-credentials"
  /** Authenticated, but not allowed: vhost access refused (AMQP 530), or a resource refused (403). */
  | "not-authorised"
  /** The broker cannot be reached or went away. CONNACK 3. */
  | "unavailable"
  /** Something the operation needs does not exist (AMQP 404: exchange or queue). */
  | "not-found"
  /** Anything else the broker refused (AMQP 406 precondition, 5xx, …). */
  | "failed";

/** A broker refusal as a value, with the broker's own words kept for the log line. */
export interface BackendError {
  kind: BackendErrorKind;
  /** The AMQP reply code when there was one (403, 404, 406, 530, …). */
  amqpReplyCode?: number;
  /** For the operator: what was refused and by whom, e.g. RabbitMQ's reply text. */
  message: string;
}

export interface ConnectRequest {
  /** Used for the session queue name and takeover. Never empty here (protocol/ assigns one). */
  clientId: string;
  /** The RabbitMQ user, already split from `vhost:user` and defaulted for anonymous clients. */
  username: string;
  password: string;
  vhost: string;
  /**
   * The client's verified TLS certificate (DER) when it logs in with it (mqtt.ssl_cert_login):
   * the broker must check `username` exists and may use `vhost` without a password (RabbitMQ:
   * the EXTERNAL mechanism); `password` is then "" and must not be used.
   */
  clientCertificate?: Uint8Array;
  /** Clean session: drop any stored session now, and everything this session creates at close. */
  cleanSession: boolean;
  /** For logs and the broker's connection name. */
  peer: string;
  /** Unique per MQTT connection within this process. */
  connectionId: string;
  /**
   * Called (and awaited) once the broker accepted the credentials, before any session state is
   * read or changed (leftover queue deleted, session queue found or consumed). `protocol/` uses it
   * to close an older connection with the same client id first (takeover): that connection's
   * unsettled deliveries are back in the queue before this session consumes it, and an
   * unauthenticated client can never kick a connected one. Optional for backends: when it is not
   * called, `protocol/` takes over after `connect()` resolved (weaker ordering, nothing lost).
   */
  onAuthenticated?: () => Promise<void>;
}

export type ConnectOutcome =
  | { ok: true; session: BackendSession; sessionPresent: boolean }
  | { ok: false; error: BackendError };

/** An MQTT PUBLISH (or will) on its way to the broker. */
export interface OutboundMessage {
  /** MQTT topic name (no wildcards); the backend translates it to a routing key. */
  topic: string;
  /** May be a view into the decoder's buffer: the backend copies it if it keeps it past the call. */
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /**
   * Resolve only once the broker confirmed the message, even at QoS 0 (which otherwise resolves
   * when sent). A retained message is stored only after RabbitMQ accepted it, so that a publish
   * RabbitMQ refuses (write or topic permission) never becomes a retained message.
   */
  confirm?: boolean;
}

/** A message from the broker for this session. */
export interface Delivery {
  /** Opaque handle for `settle()`. */
  tag: DeliveryTag;
  /** MQTT topic name, reverse-translated from the routing key. */
  topic: string;
  /** The routing key as the broker had it (for matching against filters and for logs). */
  routingKey: string;
  payload: Uint8Array;
  /** The publisher's QoS: header `x-mqtt-publish-qos`, or 1 when absent (an AMQP publisher). */
  messageQos: QoS;
  /** The broker's `redelivered` flag: an earlier attempt may have reached the client. */
  redelivered: boolean;
  /**
   * Nothing holds this delivery for the client (no ack, no prefetch window: a shared QoS 0
   * fan-out): if the client cannot take it now (its socket is backed up) it is dropped, not
   * queued. Absent = false.
   */
  droppable?: boolean;
}

/** Identifies one unsettled delivery; only the backend looks inside. */
export type DeliveryTag = object | number;

export interface SubscribeRequest {
  /** MQTT topic filter, already validated; wildcards may be anywhere (AMQP semantics). */
  filter: string;
  qos: QoS;
}

/** Per filter: ok, or the refusal (SUBACK failure for that filter only). */
export type SubscribeResult = { ok: true } | { ok: false; error: BackendError };

/** What a session tells its MQTT connection. Called from the backend's I/O callbacks. */
export interface SessionEvents {
  /**
   * A message for the client. Never called before `connect()` has resolved (so CONNACK can go
   * first); may be called before `subscribe()` resolves (the spec allows PUBLISH before SUBACK).
   */
  deliver(delivery: Delivery): void;
  /**
   * The broker side of this session is gone (connection lost, queue deleted, channel refused):
   * the MQTT connection must close. Called at most once.
   */
  lost(error: BackendError): void;
  /**
   * The broker blocked (memory/disk alarm) or unblocked publishing for this session's user:
   * publishes wait meanwhile, nothing else does (deliveries, settle, subscribe, new connects go
   * on). The protocol stops reading a client only when it PUBLISHes while blocked.
   */
  publishBlocked(blocked: boolean): void;
}

/** One MQTT session's view of the broker. Every method is safe to call after `lost`. */
export interface BackendSession {
  /**
   * Publishes to the configured exchange. Resolves when the broker confirmed it (QoS >= 1)
   * or accepted it for sending (QoS 0); rejects never: failures come back as a value.
   */
  publish(message: OutboundMessage): Promise<BackendError | undefined>;
  /** Binds each filter to the session queue (declaring the queue and consumer lazily). */
  subscribe(requests: SubscribeRequest[]): Promise<SubscribeResult[]>;
  /** Unbinds each filter. Unknown filters are not an error. */
  unsubscribe(filters: string[]): Promise<BackendError | undefined>;
  /** The client has the delivery (PUBACK, or QoS 0 bytes written): ack it to the broker. */
  settle(tag: DeliveryTag): void;
  /**
   * Ends the session. `clean` = the session state goes away (clean session): the session queue
   * is deleted. Otherwise unsettled deliveries are returned to the queue for redelivery.
   */
  close(options: { clean: boolean }): Promise<void>;
}

/** One broker connection, as `rabbitmq-mqtt status` shows it. */
export interface BrokerConnectionStats {
  /** As in the log lines, e.g. `vhost '/' user 'guest' #2`. */
  name: string;
  vhost: string;
  username: string;
  /** Channels open on it now. */
  channels: number;
  /** MQTT sessions it carries. */
  sessions: number;
  /** Publishing is paused on it (RabbitMQ's resource alarm, or a full write buffer). */
  publishBlocked: boolean;
}

/** The broker connections of a backend, for `status` and the metrics endpoint. */
export interface BackendStats {
  /** The broker as it introduced itself (AMQP server properties), e.g. "RabbitMQ" "3.10.8"; unset until a connection opened. */
  serverProduct?: string;
  serverVersion?: string;
  connections: BrokerConnectionStats[];
  /** QoS 0 messages handed to a subscriber of this process without the trip through the broker, and their copies from the broker dropped. */
  qos0LocalDeliveries?: number;
  qos0EchoesDropped?: number;
}

/** The broker, as `protocol/` sees it. */
export interface Backend {
  /**
   * Authenticates the client against the broker and opens its session. A clean session deletes
   * any leftover session queue first; `sessionPresent` is true only for a non-clean session
   * whose queue already existed.
   */
  connect(request: ConnectRequest, events: SessionEvents): Promise<ConnectOutcome>;
  /** Closes every broker connection. */
  shutdown(): Promise<void>;
  /** The broker connections now (optional: a backend without connections of its own has none to show). */
  stats?(): BackendStats;
}
