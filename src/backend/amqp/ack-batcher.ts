/**
 * Acks of one consumer channel, sent once per event-loop turn: the acks settled during a turn
 * that form a run from the oldest outstanding delivery go as ONE `basic.ack(multiple)`, the rest
 * one by one. With a consumer channel per subscriber (pooled-connection.ts) and clients that
 * PUBACK in order, that is one ack frame per turn instead of one per message, and RabbitMQ's
 * channel process (the bottleneck of QoS 1 delivery) handles one frame for all of them.
 *
 * Why `multiple` is safe: it acks every delivery up to a tag that is still unacknowledged on the
 * channel. It is sent only for a tag below which every ack-mode delivery of this channel has been
 * settled by us: acked (now, or by an earlier frame: acking again is not possible, RabbitMQ
 * forgot it) or rejected (a reject is sent at once, so it reaches RabbitMQ before any later
 * multiple ack passes over it). No-ack deliveries (the fan-out's) are never outstanding.
 *
 * Invariants: `outstanding` holds this channel's ack-mode deliveries in delivery order from
 * `head` on, and everything before `head` is settled and its ack sent or covered; a delivery is
 * acked on the wire at most once (`ackSent`).
 */
import type { Channel, ConsumeMessage } from "amqplib";

/** A delivery's handle: the channel it arrived on, its tag there, and where its settling stands. */
export class DeliveryTagRef {
  /** Acked or rejected by us (nothing more may be sent for it). */
  settled = false;
  /** Settled by an ack (not a reject). */
  acked = false;
  /** Its ack went to RabbitMQ, alone or covered by a multiple ack. */
  ackSent = false;
  constructor(
    readonly channel: Channel,
    readonly deliveryTag: number,
  ) {}
}

/** Compact `outstanding` once this many entries before `head` are dead. */
const COMPACT_AT = 1024;

export class AckBatcher {
  private outstanding: DeliveryTagRef[] = [];
  private head = 0;
  /** Acked this turn, not yet sent. */
  private pending: DeliveryTagRef[] = [];
  private flushQueued = false;

  constructor(readonly channel: Channel) {}

  /** An ack-mode delivery arrived (call in delivery order). */
  delivered(tag: DeliveryTagRef): void {
    this.outstanding.push(tag);
  }

  /** Acks `tag` (this channel's, not settled yet) at the end of the turn. */
  ack(tag: DeliveryTagRef): void {
    tag.settled = true;
    tag.acked = true;
    this.pending.push(tag);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Sends this turn's acks: one multiple ack for the settled run from the oldest delivery, the rest singly. */
  flush(): void {
    this.flushQueued = false;
    if (this.pending.length === 0) return;
    const from = this.head;
    let last: DeliveryTagRef | undefined;
    while (this.head < this.outstanding.length && this.outstanding[this.head]!.settled) {
      const tag = this.outstanding[this.head++]!;
      if (tag.acked && !tag.ackSent) last = tag;
    }
    try {
      if (last !== undefined) {
        this.channel.ack({ fields: { deliveryTag: last.deliveryTag } } as ConsumeMessage, true);
        // Covered: every ack of the run (earlier runs were handled by earlier flushes).
        for (let i = from; i < this.head; i++) if (this.outstanding[i]!.acked) this.outstanding[i]!.ackSent = true;
      }
      for (const tag of this.pending) {
        if (tag.ackSent) continue;
        tag.ackSent = true;
        this.channel.ack({ fields: { deliveryTag: tag.deliveryTag } } as ConsumeMessage);
      }
    } catch {
      // Closing channel: the broker requeues what was not acked.
    }
    this.pending = [];
    if (this.head >= COMPACT_AT && this.head * 2 >= this.outstanding.length) {
      this.outstanding = this.outstanding.slice(this.head);
      this.head = 0;
    }
  }
}
