/**
 * Broker deliveries → client PUBLISH, and the client's PUBACKs back to the broker.
 *
 * QoS of a delivery = min(the highest granted QoS over the client's filters that match its topic,
 * the publisher's QoS) [MQTT-3.8.4-6]. When no filter matches (bindings from a process that is gone, so their
 * granted QoS is unknown here) the publisher's QoS is used, capped at 1 (what the native plugin
 * delivers). Outbound QoS 2 is issue 7: nothing is granted above 1 yet.
 *
 * QoS 0: written, then settled at once, or on the transport's drain when it is over its
 * high-water mark: unsettled deliveries hold the broker's prefetch window, and that is the flow
 * control towards a slow client (no buffer of ours grows).
 * QoS 1: written with a fresh packet id and DUP = the broker's redelivered flag; settled when the
 * client's PUBACK arrives, so a message is acked to RabbitMQ only once the client has it.
 *
 * After a non-clean reconnect, RabbitMQ redelivers what the client never PUBACKed; it goes out
 * with DUP set but a fresh packet id, not the original one [MQTT-4.4.0-1] asks for: the ids live
 * in the old connection only, as in the native plugin. (Issue 7 keeps QoS 2 ids in the session.)
 *
 * Invariant: every tag in `settleOnDrain` belongs to a QoS 0 PUBLISH already written.
 */
import type { Delivery, DeliveryTag } from "../backend/backend.ts";
import { PacketType, ReasonCode, validateTopicName, type PubackPacket, type QoS } from "../codec/index.ts";
import { formatPayloadForDebug } from "../log.ts";
import type { ConnectionContext } from "./context.ts";
import { ProtocolError } from "./errors.ts";
import { OutboundInflight } from "./inflight.ts";

/** Highest QoS delivered until issue 7 brings outbound QoS 2. */
const MAX_DELIVERY_QOS: QoS = 1;

/** The QoS a delivery goes out with (see the module comment). */
export function deliveryQos(grantedQos: QoS | undefined, messageQos: QoS): QoS {
  const qos = Math.min(grantedQos ?? MAX_DELIVERY_QOS, messageQos, MAX_DELIVERY_QOS);
  return qos as QoS;
}

export class Deliveries {
  private readonly inflight = new OutboundInflight();
  private settleOnDrain: DeliveryTag[] = [];

  constructor(private readonly context: ConnectionContext) {}

  /** QoS 1 deliveries awaiting PUBACK. */
  get unacknowledged(): number {
    return this.inflight.size;
  }

  deliver(delivery: Delivery): void {
    const { context } = this;
    const { session, log } = context;
    const topicError = validateTopicName(delivery.topic);
    if (topicError !== undefined) {
      // E.g. an AMQP publisher's routing key that is no valid MQTT topic (empty, or with '#').
      // It can never be delivered legally, so it is dropped (acked), with a line saying why.
      log.warning(
        `dropping a message with routing key ${JSON.stringify(delivery.routingKey)}: as an MQTT topic it ${topicError.message}`,
      );
      session.settle(delivery.tag);
      return;
    }
    const qos = deliveryQos(context.matcher.maxGrantedQos(delivery.topic), delivery.messageQos);
    if (log.debugEnabled) {
      log.debug(`delivering QoS ${qos} to ${JSON.stringify(delivery.topic)}: ${formatPayloadForDebug(delivery.payload)}`);
    }
    if (qos === 0) {
      // DUP must be 0 at QoS 0 [MQTT-3.3.1-2]; retain is 0 for a subscriber that was there [MQTT-3.3.1-9].
      const below = context.send({ type: PacketType.Publish, topic: delivery.topic, payload: delivery.payload, qos: 0, retain: false, dup: false });
      if (below && this.settleOnDrain.length === 0) session.settle(delivery.tag);
      else this.settleOnDrain.push(delivery.tag);
      return;
    }
    const packetId = this.inflight.add(delivery.tag);
    if (packetId === undefined) {
      // The broker's prefetch bounds this far below 65,535: reaching it means a broken window.
      context.fail(
        new ProtocolError(
          ReasonCode.ImplementationSpecificError,
          "65,535 QoS 1 deliveries are waiting for PUBACK, no packet id is free [MQTT-2.3.1-2]; check mqtt.prefetch",
        ),
      );
      return;
    }
    context.send({
      type: PacketType.Publish,
      topic: delivery.topic,
      payload: delivery.payload,
      qos,
      retain: false,
      dup: delivery.redelivered,
      packetId,
    });
  }

  /** PUBACK: the client has the message; ack it to the broker. An unknown id is ignored. */
  handlePuback(packet: PubackPacket): void {
    const tag = this.inflight.take(packet.packetId);
    if (tag === undefined) {
      // E.g. a PUBACK resent after a reconnect for a delivery the broker has already redelivered.
      this.context.log.debug(`PUBACK for packet id ${packet.packetId}, which is not in flight; ignored`);
      return;
    }
    this.context.session.settle(tag);
  }

  /** The transport drained: settle the QoS 0 deliveries written while it was full. */
  onDrain(): void {
    if (this.settleOnDrain.length === 0) return;
    const tags = this.settleOnDrain;
    this.settleOnDrain = [];
    for (const tag of tags) this.context.session.settle(tag);
  }

  /** The connection is closing: forget in-flight ids; the broker returns unsettled deliveries. */
  clear(): void {
    this.inflight.clear();
    this.settleOnDrain = [];
  }
}
