/**
 * `Backend` on RabbitMQ over AMQP 0-9-1 (amqplib). The only module server.ts needs from here.
 * How it maps MQTT onto RabbitMQ: naming.ts (names, topic ⇄ routing key), headers.ts (message
 * headers), pool.ts (authentication, connections per vhost and user), user-connections.ts (a
 * user's publish and consume connections), pooled-connection.ts (the channels a connection's
 * sessions share), session.ts (queues, bindings, consumers), qos0-fanout.ts and local-qos0.ts
 * (clean-session QoS 0 subscribers sharing a queue, and messages between this process's clients).
 */
import type { Backend, BackendError, BackendStats, ConnectOutcome, ConnectRequest, SessionEvents } from "../backend.ts";
import type { Logger } from "../../log.ts";
import { LocalQos0Delivery } from "./local-qos0.ts";
import { checkShortString, sessionQueueName } from "./naming.ts";
import { probeRead, type OpsLease } from "./ops-channels.ts";
import { ConnectionPool, type ExternalCredentials, type Login } from "./pool.ts";
import type { ConnectionRole, PooledConnection } from "./pooled-connection.ts";
import { AmqpBackendSession } from "./session.ts";
import type { UserConnections } from "./user-connections.ts";

/** Constructor options: plain values, mapped from the config in server.ts. */
export interface AmqpBackendOptions {
  /** `amqp://host:port` (or amqps://); the credentials and vhost come from each client. */
  url: string;
  /** `mqtt.exchange`: where MQTT publishes go and subscriptions bind (default amq.topic). */
  exchange: string;
  /** `mqtt.subscription_ttl`: `x-expires` of session queues, in ms; null = never expire (no x-expires). */
  subscriptionTtlMs: number | null;
  /**
   * `mqtt.durable_queue_type`: queue type of persistent sessions' queues (quorum: replicated,
   * `x-queue-type = quorum`, RabbitMQ 3.10 supports x-expires on them). Default classic.
   */
  durableQueueType?: "classic" | "quorum";
  /**
   * `adapter.qos0_fanout`: clean-session QoS 0 subscriptions bind one shared queue per (vhost,
   * user) that this process fans out (qos0-fanout.ts), or the session's own queue. Default shared.
   */
  qos0Fanout?: "shared" | "per_session";
  /**
   * `adapter.qos0_local_delivery`: with the shared fan-out, a QoS 0 publish of a client of this
   * process reaches the matching shared subscribers here at once (local-qos0.ts). Default true.
   */
  qos0LocalDelivery?: boolean;
  /** `mqtt.prefetch`: unacked deliveries per session (basic.qos per consumer). */
  prefetch: number;
  /** How long a successful login is reused without asking RabbitMQ again (0 = always ask). */
  authCacheTtlMs: number;
  /** AMQP heartbeat; default 60 s (RabbitMQ's default). */
  heartbeatSeconds?: number;
  log: Logger;
  /** Passed to amqplib's connect: TLS options (ca, cert, key…), `timeout` in ms, … */
  socketOptions?: object;
  /** How long shutdown() waits for pending publisher confirms; default 5000 ms. */
  shutdownFlushMs?: number;
  /** An AMQP connection that has carried no session for this long is closed; default 30000 ms. */
  idleConnectionMs?: number;
  /**
   * Client certificate logins (mqtt.ssl_cert_login): TLS credentials that RabbitMQ's EXTERNAL
   * mechanism accepts as the identity of a client certificate (server.ts: the adapter CA).
   * Unset: such logins are refused with a message saying what to configure.
   */
  externalCredentials?: ExternalCredentials;
}

export class AmqpBackend implements Backend {
  private readonly pool: ConnectionPool;
  /** Set when local QoS 0 delivery is on (the shared fan-out, and `qos0LocalDelivery` not false). */
  private readonly localQos0: LocalQos0Delivery | undefined;

  /** Throws on options that cannot work (a startup error, reported before any port opens). */
  constructor(private readonly options: AmqpBackendOptions) {
    const { prefetch, subscriptionTtlMs, authCacheTtlMs } = options;
    if (!Number.isInteger(prefetch) || prefetch < 0 || prefetch > 65_535) {
      throw new Error(`prefetch must be an integer 0..65535 (AMQP basic.qos prefetch-count), got ${prefetch}`);
    }
    if (subscriptionTtlMs !== null && (!Number.isInteger(subscriptionTtlMs) || subscriptionTtlMs < 1)) {
      throw new Error(`subscription TTL must be a positive integer of milliseconds (queue x-expires), got ${subscriptionTtlMs}`);
    }
    if (!Number.isFinite(authCacheTtlMs) || authCacheTtlMs < 0) {
      throw new Error(`authCacheTtlMs must be 0 or more milliseconds, got ${authCacheTtlMs}`);
    }
    if (options.exchange === "") throw new Error("exchange must not be empty (the default exchange cannot be bound to)");
    const sharedFanout = (options.qos0Fanout ?? "shared") === "shared";
    this.localQos0 = sharedFanout && options.qos0LocalDelivery !== false ? new LocalQos0Delivery() : undefined;
    this.pool = new ConnectionPool({
      url: options.url,
      heartbeatSeconds: options.heartbeatSeconds ?? 60,
      socketOptions: { ...(options.socketOptions as Record<string, unknown> | undefined) },
      authCacheTtlMs: options.authCacheTtlMs,
      prefetch: options.prefetch,
      idleConnectionMs: options.idleConnectionMs ?? 30_000,
      log: options.log,
      ...(options.externalCredentials === undefined ? {} : { externalCredentials: options.externalCredentials }),
    });
  }

  /** AMQP connections open for a (vhost, user) pool, or only those carrying `role`: for tests and metrics. */
  connectionCount(vhost: string, username: string, role?: ConnectionRole): number {
    return this.pool.connectionCount(vhost, username, role);
  }

  /** The AMQP connections of every pool, with their channels and sessions (for `status` and metrics). */
  stats(): BackendStats {
    const stats = this.pool.stats();
    if (this.localQos0 === undefined) return stats;
    return { ...stats, qos0LocalDeliveries: this.localQos0.deliveredLocally, qos0EchoesDropped: this.localQos0.echoesDropped };
  }

  async connect(request: ConnectRequest, events: SessionEvents): Promise<ConnectOutcome> {
    const queueName = sessionQueueName(request.clientId);
    const badName = checkShortString(queueName, `session queue name for client id "${request.clientId}"`);
    if (badName !== undefined) return { ok: false, error: badName };
    const login: Login = {
      username: request.username,
      password: request.password,
      vhost: request.vhost,
      ...(request.clientCertificate === undefined ? {} : { clientCertificate: request.clientCertificate }),
    };
    const attached = await this.pool.attach(login);
    if (!attached.ok) return attached;
    const connection = attached.connection;
    try {
      return await this.openSession(attached.user, login, connection, request, queueName, events);
    } finally {
      connection.unreserve();
    }
  }

  private async openSession(
    user: UserConnections,
    login: Login,
    connection: PooledConnection,
    request: ConnectRequest,
    queueName: string,
    events: SessionEvents,
  ): Promise<ConnectOutcome> {
    // Takeover: the older connection's deliveries are back in the queue before we look at it.
    try {
      await request.onAuthenticated?.();
    } catch (error) {
      return { ok: false, error: { kind: "failed", message: `closing the previous connection of this client id failed: ${String(error)}` } };
    }

    const lease = connection.ops.lease();
    let stored: { exists: boolean } | BackendError;
    try {
      stored = request.cleanSession ? await discardStored(lease, queueName) : await findStored(lease, queueName);
    } finally {
      lease.release();
    }
    if ("kind" in stored) return { ok: false, error: stored };
    if (connection.dead !== undefined) return { ok: false, error: connection.dead };

    const session = new AmqpBackendSession(
      user,
      login,
      connection,
      queueName,
      request.cleanSession,
      stored.exists,
      {
        exchange: this.options.exchange,
        subscriptionTtlMs: this.options.subscriptionTtlMs,
        durableQueueType: this.options.durableQueueType ?? "classic",
        qos0Fanout: this.options.qos0Fanout ?? "shared",
        localQos0: this.localQos0,
      },
      events,
    );
    // Nothing reaches `events` before the caller has its session (and sent CONNACK).
    setTimeout(() => session.start(), 0);
    return { ok: true, session, sessionPresent: stored.exists };
  }

  async shutdown(): Promise<void> {
    await this.pool.shutdown(this.options.shutdownFlushMs ?? 5_000);
  }
}

/**
 * Clean session [MQTT-3.1.2-6]: delete any leftover session queue. queue.delete of a missing
 * queue succeeds in RabbitMQ, so one round trip does it. A user without configure permission on
 * the name is refused (403) even when there is nothing to delete: then a passive declare tells
 * whether a leftover really exists, and only that is an error.
 */
async function discardStored(lease: OpsLease, queueName: string): Promise<{ exists: false } | BackendError> {
  const deleted = await lease.run((ch) => ch.deleteQueue(queueName));
  if (deleted.ok) return { exists: false };
  if (deleted.error.kind === "unavailable") return deleted.error;
  const found = await lease.run((ch) => ch.checkQueue(queueName));
  if (found.ok) return deleted.error;
  return found.error.amqpReplyCode === 404 ? { exists: false } : found.error;
}

/**
 * Non-clean session: a passive declare says whether the session queue exists (sessionPresent)
 * without redeclaring it (no 406 if its arguments differ from ours). A stored queue is probed for
 * read permission here, so a refusal is a CONNACK, not a later disconnect (session.ts explains
 * the probe).
 */
async function findStored(lease: OpsLease, queueName: string): Promise<{ exists: boolean } | BackendError> {
  const found = await lease.run((ch) => ch.checkQueue(queueName));
  if (!found.ok) return found.error.amqpReplyCode === 404 ? { exists: false } : found.error;
  const refused = await probeRead(lease, queueName);
  return refused ?? { exists: true };
}
