/**
 * A consumer channel of one pooled AMQP connection, shared by sessions' consumers once the
 * connection has its 8 (pooled-connection.ts). AMQP allows it and it is what makes a subscriber
 * cheap: each consumer has its own prefetch window (`basic.qos(prefetch, global=false)` applies to
 * consumers created after it on the channel), and acks are per delivery tag, so sessions never
 * see each other's messages. A turn's acks go out together, as one multiple ack where the settled
 * deliveries form a run (ack-batcher.ts says why that never acks another session's delivery).
 *
 * What can go wrong on a shared channel, and how it is kept from hurting other sessions:
 * - acking a delivery tag the channel does not know (already acked, or from a channel that was
 *   replaced) closes the channel for everyone with 406: each delivery carries a tag object that
 *   remembers its channel (generation) and whether it was settled; a stale or settled tag is
 *   never sent;
 * - a consumer whose queue is deleted gets basic.cancel (consumer_cancel_notify), not a channel
 *   close: only that session is told (`onCancelled`);
 * - basic.consume itself can be refused (403 read permission, 404 queue gone meanwhile) and that
 *   closes the channel. Sessions probe read access on their own ops channel first (session.ts),
 *   so this is rare; when it happens anyway the refused consume returns its error and the channel
 *   is reopened with every other consumer re-registered. Their unsettled deliveries go back to
 *   their queues and come again, redelivered: at least once, never lost.
 * - basic.cancel does not requeue the cancelled consumer's unacked messages on a channel that
 *   stays open: the session rejects (requeue) its unsettled tags itself after cancelling.
 *
 * Invariants: `consumers` holds the live registrations, each with the tag of its consumer on the
 * current channel; a `DeliveryTagRef` is acked or rejected at most once, and only on the channel
 * it came from.
 */
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import type { BackendError } from "../backend.ts";
import { AckBatcher, DeliveryTagRef } from "./ack-batcher.ts";
import { fromOperationError } from "./errors.ts";

export { DeliveryTagRef };

/** One session's consumer registration. */
export interface ConsumerRegistration {
  queue: string;
  /** Consume without acks (basic.consume no-ack): the broker forgets a message once sent. */
  noAck?: boolean;
  onMessage(message: ConsumeMessage, tag: DeliveryTagRef): void;
  /** The broker cancelled the consumer (queue deleted), or it could not be re-registered. */
  onCancelled(error: BackendError): void;
}

type Opened = { ok: true; channel: Channel } | { ok: false; error: BackendError };

const CLOSED: BackendError = { kind: "unavailable", message: "the AMQP connection is closed" };

/** How often a consume is retried when the shared channel closed under it for someone else's reason. */
const CONSUME_ATTEMPTS = 3;

export class ConsumerChannel {
  private channel: Channel | undefined;
  /** The acks of `channel`, one multiple ack per turn where it can (ack-batcher.ts). */
  private acks: AckBatcher | undefined;
  private opening: Promise<Opened> | undefined;
  /** registration → its consumer tag on the current channel. */
  private readonly consumers = new Map<ConsumerRegistration, string>();
  /** Registrations cancelled while their basic.consume was still in flight. */
  private readonly cancelledEarly = new Set<ConsumerRegistration>();
  /** Registrations whose basic.consume is in flight. */
  private readonly consuming = new Set<ConsumerRegistration>();
  private closed = false;

  constructor(
    private readonly connection: ChannelModel,
    private readonly prefetch: number,
    private readonly logWarning: (message: string) => void,
  ) {}

  /** Consumers registered or being registered: how busy this channel is, for choosing one. */
  get load(): number {
    return this.consumers.size + this.consuming.size;
  }

  /** Starts consuming for `registration`; a refusal comes back as a value. */
  async consume(registration: ConsumerRegistration): Promise<BackendError | undefined> {
    this.consuming.add(registration);
    try {
      return await this.consumeAttempts(registration);
    } finally {
      this.consuming.delete(registration);
      this.cancelledEarly.delete(registration);
    }
  }

  private async consumeAttempts(registration: ConsumerRegistration): Promise<BackendError | undefined> {
    let lastError: BackendError | undefined;
    for (let attempt = 0; attempt < CONSUME_ATTEMPTS; attempt++) {
      const opened = await this.open();
      if (!opened.ok) return opened.error;
      const channel = opened.channel;
      try {
        const ok = await channel.consume(registration.queue, (message) => this.dispatch(registration, channel, message), {
          noAck: registration.noAck === true,
        });
        if (this.channel !== channel) continue; // replaced meanwhile: register again on the new one
        if (this.cancelledEarly.has(registration)) {
          // cancel() came while basic.consume was in flight: undo it now.
          await channel.cancel(ok.consumerTag).catch(() => {});
          return undefined;
        }
        this.consumers.set(registration, ok.consumerTag);
        return undefined;
      } catch (error) {
        lastError = fromOperationError(error);
        // Our own refusal carries a reply code; "channel ended" means someone else's closed it.
        if (lastError.amqpReplyCode !== undefined || this.closed) return lastError;
      }
    }
    return lastError;
  }

  /** Stops consuming for `registration` (its unsettled deliveries stay unacked: reject them). */
  async cancel(registration: ConsumerRegistration): Promise<void> {
    const consumerTag = this.consumers.get(registration);
    if (consumerTag === undefined) {
      if (this.consuming.has(registration)) this.cancelledEarly.add(registration);
      return;
    }
    this.consumers.delete(registration);
    const channel = this.channel;
    if (channel === undefined) return;
    try {
      await channel.cancel(consumerTag);
    } catch {
      // The channel or connection closed meanwhile: the consumer is gone with it.
    }
  }

  /** Acks one delivery, unless it was settled already or came from a replaced channel. */
  ack(tag: DeliveryTagRef): void {
    if (tag.settled) return;
    if (tag.channel !== this.channel || this.acks === undefined) {
      tag.settled = true; // its channel is gone: the broker requeued it
      return;
    }
    this.acks.ack(tag);
  }

  /** Returns one delivery to its queue (redelivered next time), unless settled or stale. */
  requeue(tag: DeliveryTagRef): void {
    if (tag.settled) return;
    tag.settled = true;
    if (tag.channel !== this.channel) return;
    try {
      tag.channel.reject({ fields: { deliveryTag: tag.deliveryTag } } as ConsumeMessage, true);
    } catch {
      // Closing channel: the broker requeues it anyway.
    }
  }

  /** The connection is going: forget everything (the broker requeues unacked deliveries). */
  close(): void {
    this.closed = true;
    this.consumers.clear();
    this.channel = undefined;
    this.acks = undefined;
  }

  private dispatch(registration: ConsumerRegistration, channel: Channel, message: ConsumeMessage | null): void {
    // An exception thrown here would make amqplib close the channel for everyone: never throw.
    try {
      if (message === null) {
        this.consumers.delete(registration);
        registration.onCancelled({
          kind: "not-found",
          message: `RabbitMQ cancelled the consumer of queue '${registration.queue}' (queue deleted?)`,
        });
        return;
      }
      const tag = new DeliveryTagRef(channel, message.fields.deliveryTag);
      if (registration.noAck !== true && this.acks?.channel === channel) this.acks.delivered(tag);
      registration.onMessage(message, tag);
    } catch (error) {
      this.logWarning(`delivery handler failed for queue '${registration.queue}': ${String(error)}`);
    }
  }

  private open(): Promise<Opened> {
    if (this.closed) return Promise.resolve({ ok: false, error: CLOSED });
    if (this.channel !== undefined) return Promise.resolve({ ok: true, channel: this.channel });
    this.opening ??= this.createChannel().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async createChannel(): Promise<Opened> {
    try {
      const channel = await this.connection.createChannel();
      let closeError: unknown;
      channel.on("error", (error: unknown) => (closeError = error));
      channel.on("close", () => this.onChannelClosed(channel, closeError));
      // Per consumer (global=false): applies to every consumer created on this channel from now on.
      await channel.prefetch(this.prefetch, false); // basic.qos
      if (this.closed) return { ok: false, error: CLOSED };
      this.channel = channel;
      this.acks = new AckBatcher(channel);
      return { ok: true, channel };
    } catch (error) {
      return { ok: false, error: fromOperationError(error) };
    }
  }

  /** Re-registers every live consumer on a fresh channel after the broker closed this one. */
  private onChannelClosed(channel: Channel, closeError: unknown): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    this.acks = undefined;
    const survivors = [...this.consumers.keys()];
    this.consumers.clear();
    if (this.closed || closeError === undefined) {
      // The connection went (no close frame): the pool tells every session.
      return;
    }
    this.logWarning(
      `RabbitMQ closed the shared consumer channel (${fromOperationError(closeError).message}); ` +
        `re-registering ${survivors.length} consumer(s)`,
    );
    for (const registration of survivors) {
      void this.consume(registration).then((error) => {
        if (error !== undefined) registration.onCancelled(error);
      });
    }
  }
}
