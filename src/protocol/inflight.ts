/**
 * In-flight tables: the packets of one connection that wait for an answer.
 *
 * Outbound (broker -> client): QoS 1 deliveries written as PUBLISH and not yet PUBACKed, by the
 * packet id we allocated. Invariants: every id in the table was written in a PUBLISH and not yet
 * acknowledged; ids are 1..65535 and never two deliveries share one [MQTT-2.3.1-2]. The backend's
 * prefetch bounds the table long before ids run out. (Issue 7 adds the QoS 2 states: awaiting
 * PUBREC, then awaiting PUBCOMP.)
 *
 * Inbound (client -> broker): PUBLISHes handed to the backend whose outcome is not yet answered
 * to the client, in arrival order. Invariant: entries leave only from the head, so PUBACKs (and
 * PUBRECs) go out in the order the PUBLISHes arrived [MQTT-4.6.0-2] [MQTT-4.6.0-3], however the
 * broker's confirms are ordered. Its length is what the connection bounds with
 * maxInflightPublishesPerClient (no unbounded buffers).
 */
import type { BackendError, DeliveryTag } from "../backend/backend.ts";
import type { QoS } from "../codec/index.ts";

const MAX_PACKET_ID = 0xffff;

/** QoS 1 deliveries awaiting the client's PUBACK. */
export class OutboundInflight {
  private readonly tags = new Map<number, DeliveryTag>();
  /** Where the search for a free id starts: ids are handed out round-robin so a late PUBACK for an old id is not confused with a new delivery. */
  private nextPacketId = 1;

  /** Records `tag` under a free packet id and returns the id; undefined when all 65,535 are in use. */
  add(tag: DeliveryTag): number | undefined {
    if (this.tags.size >= MAX_PACKET_ID) return undefined;
    let id = this.nextPacketId;
    while (this.tags.has(id)) id = id === MAX_PACKET_ID ? 1 : id + 1;
    this.tags.set(id, tag);
    this.nextPacketId = id === MAX_PACKET_ID ? 1 : id + 1;
    return id;
  }

  /** The client acknowledged `packetId`: its delivery's tag (now removed), or undefined for an unknown id. */
  take(packetId: number): DeliveryTag | undefined {
    const tag = this.tags.get(packetId);
    if (tag !== undefined) this.tags.delete(packetId);
    return tag;
  }

  get size(): number {
    return this.tags.size;
  }

  /** Forgets every entry (the connection is closing; the backend returns the unsettled deliveries). */
  clear(): void {
    this.tags.clear();
  }
}

/** One client PUBLISH on its way to the broker. */
export interface InboundPublish {
  /** The client's packet id; undefined for QoS 0. */
  readonly packetId: number | undefined;
  /** For the log line if the broker refuses it. */
  readonly topic: string;
  readonly qos: QoS;
  /** undefined while the broker has not answered; null once it took the message; the refusal otherwise. */
  outcome: BackendError | null | undefined;
  /** Resolves when `outcome` is set (never rejects). */
  done: Promise<void>;
}

/** Client PUBLISHes awaiting the broker, answered in arrival order. */
export class InboundInflight {
  private readonly queue: InboundPublish[] = [];
  /** Packet ids of QoS 2 publishes in `queue`: a DUP resend of one of them must not be published again. */
  private readonly pendingQos2 = new Set<number>();

  /** Appends a publish; the caller sets `done` to the promise that fills in `outcome`. */
  add(packetId: number | undefined, qos: QoS, topic: string): InboundPublish {
    const entry: InboundPublish = { packetId, topic, qos, outcome: undefined, done: Promise.resolve() };
    this.queue.push(entry);
    if (qos === 2 && packetId !== undefined) this.pendingQos2.add(packetId);
    return entry;
  }

  /** Removes and returns the oldest publish if the broker has answered it; undefined otherwise. */
  shiftAnswered(): InboundPublish | undefined {
    const head = this.queue[0];
    if (head === undefined || head.outcome === undefined) return undefined;
    this.queue.shift();
    if (head.qos === 2 && head.packetId !== undefined) this.pendingQos2.delete(head.packetId);
    return head;
  }

  /** Whether a QoS 2 publish with `packetId` is still waiting for the broker. */
  hasPendingQos2(packetId: number): boolean {
    return this.pendingQos2.has(packetId);
  }

  /** Publishes not yet answered to the client. */
  get size(): number {
    return this.queue.length;
  }

  /** Resolves once the broker has answered every publish now in the table. */
  whenAnswered(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return Promise.all(this.queue.map((entry) => entry.done)).then(() => undefined);
  }
}
