/**
 * Retained messages for a new subscription [MQTT-3.3.1-6]: after the SUBACK, the retained store
 * is asked which topics match each granted filter, and their messages go out with RETAIN set
 * [MQTT-3.3.1-8] at min(stored QoS, granted QoS) [MQTT-3.8.4-6].
 *
 * After the SUBACK, not before: 3.1.1 §3.8.4 allows PUBLISH before SUBACK, but clients that wait
 * for the SUBACK before they route messages (and some that time out when PUBLISHes come first)
 * are better served this way, and only a filter RabbitMQ accepted (not 0x80, so the user may
 * read it) gets retained messages. Every SUBSCRIBE resends them, also for a filter that was
 * already subscribed [MQTT-3.8.4-3]. A topic matched by several filters of one SUBSCRIBE goes
 * out once, at the highest of their granted QoS (one copy, as for live deliveries).
 *
 * Flow control: a QoS 1/2 retained message takes a packet id until its PUBACK/PUBCOMP, and at
 * most `window` of them are in flight (the same bound `mqtt.prefetch` puts on live deliveries);
 * any retained message waits while the transport is over its high-water mark. What waits is a
 * list of topic references (the index's strings, no payloads): payloads are read from the store
 * one at a time, just before they are written, so a `#` subscription over 100,000 retained
 * topics costs no payload memory. A message deleted or replaced meanwhile is sent as it is now
 * (or not at all), and one no filter of the client matches any more (UNSUBSCRIBE meanwhile) is
 * skipped.
 *
 * Invariants: `pending[head..]` are the topics still to send, in match order; one pump loop at a
 * time (`pumping`); nothing is sent once the connection is no longer open.
 */
import type { QoS } from "../codec/index.ts";
import type { RetainedStore } from "../retained/index.ts";
import type { ConnectionContext } from "./context.ts";
import type { Deliveries } from "./delivery.ts";

/** A retained topic waiting to be sent, with the highest QoS granted by the filters that found it. */
interface PendingRetained {
  topic: string;
  grantedQos: QoS;
}

export class RetainedDeliveries {
  private pending: PendingRetained[] = [];
  private head = 0;
  private pumping = false;
  /** The transport is over its high-water mark: wait for drain. */
  private waitingForDrain = false;

  constructor(
    private readonly context: ConnectionContext,
    private readonly deliveries: Deliveries,
    private readonly store: RetainedStore,
    /** Most retained QoS 1/2 messages awaiting acknowledgement at once. */
    private readonly window: number,
  ) {}

  /** Retained messages found and not yet written. */
  get waiting(): number {
    return this.pending.length - this.head;
  }

  /**
   * The SUBACK for `grants` (filters RabbitMQ accepted, with their granted QoS) has been sent:
   * queue the matching retained messages and start sending. Resolves once they are queued.
   */
  async subscribed(grants: ReadonlyArray<{ filter: string; qos: QoS }>): Promise<void> {
    const { context } = this;
    const byTopic = new Map<string, QoS>();
    for (const { filter, qos } of grants) {
      for (const ref of await this.store.match(context.vhost, filter)) {
        const before = byTopic.get(ref.topic);
        if (before === undefined || qos > before) byTopic.set(ref.topic, qos);
      }
    }
    if (byTopic.size === 0 || !context.isOpen()) return;
    for (const [topic, grantedQos] of byTopic) this.pending.push({ topic, grantedQos });
    context.log.debug(`sending ${byTopic.size} retained message(s) for the new subscription(s)`);
    void this.pump();
  }

  /** A retained QoS 1/2 message was acknowledged: the window has room. */
  onAcknowledged(): void {
    void this.pump();
  }

  /** The transport drained. */
  onDrain(): void {
    if (!this.waitingForDrain) return;
    this.waitingForDrain = false;
    void this.pump();
  }

  /** The connection is closing: nothing more is sent. */
  clear(): void {
    this.pending = [];
    this.head = 0;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    const { context, deliveries } = this;
    try {
      while (this.head < this.pending.length && !this.waitingForDrain && context.isOpen()) {
        if (deliveries.retainedUnacknowledged >= this.window) return;
        const next = this.pending[this.head++]!;
        const message = await this.store.get(context.vhost, next.topic);
        if (!context.isOpen()) return;
        if (message === undefined) continue; // deleted since the match
        // Unsubscribed meanwhile (no filter of the client matches any more): not for it now.
        if (context.matcher.maxGrantedQos(message.topic) === undefined) continue;
        const qos = Math.min(message.qos, next.grantedQos) as QoS;
        if (!deliveries.sendRetained(message.topic, message.payload, qos)) this.waitingForDrain = true;
      }
    } catch (error) {
      context.log.error(`sending retained messages failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.pumping = false;
      if (this.head >= this.pending.length) this.clear();
    }
  }
}
