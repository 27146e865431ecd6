/**
 * One MQTT session on RabbitMQ, allocated lazily (DESIGN.md: spend broker resources only where
 * MQTT semantics need them):
 *
 *   client does            | RabbitMQ holds for it
 *   -----------------------+-----------------------------------------------------------------
 *   connects only          | nothing (its pool connection is shared; no channel, no queue)
 *   publishes              | nothing of its own: the shared confirm channel of its user's
 *                          | publish connection (opened at the first PUBLISH of any client)
 *   subscribes             | its session queue + one consumer on a shared consumer channel of
 *                          | its user's consume connection (opened at the first SUBSCRIBE)
 *
 * Which connections a session uses, and when it gets them: session-connections.ts.
 *
 * Session queue `mqtt-subscription-<clientid>qos1` (naming.ts), one per session for all filters:
 * RabbitMQ routes a message to a queue once however many bindings match, so overlapping
 * subscriptions deliver one copy (the plugin's separate qos0/qos1 queues deliver duplicates).
 * - non-clean: durable, `x-expires` = subscription TTL. Found at connect by a passive declare
 *   (which also avoids a 406 when it exists with other arguments, e.g. made by the plugin) and
 *   consumed right after `connect()` resolves, so what was stored while away is delivered.
 * - clean: any leftover is deleted at connect; the queue made at the first SUBSCRIBE is
 *   non-durable and auto-delete with `x-expires` as a safety net, and deleted at close.
 *
 * Clean-session QoS 0 subscriptions (with `adapter.qos0_fanout = shared`, the default) bind the
 * user's shared fan-out queue instead (qos0-fanout.ts: why, and what it costs a slow client), so
 * a clean client that only subscribes at QoS 0 has no queue of its own. `bindings`
 * (session-bindings.ts) says where each binding key is bound; a key moves when it is subscribed
 * again at another QoS (bound in its new place first, then unbound from the old one). If the
 * fan-out queue cannot be made (e.g. no permission to declare it), the session's own queue is
 * used, as with `per_session`.
 *
 * Read-permission probe: basic.consume runs on the SHARED consumer channel, where a refusal would
 * close the channel for every session on it (and, since a closed channel drops its consumers,
 * delete every auto-delete clean-session queue consumed there). So before the first consume the
 * session does a basic.get on its own ops channel: it needs the same read permission, and a
 * refusal closes only that channel. On an empty queue the get has no side effect; on a stored,
 * non-empty queue it takes the first message, which goes straight back with `basic.reject`
 * (requeue) and is therefore delivered with `redelivered` (DUP) set. That spurious DUP on one
 * message is allowed (receivers must not rely on DUP) and far cheaper than the alternative.
 * The consumer channel still recovers from a refused consume (a queue deleted between probe and
 * consume), see consumer-channel.ts.
 *
 * Invariants: calls that touch the broker (subscribe, unsubscribe, consumer start, close) run
 * one at a time in call order (`serial`); every tag in `unsettled` came from the current
 * registration and is acked or requeued exactly once; `events.lost` is called at most once;
 * publishes reach the publish channel in call order (none overtakes one queued for the connection;
 * session-publish.ts).
 */
import type { ConsumeMessage } from "amqplib";
import type {
  BackendError,
  BackendSession,
  Delivery,
  DeliveryTag,
  OutboundMessage,
  SessionEvents,
  SubscribeRequest,
  SubscribeResult,
} from "../backend.ts";
import { DeliveryTagRef, type ConsumerChannel, type ConsumerRegistration } from "./consumer-channel.ts";
import { messageQosFromHeaders } from "./headers.ts";
import { checkShortString, fromRoutingKey, toBindingKey } from "./naming.ts";
import { probeRead, type OpsLease } from "./ops-channels.ts";
import type { Login } from "./pool.ts";
import type { PooledConnection } from "./pooled-connection.ts";
import type { FanoutMember, Qos0Fanout } from "./qos0-fanout.ts";
import { SessionBindings } from "./session-bindings.ts";
import { publishMessage, type PublishingSession, type PublishSettings } from "./session-publish.ts";
import { SessionConnections, type ConnectionUser } from "./session-connections.ts";
import type { UserConnections } from "./user-connections.ts";

export interface AmqpSessionSettings extends PublishSettings {
  /** x-expires of the session queue; null = none (the session never expires). */
  subscriptionTtlMs: number | null;
  /** Type of a persistent session's queue (clean sessions' queues are always classic, auto-delete). */
  durableQueueType: "classic" | "quorum";
  /** Clean-session QoS 0 subscriptions: the user's shared fan-out queue, or the session's own. */
  qos0Fanout: "shared" | "per_session";
}

/** queue.declare arguments of a session queue, as the plugin declares them. */
export function sessionQueueArguments(settings: AmqpSessionSettings, cleanSession: boolean): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  // `long`, as the plugin declares it: RabbitMQ compares argument types on redeclare.
  if (settings.subscriptionTtlMs !== null) args["x-expires"] = { "!": "long", value: settings.subscriptionTtlMs };
  // Quorum queues cannot be auto-delete, so only persistent sessions get the configured type.
  if (!cleanSession && settings.durableQueueType === "quorum") args["x-queue-type"] = "quorum";
  return args;
}

export class AmqpBackendSession implements BackendSession, ConnectionUser, FanoutMember, PublishingSession {
  /** LocalPublisher (local-qos0.ts): our QoS 0 publishes on their way to shared subscribers of this process. */
  echoesPending = 0;
  fences: Map<Qos0Fanout, number> | undefined = undefined;
  fenceResets = 0;
  /** "exists" once found at connect or declared by us (the queue may still expire or be deleted). */
  private queueExists: boolean;
  private registration: ConsumerRegistration | undefined;
  /** The shared consumer channel our consumer runs on (and our delivery tags belong to). */
  private consumerChannel: ConsumerChannel | undefined;
  private readonly unsettled = new Set<DeliveryTagRef>();
  /** Why the session can no longer reach the broker (lost or closed); undefined while live. */
  private ended: BackendError | undefined;
  private closed = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly connections: SessionConnections;
  /** Where each binding key is bound: own queue or shared fan-out. */
  private readonly bindings = new SessionBindings();
  /** The fan-out queue could not be made for us: use the own queue from now on. */
  private fanoutRefused = false;
  /** The client's vhost (PublishingSession). */
  readonly vhost: string;

  constructor(
    user: UserConnections,
    /** The client's own credentials, for a connection this session is the first to need. */
    login: Login,
    /** The connection the connect ran on. */
    home: PooledConnection,
    readonly queueName: string,
    private readonly cleanSession: boolean,
    /** Whether the session queue existed at connect (found by the passive declare). */
    queueExists: boolean,
    private readonly settings: AmqpSessionSettings,
    private readonly events: SessionEvents,
  ) {
    this.vhost = login.vhost;
    this.queueExists = queueExists;
    this.connections = new SessionConnections(user, login, home, this);
  }

  /** ConnectionUser: why the session ended, if it did. */
  get endedBecause(): BackendError | undefined {
    return this.ended;
  }

  /**
   * Called once connect() has resolved: the session hears about publishing being blocked from
   * now on (told at once if it is), and consumes its stored queue if it found one.
   */
  start(): void {
    if (this.ended !== undefined) return;
    const { user } = this.connections;
    user.join(this);
    if (user.publishBlocked) this.publishBlocked(true);
    if (this.queueExists) this.resumeStoredQueue();
  }

  publish(message: OutboundMessage): Promise<BackendError | undefined> {
    if (this.ended !== undefined) return Promise.resolve(this.ended);
    return publishMessage(this, this.connections, this.settings, message);
  }

  subscribe(requests: SubscribeRequest[]): Promise<SubscribeResult[]> {
    return this.serial(async () => {
      const failAll = (error: BackendError) => requests.map((): SubscribeResult => ({ ok: false, error }));
      if (this.ended !== undefined) return failAll(this.ended);
      const consuming = await this.connections.consume();
      if (!consuming.ok) return failAll(consuming.error);
      const { connection } = consuming;
      const lease = connection.ops.lease();
      const results: SubscribeResult[] = [];
      /** Undefined until the own queue is needed; then ok, or why it cannot be used. */
      let ownQueue: { ok: true } | { ok: false; error: BackendError } | undefined;
      let ownBound = false;
      try {
        for (const { filter, qos } of requests) {
          const bindingKey = toBindingKey(filter);
          const tooLong = checkShortString(bindingKey, `binding key for filter "${filter}"`);
          if (tooLong !== undefined) {
            results.push({ ok: false, error: tooLong });
            continue;
          }
          if (this.wantsShared(qos)) {
            const fanout = connection.qos0Fanout(this.settings.exchange, this.settings.localQos0?.directoryFor(this.vhost));
            const failure = await fanout.add(this, bindingKey, lease);
            if (failure === undefined && this.ended !== undefined) {
              // Closed or lost while binding: bindings.leaveFanout() has run already, so give the key back here.
              fanout.remove(this, bindingKey);
              results.push({ ok: false, error: this.ended });
              continue;
            }
            if (failure === undefined) {
              this.bindings.fanout = fanout;
              if (this.bindings.place(bindingKey, "shared") === "own") await lease.run((ch) => ch.unbindQueue(this.queueName, this.settings.exchange, bindingKey));
              results.push({ ok: true });
              continue;
            }
            if (failure.stage === "bind") {
              results.push({ ok: false, error: failure.error });
              continue;
            }
            this.fanoutRefused = true; // no fan-out queue for this user: our own queue it is
          }
          if (ownQueue === undefined) {
            const refused = await this.prepareQueue(lease);
            ownQueue = refused === undefined ? { ok: true } : { ok: false, error: refused };
          }
          if (!ownQueue.ok) {
            results.push({ ok: false, error: ownQueue.error });
            continue;
          }
          const bound = await lease.run((ch) => ch.bindQueue(this.queueName, this.settings.exchange, bindingKey));
          if (!bound.ok) {
            results.push({ ok: false, error: bound.error });
            continue;
          }
          ownBound = true;
          if (this.bindings.place(bindingKey, "own") === "shared") this.bindings.fanout?.remove(this, bindingKey);
          results.push({ ok: true });
        }
      } finally {
        lease.release();
      }
      if (this.registration === undefined && ownBound) {
        const refused = await this.startConsumer();
        if (refused !== undefined) return failAll(refused);
      }
      return results;
    });
  }

  unsubscribe(filters: string[]): Promise<BackendError | undefined> {
    return this.serial(async () => {
      if (this.ended !== undefined) return this.ended;
      const ownKeys: string[] = [];
      for (const filter of filters) {
        const bindingKey = toBindingKey(filter);
        if (checkShortString(bindingKey, "binding key") !== undefined) continue; // never bound
        // Unknown placement: a persistent session's binding from an earlier connection (own queue).
        if (this.bindings.place(bindingKey, undefined) === "shared") this.bindings.fanout?.remove(this, bindingKey);
        else ownKeys.push(bindingKey);
      }
      if (!this.queueExists || ownKeys.length === 0) return undefined; // nothing was ever bound there
      const consuming = await this.connections.consume();
      if (!consuming.ok) return consuming.error;
      const lease = consuming.connection.ops.lease();
      try {
        for (const bindingKey of ownKeys) {
          const unbound = await lease.run((ch) => ch.unbindQueue(this.queueName, this.settings.exchange, bindingKey));
          if (!unbound.ok) return unbound.error;
        }
        return undefined;
      } finally {
        lease.release();
      }
    });
  }

  /** FanoutMember: a message from the user's shared QoS 0 queue. */
  deliverShared(delivery: Delivery): void {
    if (this.ended === undefined) this.events.deliver(delivery);
  }

  /** FanoutMember: whether one of our own queue's bindings routes `routingWords` there too. */
  receivesOnOwnQueue(routingWords: readonly string[]): boolean {
    return this.bindings.receivesOnOwnQueue(routingWords);
  }

  /** FanoutMember: the shared queue is gone, and with it our QoS 0 subscriptions. */
  fanoutLost(error: BackendError): void {
    this.lost(error);
  }

  settle(tag: DeliveryTag): void {
    if (!(tag instanceof DeliveryTagRef) || !this.unsettled.delete(tag)) return;
    this.consumerChannel?.ack(tag);
  }

  async close(options: { clean: boolean }): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ended ??= { kind: "unavailable", message: "the session was closed" };
    this.connections.detachAll();
    this.bindings.leaveFanout(this);
    await this.serial(async () => {
      await this.stopConsumer();
      // A clean session's queue exists only if it subscribed, which acquired the consume connection.
      const consuming = this.connections.consumeConnection;
      if (!options.clean || !this.queueExists || consuming === undefined || consuming.dead !== undefined) return;
      const lease = consuming.ops.lease();
      try {
        await lease.run((ch) => ch.deleteQueue(this.queueName));
      } finally {
        lease.release();
      }
    });
  }

  /** SessionLink: the broker side is gone (connection lost, consumer cancelled, QoS 0 publish refused). */
  lost(error: BackendError): void {
    if (this.ended !== undefined) return;
    this.ended = error;
    this.connections.detachAll();
    this.bindings.leaveFanout(this);
    if (this.connections.consumeConnection?.dead === undefined) void this.serial(() => this.stopConsumer());
    this.events.lost(error);
  }

  /** SessionLink: the user's publish connection is blocked (connection.blocked, or its write buffer full), or clear again. */
  publishBlocked(blocked: boolean): void {
    if (this.ended === undefined) this.events.publishBlocked(blocked);
  }

  private wantsShared(qos: number): boolean {
    return qos === 0 && this.cleanSession && this.settings.qos0Fanout === "shared" && !this.fanoutRefused;
  }

  /** Consumes the stored queue found at connect. */
  private resumeStoredQueue(): void {
    void this.serial(async () => {
      if (this.ended !== undefined || this.registration !== undefined || !this.queueExists) return;
      const refused = await this.startConsumer();
      if (refused !== undefined) this.lost(refused);
    });
  }

  /** Declares the session queue if needed and probes read access before the first consume. */
  private async prepareQueue(lease: OpsLease): Promise<BackendError | undefined> {
    if (!this.queueExists) {
      const declared = await lease.run((ch) =>
        ch.assertQueue(this.queueName, {
          durable: !this.cleanSession,
          autoDelete: this.cleanSession,
          arguments: sessionQueueArguments(this.settings, this.cleanSession),
        }),
      );
      if (!declared.ok) return declared.error;
      this.queueExists = true;
    }
    if (this.registration !== undefined) return undefined;
    return probeRead(lease, this.queueName);
  }

  private async startConsumer(): Promise<BackendError | undefined> {
    const registration: ConsumerRegistration = {
      queue: this.queueName,
      onMessage: (message, tag) => this.deliver(registration, message, tag),
      onCancelled: (error) => this.lost(error),
    };
    const consuming = await this.connections.consume();
    if (!consuming.ok) return consuming.error;
    this.registration = registration;
    this.consumerChannel = consuming.connection.pickConsumerChannel();
    const refused = await this.consumerChannel.consume(registration);
    if (refused !== undefined && this.registration === registration) this.registration = undefined;
    return refused;
  }

  /** Cancels the consumer and gives its unsettled deliveries back (basic.cancel alone does not). */
  private async stopConsumer(): Promise<void> {
    const registration = this.registration;
    this.registration = undefined;
    if (registration === undefined) return;
    const channel = this.consumerChannel!;
    await channel.cancel(registration);
    for (const tag of this.unsettled) channel.requeue(tag);
    this.unsettled.clear();
  }

  private deliver(registration: ConsumerRegistration, message: ConsumeMessage, tag: DeliveryTagRef): void {
    if (this.registration !== registration || this.ended !== undefined) {
      // Arrived while we were cancelling: straight back to the queue.
      this.consumerChannel?.requeue(tag);
      return;
    }
    this.unsettled.add(tag);
    const { routingKey, redelivered } = message.fields;
    this.events.deliver({
      tag,
      topic: fromRoutingKey(routingKey),
      routingKey,
      payload: message.content,
      messageQos: messageQosFromHeaders(message.properties.headers),
      redelivered,
    });
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work, work);
    this.chain = run.catch(() => {});
    return run;
  }
}
