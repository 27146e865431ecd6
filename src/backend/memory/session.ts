/**
 * One MQTT session on the memory broker, mirroring what the AMQP backend does on RabbitMQ step
 * for step, so protocol tests against the fake mean something:
 * - nothing is allocated for a client that only publishes: no queue, no consumer;
 * - the session queue (amqp/naming.ts) is declared at the first SUBSCRIBE; non-clean: durable
 *   with `x-expires`; clean: non-durable, auto-delete, `x-expires` as a safety net;
 * - a non-clean session whose queue exists is consumed right after `connect()` resolves, so
 *   messages stored while the client was away arrive (never before connect has resolved);
 * - QoS >= 1 publishes resolve on the (simulated) confirm; a refused QoS >= 1 publish resolves
 *   with the refusal; a refused QoS 0 publish resolves (it was accepted for sending) and then
 *   ends the session with `lost`, as a refusal on the AMQP side can only be learnt later;
 * - `close({ clean: false })` cancels the consumer: unsettled deliveries go back to the queue
 *   and come again with `redelivered = true`.
 *
 * Invariants: `consumer` is set only while the session is live; `events.lost` is called at most
 * once and never after `close()`; a settle for a consumer that was cancelled is ignored (its
 * tags are dead, just as an AMQP tag of a closed channel must never be acked).
 */
import type {
  BackendError,
  BackendSession,
  DeliveryTag,
  OutboundMessage,
  SessionEvents,
  SubscribeRequest,
  SubscribeResult,
} from "../backend.ts";
import { HEADER_DUP, HEADER_PUBLISH_QOS, messageQosFromHeaders } from "../amqp/headers.ts";
import { checkShortString, fromRoutingKey, toBindingKey, toRoutingKey } from "../amqp/naming.ts";
import type { MemoryBroker, Principal, PublishedMessage } from "./broker.ts";
import type { MemoryConsumer, StoredMessage } from "./queue.ts";

/** What the memory backend configures every session with. */
export interface MemorySessionSettings {
  exchange: string;
  prefetch: number;
  subscriptionTtlMs: number;
}

/** The opaque tag handed out with each delivery. */
class MemoryDeliveryTag {
  constructor(
    readonly consumer: MemoryConsumer,
    readonly tag: number,
  ) {}
}

export class MemoryBackendSession implements BackendSession {
  /** Whether the session queue exists as far as this session knows (found at connect or declared). */
  private queueKnown: boolean;
  private consumer: MemoryConsumer | undefined;
  /** Set once closed or lost: every later call is a no-op or fails as a value. */
  private ended: BackendError | undefined;
  /** Resolvers of publishes still waiting for their confirm; settled with an error on loss. */
  private readonly pendingPublishes = new Set<(error: BackendError | undefined) => void>();
  /** What `events.publishBlocked` last said (a session starting while blocked is told once). */
  private toldBlocked = false;
  readonly listener = {
    lost: (error: BackendError) => this.lose(error),
    blocked: (blocked: boolean) => {
      if (this.ended !== undefined || blocked === this.toldBlocked) return;
      this.toldBlocked = blocked;
      this.events.publishBlocked(blocked);
    },
  };

  constructor(
    private readonly broker: MemoryBroker,
    private readonly who: Principal,
    readonly queueName: string,
    queueExists: boolean,
    private readonly cleanSession: boolean,
    private readonly settings: MemorySessionSettings,
    private readonly events: SessionEvents,
    private readonly onEnd: (session: MemoryBackendSession) => void,
  ) {
    this.queueKnown = queueExists;
  }

  /** Starts consuming the stored session queue; called by the backend after connect resolved. */
  resumeStoredQueue(): void {
    if (this.ended === undefined && this.queueKnown && this.consumer === undefined) this.startConsumer();
  }

  publish(message: OutboundMessage): Promise<BackendError | undefined> {
    if (this.ended !== undefined) return Promise.resolve(this.ended);
    const routingKey = toRoutingKey(message.topic);
    const tooLong = checkShortString(routingKey, `routing key for topic "${message.topic}"`);
    if (tooLong !== undefined) return Promise.resolve(tooLong);
    const published: PublishedMessage = {
      vhost: this.who.vhost,
      exchange: this.settings.exchange,
      routingKey,
      payload: message.payload.slice(), // the caller's view dies when its handler returns
      headers: { [HEADER_PUBLISH_QOS]: message.qos, [HEADER_DUP]: message.dup },
      deliveryMode: message.qos === 0 ? 1 : 2,
    };
    if (message.qos === 0 && message.confirm !== true) {
      this.broker.whenUnblocked(() => {
        const refused = this.broker.publishAs(this.who, published);
        if (refused !== undefined) queueMicrotask(() => this.lose(refused));
      });
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      this.pendingPublishes.add(resolve);
      const finish = (error: BackendError | undefined) => {
        if (this.pendingPublishes.delete(resolve)) resolve(error);
      };
      this.broker.whenUnblocked(() => {
        if (!this.pendingPublishes.has(resolve)) return; // lost while blocked
        const refused = this.broker.publishAs(this.who, published);
        if (refused !== undefined) queueMicrotask(() => finish(refused));
        else this.broker.confirmLater(() => finish(undefined));
      });
    });
  }

  async subscribe(requests: SubscribeRequest[]): Promise<SubscribeResult[]> {
    if (this.ended !== undefined) {
      const error = this.ended;
      return requests.map(() => ({ ok: false, error }));
    }
    const failed = this.ensureQueue() ?? (this.consumer === undefined ? this.broker.checkConsume(this.who, this.queueName) : undefined);
    if (failed !== undefined) return requests.map(() => ({ ok: false, error: failed }));
    const results = requests.map((request): SubscribeResult => {
      const bindingKey = toBindingKey(request.filter);
      const error =
        checkShortString(bindingKey, `binding key for filter "${request.filter}"`) ??
        this.broker.bindAs(this.who, this.who.vhost, this.queueName, this.settings.exchange, bindingKey, true);
      return error === undefined ? { ok: true } : { ok: false, error };
    });
    if (this.consumer === undefined) this.startConsumer();
    return results;
  }

  async unsubscribe(filters: string[]): Promise<BackendError | undefined> {
    if (this.ended !== undefined) return this.ended;
    if (!this.queueKnown) return undefined;
    for (const filter of filters) {
      const bindingKey = toBindingKey(filter);
      if (checkShortString(bindingKey, "binding key") !== undefined) continue; // could never have been bound
      const error = this.broker.bindAs(this.who, this.who.vhost, this.queueName, this.settings.exchange, bindingKey, false);
      if (error !== undefined) return error;
    }
    return undefined;
  }

  settle(tag: DeliveryTag): void {
    if (!(tag instanceof MemoryDeliveryTag) || tag.consumer !== this.consumer) return;
    tag.consumer.ack(tag.tag);
  }

  async close(options: { clean: boolean }): Promise<void> {
    if (this.ended !== undefined) return;
    this.ended = { kind: "unavailable", message: "the session was closed" };
    this.onEnd(this);
    this.stopConsumer();
    if (options.clean && this.queueKnown) this.broker.deleteQueueAs(this.who, this.queueName);
  }

  /** The broker side went away: fail waiting publishes, drop the consumer, tell the connection once. */
  lose(error: BackendError): void {
    if (this.ended !== undefined) return;
    this.ended = error;
    this.onEnd(this);
    this.stopConsumer();
    for (const resolve of [...this.pendingPublishes]) resolve(error);
    this.pendingPublishes.clear();
    this.events.lost(error);
  }

  private ensureQueue(): BackendError | undefined {
    if (this.queueKnown && this.broker.queueExists(this.who.vhost, this.queueName)) return undefined;
    const error = this.broker.declareQueueAs(this.who, this.who.vhost, this.queueName, {
      durable: !this.cleanSession,
      autoDelete: this.cleanSession,
      arguments: { "x-expires": this.settings.subscriptionTtlMs },
    });
    if (error === undefined) this.queueKnown = true;
    return error;
  }

  private startConsumer(): void {
    const queue = this.broker.queue(this.who.vhost, this.queueName);
    if (queue === undefined) return;
    this.consumer = queue.consume(
      this.settings.prefetch,
      (message, tag) => this.deliver(message, tag),
      (reason) => this.lose({ kind: "not-found", message: `consumer cancelled by the broker: ${reason}` }),
    );
  }

  private stopConsumer(): void {
    const consumer = this.consumer;
    this.consumer = undefined;
    if (consumer !== undefined) consumer.queue.cancel(consumer);
  }

  private deliver(message: StoredMessage, tag: number): void {
    const consumer = this.consumer;
    if (consumer === undefined) return;
    this.events.deliver({
      tag: new MemoryDeliveryTag(consumer, tag),
      topic: fromRoutingKey(message.routingKey),
      routingKey: message.routingKey,
      payload: message.payload,
      messageQos: messageQosFromHeaders(message.headers),
      redelivered: message.redelivered,
    });
  }
}
