/**
 * One queue of the memory broker, with RabbitMQ's delivery semantics:
 * - ready messages are handed to consumers round-robin, each consumer holding at most its
 *   `prefetch` unacknowledged deliveries (0 = unlimited, as `basic.qos`);
 * - delivery tags count up per consumer (like per channel in AMQP);
 * - a cancelled consumer's unacknowledged messages go back to the head of the queue, in their
 *   original order, marked `redelivered`;
 * - auto-delete queues go away when their last consumer is cancelled; `x-expires` deletes a
 *   queue that has had no consumer for that many milliseconds.
 *
 * Invariants: a message is either in `ready` or in exactly one consumer's `unacked`; a consumer
 * in `consumers` is live, one removed is never delivered to again (its tags are dead).
 * Dispatch runs in a microtask, never inside the call that made a message ready, so callbacks
 * are not re-entered (like deliveries arriving from a socket).
 */

/** A message as the broker stores it: payload copied on the way in, never a caller's view. */
export interface StoredMessage {
  exchange: string;
  routingKey: string;
  payload: Uint8Array;
  headers: Record<string, unknown>;
  /** 1 transient, 2 persistent (AMQP basic.properties delivery-mode). */
  deliveryMode: 1 | 2;
  redelivered: boolean;
}

/** A consumer on a queue, owned by whoever called `consume`. */
export class MemoryConsumer {
  /** delivery tag → message, for deliveries not yet acked. */
  readonly unacked = new Map<number, StoredMessage>();
  private nextTag = 1;
  live = true;

  constructor(
    readonly queue: MemoryQueue,
    /** Maximum unacked deliveries; 0 = no limit. */
    readonly prefetch: number,
    readonly onDeliver: (message: StoredMessage, tag: number) => void,
    /** Called when the broker cancels the consumer (queue deleted), not on our own cancel. */
    readonly onCancelled: (reason: string) => void,
  ) {}

  hasWindow(): boolean {
    return this.prefetch === 0 || this.unacked.size < this.prefetch;
  }

  take(message: StoredMessage): number {
    const tag = this.nextTag++;
    this.unacked.set(tag, message);
    return tag;
  }

  /** Acks one delivery; false for an unknown tag (the caller must not ack twice). */
  ack(tag: number): boolean {
    if (!this.live || !this.unacked.delete(tag)) return false;
    this.queue.scheduleDispatch();
    return true;
  }
}

export interface QueueOptions {
  durable: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
}

export class MemoryQueue {
  readonly ready: StoredMessage[] = [];
  readonly consumers: MemoryConsumer[] = [];
  /** `${exchange}\0${bindingKey}` of every binding of this queue. */
  readonly bindings = new Set<string>();
  private roundRobin = 0;
  private dispatchScheduled = false;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  deleted = false;

  constructor(
    readonly vhost: string,
    readonly name: string,
    readonly options: QueueOptions,
    /** Removes the queue from its vhost; called on auto-delete and expiry. */
    private readonly remove: (queue: MemoryQueue) => void,
  ) {
    this.touch();
  }

  enqueue(message: StoredMessage): void {
    this.ready.push(message);
    this.scheduleDispatch();
  }

  consume(
    prefetch: number,
    onDeliver: MemoryConsumer["onDeliver"],
    onCancelled: MemoryConsumer["onCancelled"],
  ): MemoryConsumer {
    const consumer = new MemoryConsumer(this, prefetch, onDeliver, onCancelled);
    this.consumers.push(consumer);
    this.touch();
    this.scheduleDispatch();
    return consumer;
  }

  /** basic.cancel (or the channel closing): unacked messages return to the head, redelivered. */
  cancel(consumer: MemoryConsumer): void {
    if (!consumer.live) return;
    consumer.live = false;
    const index = this.consumers.indexOf(consumer);
    if (index >= 0) this.consumers.splice(index, 1);
    const returned = [...consumer.unacked.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m);
    consumer.unacked.clear();
    for (const message of returned) message.redelivered = true;
    this.ready.unshift(...returned);
    if (this.consumers.length === 0 && this.options.autoDelete) {
      this.delete();
      return;
    }
    this.touch();
    this.scheduleDispatch();
  }

  /** Deletes the queue: messages dropped, consumers cancelled with a notification. */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    clearTimeout(this.expiryTimer);
    this.remove(this);
    this.ready.length = 0;
    for (const consumer of this.consumers.splice(0)) {
      consumer.live = false;
      consumer.unacked.clear();
      consumer.onCancelled(`queue '${this.name}' in vhost '${this.vhost}' was deleted`);
    }
  }

  /** Counts as use for x-expires (declare, consume, cancel): restarts the idle clock. */
  touch(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    const expiresMs = this.options.arguments["x-expires"];
    if (typeof expiresMs !== "number" || this.consumers.length > 0 || this.deleted) return;
    this.expiryTimer = setTimeout(() => this.delete(), expiresMs);
    // An idle queue's timer must not keep a test process alive.
    (this.expiryTimer as { unref?: () => void }).unref?.();
  }

  unackedCount(): number {
    let count = 0;
    for (const consumer of this.consumers) count += consumer.unacked.size;
    return count;
  }

  scheduleDispatch(): void {
    if (this.dispatchScheduled || this.deleted) return;
    this.dispatchScheduled = true;
    queueMicrotask(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.ready.length > 0 && !this.deleted) {
      const consumer = this.nextConsumerWithWindow();
      if (consumer === undefined) return;
      const message = this.ready.shift()!;
      consumer.onDeliver(message, consumer.take(message));
    }
  }

  private nextConsumerWithWindow(): MemoryConsumer | undefined {
    const count = this.consumers.length;
    for (let i = 0; i < count; i++) {
      const consumer = this.consumers[(this.roundRobin + i) % count]!;
      if (consumer.hasWindow()) {
        this.roundRobin = (this.roundRobin + i + 1) % count;
        return consumer;
      }
    }
    return undefined;
  }
}
