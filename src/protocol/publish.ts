/**
 * Client PUBLISH (and, for QoS 2, PUBREL) → broker.
 *
 * QoS 0: handed to the backend, no answer. QoS 1: PUBACK once the broker confirmed it, never
 * before (a PUBACKed message is never lost). QoS 2: published once, PUBREC after the confirm,
 * the packet id remembered until PUBREL, which is answered with PUBCOMP [MQTT-3.6.4-1]; a resent
 * PUBLISH with an id already PUBREC'd, or still on its way, is not published again [MQTT-4.3.3-2]
 * (the native plugin answers QoS 2 with PUBACK, which breaks strict clients; we deliberately differ).
 *
 * Answers leave in arrival order (inflight.ts). The payload handed to the backend is a view into
 * the decoder's buffer: the backend copies what it keeps past the call (Backend contract).
 *
 * Retain flag: the message goes to RabbitMQ as any other (subscribers there get it with RETAIN
 * 0 [MQTT-3.3.1-9]) and, once RabbitMQ accepted it, is stored as the topic's retained message
 * (an empty payload deletes it) [MQTT-3.3.1-5] [MQTT-3.3.1-10]. Only after: a publish RabbitMQ
 * refuses (write or topic permission) must never become retained, so a retained QoS 0 publish
 * waits for its confirm too. Stores happen in arrival order, before the PUBACK/PUBREC, so a client
 * that subscribes after its PUBACK finds its message. A store that is full refuses (and logs);
 * the publish itself is still acknowledged: 3.1.1 cannot refuse only the retain part.
 *
 * Broker flow control: while the backend says publishing is blocked (a RabbitMQ memory or disk
 * alarm), a PUBLISH that arrives is still handed over (it waits in the backend) and the client's
 * socket is no longer read until publishing is unblocked: the client is paused by TCP, nothing
 * piles up in the adapter. Only clients that publish meanwhile are paused; the blocked notice by
 * itself pauses nobody, so subscribers keep acking (which is what drains the queues that ended up
 * in the alarm), new clients log in and PINGREQs are answered (DESIGN.md, flow control).
 *
 * The close sequence waits for publishes already handed to the broker: their outcomes are still
 * processed (retained stored, QoS 2 ids recorded in the session state, so a PUBLISH resent with
 * DUP after the reconnect is not published twice), only the answers are not written.
 */
import type { BackendError } from "../backend/backend.ts";
import { PacketType, ReasonCode, type PublishPacket, type PubrelPacket, type QoS } from "../codec/index.ts";
import { PauseReason, type ConnectionContext } from "./context.ts";
import { ProtocolError } from "./errors.ts";
import { InboundInflight, type InboundPublish } from "./inflight.ts";

/** Why a refused publish closes the connection: MQTT 3.1.1 has no negative PUBACK. */
const REFUSAL_RULE =
  "MQTT 3.1.1 cannot refuse a PUBLISH, so the connection is closed [MQTT-3.3.5-2] " +
  "(the native plugin leaves the PUBLISH unanswered instead)";

export class InboundPublishes {
  private readonly table = new InboundInflight();
  /** The backend said publishing is blocked (SessionEvents.publishBlocked); set by the connection. */
  private brokerBlocked = false;
  /** Reading is paused because a PUBLISH arrived while the broker was blocked. */
  private pausedByBroker = false;

  constructor(
    private readonly context: ConnectionContext,
    /** maxInflightPublishesPerClient: at this many unanswered publishes, reading pauses. */
    private readonly maxInflight: number,
  ) {}

  /** Publishes not yet answered. */
  get pending(): number {
    return this.table.size;
  }

  handlePublish(packet: PublishPacket): void {
    const { context } = this;
    if (packet.qos === 2) {
      const packetId = packet.packetId!;
      // Still on its way to the broker: the PUBREC for the first copy answers this one too.
      if (this.table.hasPendingQos2(packetId)) return;
      if (context.sessionState.awaitingPubrel.has(packetId)) {
        // Already published and PUBREC'd: answer PUBREC again, publish nothing [MQTT-4.3.3-2].
        const again = this.table.add(packetId, 2, packet.topic);
        again.outcome = null;
        this.flush();
        return;
      }
    }
    // Only QoS 1 is timed (the PUBACK latency histogram); one clock read per PUBLISH.
    const entry = this.table.add(packet.packetId, packet.qos, packet.topic, packet.qos === 1 ? performance.now() : 0);
    // Copied once: the store is written after the confirm, when the decoder's view is gone.
    if (packet.retain) entry.retainedPayload = packet.payload.slice();
    entry.done = context.session
      .publish({ topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, dup: packet.dup, confirm: packet.retain })
      .catch((error: unknown): BackendError => ({ kind: "failed", message: `publish threw: ${String(error)}` }))
      .then((outcome) => {
        if (outcome === undefined) context.metrics.messagePublished(entry.qos);
        entry.outcome = outcome ?? null;
        this.flush();
      });
    if (this.table.size >= this.maxInflight) context.setPaused(PauseReason.InflightPublishes, true);
    if (this.brokerBlocked && !this.pausedByBroker) {
      this.pausedByBroker = true;
      context.log.info("RabbitMQ blocked publishing (resource alarm): not reading from the client until it is unblocked");
      context.setPaused(PauseReason.BrokerBlocked, true);
    }
  }

  /**
   * The backend says publishing is blocked (or no longer): record it; a client paused by a
   * PUBLISH made while blocked is read again once unblocked.
   */
  setBrokerBlocked(blocked: boolean): void {
    this.brokerBlocked = blocked;
    if (blocked || !this.pausedByBroker) return;
    this.pausedByBroker = false;
    this.context.log.info("RabbitMQ unblocked publishing: reading from the client again");
    this.context.setPaused(PauseReason.BrokerBlocked, false);
  }

  /** PUBREL: the client releases a QoS 2 packet id; answered with PUBCOMP. */
  handlePubrel(packet: PubrelPacket): void {
    const { context } = this;
    const packetId = packet.packetId;
    if (this.table.hasPendingQos2(packetId)) {
      context.fail(
        new ProtocolError(
          ReasonCode.ProtocolError,
          `PUBREL for packet id ${packetId} arrived before its PUBREC was sent; a client sends PUBREL only in answer to PUBREC (MQTT 3.1.1 §4.3.3)`,
        ),
      );
      return;
    }
    // [MQTT-3.6.4-1]. An unknown id still gets PUBCOMP (3.1.1 has no error code for it): the
    // client may be resending PUBREL after a reconnect whose state this process no longer has.
    context.sessionState.awaitingPubrel.delete(packetId);
    context.send({ type: PacketType.Pubcomp, packetId });
  }

  /** Resolves once the broker has answered every publish handed to it (for the close sequence). */
  whenAnswered(): Promise<void> {
    return this.table.whenAnswered();
  }

  /**
   * Processes the outcomes now due, oldest first: stores retained messages, records QoS 2 ids,
   * sends the answers (while the connection is open); closes the connection on a refusal.
   */
  private flush(): void {
    const { context } = this;
    let entry: InboundPublish | undefined;
    while ((entry = this.table.shiftAnswered()) !== undefined) {
      if (entry.outcome !== null && entry.outcome !== undefined) {
        if (context.isOpen()) context.fail(publishRefused(entry.topic, entry.qos, entry.outcome));
        continue;
      }
      if (entry.retainedPayload !== undefined) this.storeRetained(entry.topic, entry.retainedPayload, entry.qos);
      const open = context.isOpen();
      if (entry.qos === 1) {
        if (open) {
          context.send({ type: PacketType.Puback, packetId: entry.packetId! });
          context.metrics.pubackLatency(performance.now() - entry.receivedAtMs);
        }
      } else if (entry.qos === 2) {
        context.sessionState.awaitingPubrel.add(entry.packetId!);
        if (open) context.send({ type: PacketType.Pubrec, packetId: entry.packetId! });
      }
    }
    if (this.table.size < this.maxInflight) context.setPaused(PauseReason.InflightPublishes, false);
  }

  private storeRetained(topic: string, payload: Uint8Array, qos: QoS): void {
    const { context } = this;
    context.retainedStore.put(context.vhost, topic, payload, qos).then(
      (outcome) => {
        if (outcome.kind !== "refused") context.log.debug(`retained message for ${JSON.stringify(topic)} ${outcome.kind}`);
      },
      (error: unknown) => context.log.error(`storing the retained message for ${JSON.stringify(topic)} failed: ${String(error)}`),
    );
  }
}

function publishRefused(topic: string, qos: number, error: BackendError): ProtocolError {
  const reason = error.kind === "not-authorised" ? ReasonCode.NotAuthorized : ReasonCode.ImplementationSpecificError;
  const code = error.amqpReplyCode === undefined ? "" : ` (AMQP ${error.amqpReplyCode})`;
  return new ProtocolError(
    reason,
    `RabbitMQ refused a QoS ${qos} PUBLISH to topic ${JSON.stringify(topic)}${code}: ${error.message}; ${REFUSAL_RULE}`,
  );
}
