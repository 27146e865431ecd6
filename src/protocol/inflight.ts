/**
 * In-flight tables: the packets of one connection that wait for an answer.
 *
 * Outbound (adapter -> client): PUBLISHes at QoS 1 and 2 we wrote and the client has not finished
 * acknowledging, by the packet id we allocated, each in one state:
 *
 *   QoS 1:  PUBLISH ──▶ awaiting PUBACK ──PUBACK──▶ done (settled)
 *   QoS 2:  PUBLISH ──▶ awaiting PUBREC ──PUBREC / we send PUBREL──▶ awaiting PUBCOMP ──PUBCOMP──▶ done
 *
 * An entry carries the broker's delivery tag (settled when done), or none: a retained message
 * from the retained store, or a PUBREL resent after a reconnect (its delivery was settled by the
 * connection before). Invariants: every id in the table was written in a PUBLISH (or PUBREL) and
 * not yet completed; ids are 1..65535 and never two entries share one [MQTT-2.3.1-2]. The broker's
 * prefetch and the retained window bound the table long before ids run out.
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

/** Where an outbound QoS 1 / QoS 2 PUBLISH is in its acknowledgement flow. */
export type OutboundState = "awaiting-puback" | "awaiting-pubrec" | "awaiting-pubcomp";

/** One outbound PUBLISH the client has not finished acknowledging. */
export interface OutboundEntry {
  state: OutboundState;
  /** The broker delivery to settle when done; undefined for retained messages and resumed PUBRELs. */
  readonly tag: DeliveryTag | undefined;
  /** A retained message (counts against the retained window, see retained-delivery.ts). */
  readonly retained: boolean;
}

/** Outbound QoS 1 / QoS 2 PUBLISHes awaiting the client's acknowledgements. */
export class OutboundInflight {
  private readonly entries = new Map<number, OutboundEntry>();
  /** Where the search for a free id starts: ids are handed out round-robin so a late PUBACK for an old id is not confused with a new delivery. */
  private nextPacketId = 1;

  /** Records `entry` under a free packet id and returns the id; undefined when all 65,535 are in use. */
  add(entry: OutboundEntry): number | undefined {
    if (this.entries.size >= MAX_PACKET_ID) return undefined;
    let id = this.nextPacketId;
    while (this.entries.has(id)) id = id === MAX_PACKET_ID ? 1 : id + 1;
    this.entries.set(id, entry);
    this.nextPacketId = id === MAX_PACKET_ID ? 1 : id + 1;
    return id;
  }

  /** Records `entry` under the given id (a PUBREL resent after a reconnect keeps its id [MQTT-4.4.0-1]). */
  reserve(packetId: number, entry: OutboundEntry): void {
    this.entries.set(packetId, entry);
  }

  get(packetId: number): OutboundEntry | undefined {
    return this.entries.get(packetId);
  }

  /** Removes `packetId` (its flow is done). */
  delete(packetId: number): void {
    this.entries.delete(packetId);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every entry with its id (for the close sequence). */
  all(): IterableIterator<[number, OutboundEntry]> {
    return this.entries.entries();
  }

  /** Forgets every entry (the connection is closing; the backend returns the unsettled deliveries). */
  clear(): void {
    this.entries.clear();
  }
}

/** One client PUBLISH on its way to the broker. */
export interface InboundPublish {
  /** The client's packet id; undefined for QoS 0. */
  readonly packetId: number | undefined;
  /** For the log line if the broker refuses it. */
  readonly topic: string;
  readonly qos: QoS;
  /** When the PUBLISH was read (performance.now(), ms), for the PUBACK latency metric; 0 when not measured. */
  readonly receivedAtMs: number;
  /** undefined while the broker has not answered; null once it took the message; the refusal otherwise. */
  outcome: BackendError | null | undefined;
  /** A copy of the payload of a PUBLISH with the retain flag, stored once the broker took it. */
  retainedPayload?: Uint8Array;
  /** Resolves when `outcome` is set (never rejects). */
  done: Promise<void>;
}

/** Client PUBLISHes awaiting the broker, answered in arrival order. */
export class InboundInflight {
  private readonly queue: InboundPublish[] = [];
  /** Packet ids of QoS 2 publishes in `queue`: a DUP resend of one of them must not be published again. */
  private readonly pendingQos2 = new Set<number>();

  /** Appends a publish; the caller sets `done` to the promise that fills in `outcome`. */
  add(packetId: number | undefined, qos: QoS, topic: string, receivedAtMs = 0): InboundPublish {
    const entry: InboundPublish = { packetId, topic, qos, receivedAtMs, outcome: undefined, done: Promise.resolve() };
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
