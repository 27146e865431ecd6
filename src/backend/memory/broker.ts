/**
 * An in-process stand-in for RabbitMQ, holding what the memory backend's sessions share: vhosts
 * with topic exchanges, queues, bindings, users and permissions. Tests use it directly as "the
 * AMQP side" (publish with a routing key, bind a queue and read what MQTT clients published,
 * with headers and delivery mode) and as a switchboard to simulate trouble (broker down, publish
 * refusal, confirms held back, connection.blocked, connection loss).
 *
 * Every operation that RabbitMQ can refuse returns the refusal as a value with RabbitMQ's reply
 * code and text; only set-up mistakes in a test (e.g. an unknown user) throw.
 */
import type { BackendError } from "../backend.ts";
import { matchesBindingKey } from "../amqp/binding-match.ts";
import { MemoryQueue, type QueueOptions, type StoredMessage } from "./queue.ts";
import { FULL_PERMISSIONS, UserTable, vhostRefused, type PermissionKind } from "./users.ts";

/** A message as it reached an exchange: what an AMQP consumer bound to it would see. */
export interface PublishedMessage {
  vhost: string;
  exchange: string;
  routingKey: string;
  /** A copy: the publisher's buffer may be reused. */
  payload: Uint8Array;
  headers: Record<string, unknown>;
  deliveryMode: 1 | 2;
}

/** What a test may pass when publishing "from AMQP". */
export interface AmqpPublish {
  vhost?: string;
  exchange?: string;
  routingKey: string;
  payload: Uint8Array | string;
  headers?: Record<string, unknown>;
  deliveryMode?: 1 | 2;
}

/** A queue as `rabbitmqctl list_queues` would show it. */
export interface QueueInfo {
  name: string;
  durable: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
  messagesReady: number;
  messagesUnacknowledged: number;
  consumers: number;
  /** Binding keys per exchange, as `exchange:bindingKey`. */
  bindings: string[];
}

/** Who a session-side operation runs as; permissions are checked for this user. */
export interface Principal {
  username: string;
  vhost: string;
}

/** What the broker tells a live connection (the memory backend's sessions subscribe to it). */
export interface BrokerConnectionListener {
  lost(error: BackendError): void;
  blocked(blocked: boolean): void;
}

interface Vhost {
  exchanges: Set<string>;
  queues: Map<string, MemoryQueue>;
}

export const DEFAULT_EXCHANGE = "amq.topic";

export class MemoryBroker {
  readonly users = new UserTable();
  private readonly vhosts = new Map<string, Vhost>();
  private readonly listeners = new Set<BrokerConnectionListener>();
  /** Every message the backend published (MQTT → AMQP), in order. `clearPublished()` empties it. */
  readonly published: PublishedMessage[] = [];

  // --- simulation switches -------------------------------------------------------------------
  /** False: the broker cannot be reached (connect fails with `unavailable`). */
  available = true;
  /** Milliseconds between routing a QoS >= 1 publish and its confirm (0 = next microtask). */
  confirmDelayMs = 0;
  /** Returns a refusal for a publish to simulate (checked after permissions), or undefined. */
  refusePublish: ((message: PublishedMessage) => BackendError | undefined) | undefined;
  private confirmsHeld = false;
  private readonly heldConfirms: Array<() => void> = [];
  private blockedNow = false;
  private readonly blockedPublishes: Array<() => void> = [];

  /** A broker with vhost `/`, exchange `amq.topic` and user guest/guest with full permissions on `/`. */
  constructor() {
    this.addVhost("/");
    this.users.addUser("guest", "guest");
    this.users.setPermissions("guest", "/", FULL_PERMISSIONS);
  }

  // --- administration (rabbitmqctl) ----------------------------------------------------------
  /** Adds a vhost with its `amq.topic` exchange. */
  addVhost(vhost: string): void {
    if (!this.vhosts.has(vhost)) this.vhosts.set(vhost, { exchanges: new Set([DEFAULT_EXCHANGE]), queues: new Map() });
  }

  /** Adds a topic exchange (exchange.declare type=topic). */
  declareExchange(vhost: string, exchange: string): void {
    this.requireVhost(vhost).exchanges.add(exchange);
  }

  deleteExchange(vhost: string, exchange: string): void {
    this.requireVhost(vhost).exchanges.delete(exchange);
  }

  // --- the AMQP side, for tests --------------------------------------------------------------
  /** Publishes like an AMQP client would; returns how many queues the message was routed to. */
  publish(message: AmqpPublish): number {
    const payload = typeof message.payload === "string" ? new TextEncoder().encode(message.payload) : message.payload;
    return this.route({
      vhost: message.vhost ?? "/",
      exchange: message.exchange ?? DEFAULT_EXCHANGE,
      routingKey: message.routingKey,
      payload: payload.slice(),
      headers: { ...message.headers },
      deliveryMode: message.deliveryMode ?? 1,
    });
  }

  /** Declares a queue as an AMQP client would (no permission checks); idempotent. */
  declareQueue(vhost: string, name: string, options: Partial<QueueOptions> = {}): void {
    this.declareQueueAs(undefined, vhost, name, {
      durable: options.durable ?? false,
      autoDelete: options.autoDelete ?? false,
      arguments: { ...options.arguments },
    });
  }

  /** Binds a queue to an exchange (no permission checks). Throws for a missing queue/exchange. */
  bindQueue(vhost: string, queue: string, exchange: string, bindingKey: string): void {
    const error = this.bindAs(undefined, vhost, queue, exchange, bindingKey, true);
    if (error !== undefined) throw new Error(error.message);
  }

  /** Takes every ready message of a queue (like basic.get until empty). */
  takeMessages(vhost: string, queue: string): StoredMessage[] {
    const found = this.vhosts.get(vhost)?.queues.get(queue);
    return found === undefined ? [] : found.ready.splice(0);
  }

  /** Deletes a queue; its consumers get a cancel notification (consumer_cancel_notify). */
  deleteQueue(vhost: string, queue: string): void {
    this.vhosts.get(vhost)?.queues.get(queue)?.delete();
  }

  /** The queue as `rabbitmqctl list_queues` would describe it, or undefined if it does not exist. */
  queueInfo(vhost: string, name: string): QueueInfo | undefined {
    const queue = this.vhosts.get(vhost)?.queues.get(name);
    if (queue === undefined) return undefined;
    return {
      name,
      durable: queue.options.durable,
      autoDelete: queue.options.autoDelete,
      arguments: { ...queue.options.arguments },
      messagesReady: queue.ready.length,
      messagesUnacknowledged: queue.unackedCount(),
      consumers: queue.consumers.length,
      bindings: [...queue.bindings].map((b) => b.replace("\0", ":")),
    };
  }

  queueNames(vhost: string): string[] {
    return [...(this.vhosts.get(vhost)?.queues.keys() ?? [])];
  }

  clearPublished(): void {
    this.published.length = 0;
  }

  // --- simulated trouble ---------------------------------------------------------------------
  /** Holds every publisher confirm until `releaseConfirms()` (publishes stay unresolved). */
  holdConfirms(): void {
    this.confirmsHeld = true;
  }

  releaseConfirms(): void {
    this.confirmsHeld = false;
    for (const confirm of this.heldConfirms.splice(0)) confirm();
  }

  /**
   * Simulates connection.blocked / unblocked (memory or disk alarm): publishes wait while blocked;
   * logins, queue operations, deliveries and acks go on, as they do with the AMQP backend (which
   * publishes on a connection of its own, the only one RabbitMQ stops reading). Every session is told.
   */
  setBlocked(blocked: boolean): void {
    if (this.blockedNow === blocked) return;
    this.blockedNow = blocked;
    for (const listener of [...this.listeners]) listener.blocked(blocked);
    if (!blocked) for (const run of this.blockedPublishes.splice(0)) run();
  }

  get blocked(): boolean {
    return this.blockedNow;
  }

  /** Drops every connection (every session gets `lost(unavailable)`); queues stay, like a network cut. */
  loseConnections(message = "connection to the broker was lost (simulated)"): void {
    for (const listener of [...this.listeners]) listener.lost({ kind: "unavailable", message });
  }

  // --- used by the memory backend ------------------------------------------------------------
  /** @internal Login as a new connection would. */
  /** `password` null: a certificate login (RabbitMQ's EXTERNAL), the user only has to exist. */
  login(username: string, password: string | null, vhost: string): BackendError | undefined {
    if (!this.available) return { kind: "unavailable", message: "ECONNREFUSED: the broker is not reachable (simulated)" };
    const refused = this.users.login(username, password, vhost);
    if (refused !== undefined || this.vhosts.has(vhost)) return refused;
    return vhostRefused(username, vhost);
  }

  /** @internal */
  addListener(listener: BrokerConnectionListener): void {
    this.listeners.add(listener);
  }

  /** @internal */
  removeListener(listener: BrokerConnectionListener): void {
    this.listeners.delete(listener);
  }

  /** @internal Runs `publish` now, or once the broker is unblocked (a blocked broker stops reading). */
  whenUnblocked(publish: () => void): void {
    if (this.blockedNow) this.blockedPublishes.push(publish);
    else publish();
  }

  /** @internal Calls `confirm` after the configured delay, or when released if held. */
  confirmLater(confirm: () => void): void {
    if (this.confirmsHeld) this.heldConfirms.push(confirm);
    else if (this.confirmDelayMs > 0) setTimeout(confirm, this.confirmDelayMs);
    else queueMicrotask(confirm);
  }

  /** @internal basic.publish as `who`: permission checks, simulated refusal, routing, recording. */
  publishAs(who: Principal, message: PublishedMessage): BackendError | undefined {
    const { username, vhost } = who;
    const refused =
      this.users.checkResource(username, vhost, "write", "exchange", message.exchange) ??
      this.users.checkTopic(username, vhost, message.exchange, "write", message.routingKey) ??
      this.exchangeMissing(vhost, message.exchange) ??
      this.refusePublish?.(message);
    if (refused !== undefined) return refused;
    this.published.push(message);
    this.route(message);
    return undefined;
  }

  /** @internal queue.declare passive: does the queue exist? (RabbitMQ checks no permission here.) */
  queueExists(vhost: string, name: string): boolean {
    return this.vhosts.get(vhost)?.queues.has(name) === true;
  }

  /** @internal The queue object, for consuming. */
  queue(vhost: string, name: string): MemoryQueue | undefined {
    return this.vhosts.get(vhost)?.queues.get(name);
  }

  /**
   * @internal queue.declare (configure permission). Like RabbitMQ, redeclaring with other
   * durable/auto-delete/arguments is 406 PRECONDITION_FAILED.
   */
  declareQueueAs(who: Principal | undefined, vhost: string, name: string, options: QueueOptions): BackendError | undefined {
    const refused = this.check(who, "configure", "queue", name);
    if (refused !== undefined) return refused;
    const queues = this.requireVhost(vhost).queues;
    const existing = queues.get(name);
    if (existing === undefined) {
      queues.set(name, new MemoryQueue(vhost, name, options, (q) => this.forget(q)));
      return undefined;
    }
    const same =
      existing.options.durable === options.durable &&
      existing.options.autoDelete === options.autoDelete &&
      JSON.stringify(existing.options.arguments) === JSON.stringify(options.arguments);
    if (!same) {
      return {
        kind: "failed",
        amqpReplyCode: 406,
        message: `PRECONDITION_FAILED - inequivalent arg for queue '${name}' in vhost '${vhost}'`,
      };
    }
    existing.touch();
    return undefined;
  }

  /** @internal queue.delete (configure permission); deleting a missing queue is fine, as in RabbitMQ. */
  deleteQueueAs(who: Principal, name: string): BackendError | undefined {
    const refused = this.check(who, "configure", "queue", name);
    if (refused !== undefined) return refused;
    this.vhosts.get(who.vhost)?.queues.get(name)?.delete();
    return undefined;
  }

  /** @internal queue.bind / queue.unbind: write on the queue, read on the exchange, topic read. */
  bindAs(
    who: Principal | undefined,
    vhost: string,
    queueName: string,
    exchange: string,
    bindingKey: string,
    bind: boolean,
  ): BackendError | undefined {
    const refused =
      this.check(who, "write", "queue", queueName) ??
      this.check(who, "read", "exchange", exchange) ??
      (who === undefined ? undefined : this.users.checkTopic(who.username, vhost, exchange, "read", bindingKey)) ??
      this.exchangeMissing(vhost, exchange);
    if (refused !== undefined) return refused;
    const queue = this.vhosts.get(vhost)?.queues.get(queueName);
    if (queue === undefined) {
      return { kind: "not-found", amqpReplyCode: 404, message: `NOT_FOUND - no queue '${queueName}' in vhost '${vhost}'` };
    }
    if (bind) queue.bindings.add(`${exchange}\0${bindingKey}`);
    else queue.bindings.delete(`${exchange}\0${bindingKey}`);
    return undefined;
  }

  /** @internal basic.consume needs read permission on the queue. */
  checkConsume(who: Principal, queueName: string): BackendError | undefined {
    return this.check(who, "read", "queue", queueName);
  }

  private check(
    who: Principal | undefined,
    kind: PermissionKind,
    resource: "queue" | "exchange",
    name: string,
  ): BackendError | undefined {
    return who === undefined ? undefined : this.users.checkResource(who.username, who.vhost, kind, resource, name);
  }

  private exchangeMissing(vhost: string, exchange: string): BackendError | undefined {
    if (this.vhosts.get(vhost)?.exchanges.has(exchange) === true) return undefined;
    return { kind: "not-found", amqpReplyCode: 404, message: `NOT_FOUND - no exchange '${exchange}' in vhost '${vhost}'` };
  }

  /** Routes to every queue with a matching binding, once per queue however many match. */
  private route(message: PublishedMessage): number {
    const vhost = this.vhosts.get(message.vhost);
    if (vhost === undefined || !vhost.exchanges.has(message.exchange)) return 0;
    let routed = 0;
    const prefix = `${message.exchange}\0`;
    for (const queue of vhost.queues.values()) {
      for (const binding of queue.bindings) {
        if (!binding.startsWith(prefix) || !matchesBindingKey(binding.slice(prefix.length), message.routingKey)) continue;
        queue.enqueue({
          exchange: message.exchange,
          routingKey: message.routingKey,
          payload: message.payload,
          headers: message.headers,
          deliveryMode: message.deliveryMode,
          redelivered: false,
        });
        routed++;
        break;
      }
    }
    return routed;
  }

  private forget(queue: MemoryQueue): void {
    const queues = this.vhosts.get(queue.vhost)?.queues;
    if (queues?.get(queue.name) === queue) queues.delete(queue.name);
  }

  private requireVhost(vhost: string): Vhost {
    const found = this.vhosts.get(vhost);
    if (found === undefined) throw new Error(`memory broker: no vhost '${vhost}' (call addVhost first)`);
    return found;
  }
}
