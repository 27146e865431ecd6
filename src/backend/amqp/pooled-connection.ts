/**
 * One AMQP connection of a (vhost, user) pool and the channels its sessions share. A connection
 * has one role (user-connections.ts explains why): `publish` connections open only the publish
 * channel (and ops channels for connect-time checks), `consume` connections the consumer and ops
 * channels; a connection without a role yet (the login connection) only ops channels.
 *
 *   channel  | kind                         | used by                   | why this shape
 *   ---------+------------------------------+---------------------------+--------------------------------
 *   publish  | 1, confirm mode, shared      | every session's PUBLISH   | a publisher costs nothing of its own;
 *            |                              | and will                  | refusals contained (publish-channel.ts)
 *   consume  | 1..8, shared, many consumers | sessions that subscribed  | per-consumer prefetch + per-tag acks
 *            | each                         |                           | make sharing safe (consumer-channel.ts)
 *   ops      | 0..n, leased to one session  | declare/bind/unbind/      | a refused operation closes only the
 *            | at a time, dropped on error  | delete/passive/probe      | channel of the session that caused it
 *
 * A consume connection also holds the user's shared QoS 0 fan-out (qos0-fanout.ts: one exclusive
 * queue and one no-ack consumer on a consumer channel), made at the first clean QoS 0 subscription.
 *
 * All three are opened lazily: a connection that only authenticated clients holds no channel.
 * Each new consumer gets a consumer channel of its own until there are 8, then they share the
 * least loaded: a channel's RPCs run one at a time (basic.consume is a round trip, so one channel
 * caps how fast sessions can subscribe) and RabbitMQ runs each channel as one Erlang process, so
 * one channel serialises every delivery and ack of its consumers. A session stays on the channel
 * it started consuming on. (Publishes are not spread likewise: 4 publish channels dealt
 * round-robin measured slower than one, 29,000 vs 34,400 QoS 1 msg/s in bench/load qos1-64B.)
 * A connection carries as many sessions as come; it is "full" only when its negotiated
 * channel_max leaves no room for another ops channel, and then the pool opens another one.
 *
 * Broker flow control: connection.blocked (memory/disk alarm) and a full write buffer on the
 * publish channel both make `publishBlocked` true (false when both are clear); the owner
 * (user-connections.ts) decides who is told: only a publish connection's state counts.
 *
 * Idle: a connection that has carried no session (nor a connect in progress) for
 * `idleCloseMs` is closed (a new one too, if nobody uses it), so RabbitMQ does not keep a connection per user who once connected
 * (deployments with one RabbitMQ user per device would otherwise accumulate them).
 *
 * Loss: when the connection closes (broker restart, network, heartbeat timeout, shutdown) every
 * session on it gets `lost` once, its pending publishes fail with `unavailable`, and the pool
 * forgets the connection; a new one is opened lazily by the next client, never in a loop.
 */
import type { ChannelModel } from "amqplib";
import type { BackendError } from "../backend.ts";
import type { Logger } from "../../log.ts";
import { ConsumerChannel } from "./consumer-channel.ts";
import { fromOperationError } from "./errors.ts";
import { OpsChannels } from "./ops-channels.ts";
import { PublishChannel } from "./publish-channel.ts";
import { Qos0Fanout, type FanoutDirectory } from "./qos0-fanout.ts";

/** What a connection tells a session attached to it. */
export interface SessionLink {
  lost(error: BackendError): void;
  publishBlocked(blocked: boolean): void;
}

/** What a connection carries (see user-connections.ts); undefined while it only authenticated. */
export type ConnectionRole = "publish" | "consume";

/** Who keeps the connection (the (vhost, user) pool): told when it closes or its blocked state changes. */
export interface ConnectionOwner {
  connectionClosed(connection: PooledConnection): void;
  publishBlockedChanged(connection: PooledConnection): void;
}

/** RabbitMQ's default channel_max, for when amqplib does not tell us the negotiated one. */
const DEFAULT_CHANNEL_MAX = 2047;
/** Consumer channels per connection, at most. */
const MAX_CONSUMER_CHANNELS = 8;
/** Consumers (registered or being registered) per consumer channel before another one opens (until there are 8). */
const CONSUMERS_PER_CHANNEL = 1;
/** The publish channel and the consumer channels, kept out of the ops channels' share. */
const SHARED_CHANNELS = 1 + MAX_CONSUMER_CHANNELS;

export class PooledConnection {
  readonly sessions = new Set<SessionLink>();
  readonly ops: OpsChannels;
  readonly channelMax: number;
  /** Set once by the owner when the connection is first needed for publishing or consuming. */
  role: ConnectionRole | undefined;
  private publishChannel: PublishChannel | undefined;
  private readonly consumerChannels: ConsumerChannel[] = [];
  private fanout: Qos0Fanout | undefined;
  private brokerBlocked = false;
  private blockedNow = false;
  private lastError: unknown;
  /** Connects in progress that will attach a session (or give up): the connection is not idle. */
  private reservations = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set once the connection is closed (or closing): why. */
  dead: BackendError | undefined;

  constructor(
    private readonly model: ChannelModel,
    /** e.g. `vhost '/' user 'guest' #2`, for log lines. */
    readonly name: string,
    private readonly prefetch: number,
    /** How long without sessions before the connection is closed. */
    private readonly idleCloseMs: number,
    private readonly log: Logger,
    private readonly owner: ConnectionOwner,
  ) {
    const negotiated = (model.connection as unknown as { channelMax?: number }).channelMax;
    this.channelMax = typeof negotiated === "number" && negotiated > 0 ? negotiated : DEFAULT_CHANNEL_MAX;
    this.ops = new OpsChannels(model, Math.max(1, this.channelMax - SHARED_CHANNELS));
    model.on("error", (error: unknown) => (this.lastError = error));
    // amqplib emits 'error' only for close codes it deems fatal; 'close' carries the reason always.
    model.on("close", (error: unknown) => this.handleClose(error ?? this.lastError));
    model.on("blocked", (reason: unknown) => {
      const carries = this.role === "publish" ? "" : " (it carries no publishes: nobody is paused)";
      this.log.warning(`RabbitMQ blocked publishing on AMQP connection ${name}: ${String(reason)}${carries}`);
      this.brokerBlocked = true;
      this.updateBlocked();
    });
    model.on("unblocked", () => {
      this.log.info(`RabbitMQ unblocked publishing on AMQP connection ${name}`);
      this.brokerBlocked = false;
      this.updateBlocked();
    });
    this.checkIdle(); // nobody may come for it (e.g. the session that wanted it ended meanwhile)
  }

  /** Gives the connection its role (once); the log says which connection carries what. */
  assign(role: ConnectionRole): void {
    this.role = role;
    this.log.info(`AMQP connection ${this.name} carries ${role === "publish" ? "publishes" : "consumers and queue operations"}`);
  }

  /** The shared confirm-mode publish channel (opened at the first publish). */
  get publisher(): PublishChannel {
    this.publishChannel ??= new PublishChannel(
      this.model,
      () => this.updateBlocked(),
      (message) => this.log.warning(`${message} on AMQP connection ${this.name}`),
    );
    return this.publishChannel;
  }

  /** The shared QoS 0 fan-out of this (consume) connection, made at first use (qos0-fanout.ts). */
  qos0Fanout(exchange: string, directory: FanoutDirectory | undefined): Qos0Fanout {
    this.fanout ??= new Qos0Fanout(this, exchange, (message) => this.log.warning(`${message} on AMQP connection ${this.name}`), directory);
    return this.fanout;
  }

  /** The consumer channel a new consumer should use: the least loaded, or a new one (opened lazily). */
  pickConsumerChannel(): ConsumerChannel {
    let best: ConsumerChannel | undefined;
    for (const channel of this.consumerChannels) if (best === undefined || channel.load < best.load) best = channel;
    if (best !== undefined && (best.load < CONSUMERS_PER_CHANNEL || this.consumerChannels.length >= MAX_CONSUMER_CHANNELS)) {
      return best;
    }
    const created = new ConsumerChannel(this.model, this.prefetch, (message) =>
      this.log.warning(`${message} on AMQP connection ${this.name}`),
    );
    this.consumerChannels.push(created);
    return created;
  }

  /**
   * Channels open on this connection now, from amqplib's channel table (slot 0 is the connection
   * itself): counting there, not in our own channel objects, also catches channels being opened
   * or closed.
   */
  get openChannels(): number {
    const table = (this.model.connection as unknown as { channels?: ReadonlyArray<unknown> }).channels;
    if (!Array.isArray(table)) return 0;
    let open = 0;
    for (let i = 1; i < table.length; i++) if (table[i] != null) open++;
    return open;
  }

  /** The broker's connection.start server properties (`product`, `version`, …), as amqplib keeps them. */
  get serverProperties(): { product?: unknown; version?: unknown } | undefined {
    return (this.model.connection as unknown as { serverProperties?: { product?: unknown; version?: unknown } }).serverProperties;
  }

  /** True while publishers on this connection must wait (connection.blocked or write buffer full). */
  get publishBlocked(): boolean {
    return this.blockedNow;
  }

  /** No room for another ops channel under channel_max: the pool should use or open another connection. */
  get full(): boolean {
    return this.ops.inUse + SHARED_CHANNELS >= this.channelMax;
  }

  /** A connect is about to use this connection: keep it open until `unreserve()`. */
  reserve(): void {
    this.reservations++;
    clearTimeout(this.idleTimer);
  }

  unreserve(): void {
    this.reservations--;
    this.checkIdle();
  }

  attach(session: SessionLink): void {
    this.sessions.add(session);
    clearTimeout(this.idleTimer);
  }

  detach(session: SessionLink): void {
    this.sessions.delete(session);
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.sessions.size > 0 || this.reservations > 0 || this.dead !== undefined) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.sessions.size > 0 || this.reservations > 0) return;
      void this.close({ kind: "unavailable", message: "closed after being idle" }, 5_000);
    }, this.idleCloseMs);
    (this.idleTimer as { unref?: () => void }).unref?.();
  }

  /** Waits (up to `flushTimeoutMs`) for pending publisher confirms, then closes the connection. */
  async close(reason: BackendError, flushTimeoutMs: number): Promise<void> {
    if (this.dead !== undefined) return;
    this.dead = reason; // from now on the pool hands this connection to nobody
    if (this.publishChannel !== undefined) await this.publishChannel.flush(flushTimeoutMs);
    try {
      await this.model.close();
    } catch {
      // Already closed by the broker: handleClose ran or will run.
    }
  }

  private updateBlocked(): void {
    const blocked = this.brokerBlocked || (this.publishChannel?.paused ?? false);
    if (blocked === this.blockedNow) return;
    this.blockedNow = blocked;
    this.owner.publishBlockedChanged(this);
  }

  private handleClose(reason: unknown): void {
    const error: BackendError =
      this.dead ??
      (reason === undefined
        ? { kind: "unavailable", message: "RabbitMQ closed the AMQP connection" }
        : { ...fromOperationError(reason), kind: "unavailable" });
    this.dead = error;
    clearTimeout(this.idleTimer);
    this.log.info(`AMQP connection ${this.name} closed: ${error.message}`);
    this.publishChannel?.fail(error);
    this.fanout?.connectionClosed();
    for (const channel of this.consumerChannels) channel.close();
    this.ops.close();
    this.owner.connectionClosed(this);
    const sessions = [...this.sessions];
    this.sessions.clear();
    for (const session of sessions) session.lost(error);
  }
}
