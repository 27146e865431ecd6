/**
 * Broker deliveries (and retained messages) → client PUBLISH, and the client's PUBACK / PUBREC /
 * PUBCOMP back to the broker.
 *
 * QoS of a delivery = min(the highest granted QoS over the client's filters that match its topic,
 * the publisher's QoS) [MQTT-3.8.4-6]. One session queue holds all of a client's bindings and
 * RabbitMQ routes a message to a queue once, so overlapping subscriptions give one copy, at the
 * highest matching QoS (the native plugin's two queues deliver duplicates). When no filter
 * matches (bindings from a process that is gone, so their granted QoS is unknown here) the
 * publisher's QoS is used, capped at 1 (what the native plugin delivers).
 *
 * `$` topics [MQTT-4.7.2-1]: RabbitMQ routes `$SYS.x` through a `#` binding. A delivery whose
 * topic starts with `$` and that only `#`/`+`-first filters of this client match is acked and
 * dropped here; a delivery no known filter matches is delivered as above (unknown binding).
 *
 * QoS 0: written, then settled at once, or on the transport's drain when it is over its
 * high-water mark: unsettled deliveries hold the broker's prefetch window, and that is the flow
 * control towards a slow client (no buffer of ours grows). A `droppable` delivery (the shared
 * QoS 0 fan-out: no window holds it) is written while the transport holds at most
 * `qos0MaxBufferedBytes` unsent (`adapter.qos0_max_buffered_bytes`: room for a healthy client
 * that falls behind a burst) and dropped beyond, counted (`qos0MessageDropped`): at most once,
 * as QoS 0 allows, and a stuck client costs a bounded buffer.
 * QoS 1: written with a fresh packet id and DUP = the broker's redelivered flag; settled when the
 * client's PUBACK arrives, so a message is acked to RabbitMQ only once the client has it.
 * QoS 2: PUBLISH → PUBREC → our PUBREL → PUBCOMP, settled (acked to RabbitMQ) at PUBCOMP. If the
 * connection closes after the client's PUBREC but before its PUBCOMP, the delivery is settled at
 * close: the client owns the message then (it may already have handed it to its application),
 * and a redelivery by RabbitMQ would be a duplicate. The id stays in the session state, and the
 * PUBREL is resent with it when the client reconnects to its persistent session [MQTT-4.4.0-1].
 * Not when the adapter shuts down: the session state goes with the process, no PUBREL would be
 * resent, and a client that hands messages over at PUBREL would never release it; RabbitMQ's
 * redelivery (a possible duplicate) is the lesser harm.
 *
 * After a non-clean reconnect, RabbitMQ redelivers what the client never acknowledged (PUBACK, or
 * PUBREC at QoS 2); it goes out with DUP set but a fresh packet id, not the original one
 * [MQTT-4.4.0-1] asks for: which message had which id lived in the old connection only, as in the
 * native plugin. A QoS 2 receiver that hands messages to its application at PUBREL (Paho,
 * libmosquitto, MQTT.js do) sees no duplicate from that; see the README on "exactly once".
 *
 * Invariant: every tag in `settleOnDrain` belongs to a QoS 0 PUBLISH already written.
 */
import type { Delivery, DeliveryTag } from "../backend/backend.ts";
import {
  PACKET_TYPE_NAMES,
  PacketType,
  ReasonCode,
  validateTopicName,
  type PubackPacket,
  type PubcompPacket,
  type PubrecPacket,
  type QoS,
} from "../codec/index.ts";
import { formatPayloadForDebug } from "../log.ts";
import type { ConnectionContext } from "./context.ts";
import { ProtocolError } from "./errors.ts";
import { OutboundInflight, type OutboundEntry, type OutboundState } from "./inflight.ts";

/** Default of `adapter.qos0_max_buffered_bytes`. */
export const DEFAULT_QOS0_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/** QoS of a delivery that no known filter matched (what the native plugin delivers). */
const UNKNOWN_BINDING_MAX_QOS: QoS = 1;

/** The QoS a delivery goes out with (see the module comment); undefined granted = no known filter. */
export function deliveryQos(grantedQos: QoS | undefined, messageQos: QoS): QoS {
  const qos = grantedQos === undefined ? Math.min(UNKNOWN_BINDING_MAX_QOS, messageQos) : Math.min(grantedQos, messageQos);
  return qos as QoS;
}

export class Deliveries {
  private readonly inflight = new OutboundInflight();
  private settleOnDrain: DeliveryTag[] = [];
  /** Retained messages (QoS 1 and 2) in `inflight`. */
  private retainedInflight = 0;

  constructor(
    private readonly context: ConnectionContext,
    /** A retained message's flow finished (its window has room again). */
    private readonly onRetainedDone: () => void = () => {},
    /** Unsent bytes above which droppable (shared QoS 0) deliveries are dropped; undefined = the default. */
    private readonly qos0MaxBufferedBytes: number = DEFAULT_QOS0_MAX_BUFFERED_BYTES,
  ) {}

  /** QoS 1 and 2 PUBLISHes (and resent PUBRELs) the client has not finished acknowledging. */
  get unacknowledged(): number {
    return this.inflight.size;
  }

  /** Retained QoS 1 and 2 PUBLISHes in flight. */
  get retainedUnacknowledged(): number {
    return this.retainedInflight;
  }

  deliver(delivery: Delivery): void {
    const { context } = this;
    const { session, log, matcher } = context;
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
    const granted = matcher.maxGrantedQos(delivery.topic);
    if (granted === undefined && delivery.topic.charCodeAt(0) === 0x24 /* $ */ && matcher.matchesIgnoringDollarRule(delivery.topic)) {
      log.debug(`not delivering ${JSON.stringify(delivery.topic)}: only filters starting with a wildcard match it [MQTT-4.7.2-1]`);
      session.settle(delivery.tag);
      return;
    }
    const qos = deliveryQos(granted, delivery.messageQos);
    if (log.debugEnabled) {
      log.debug(`delivering QoS ${qos} to ${JSON.stringify(delivery.topic)}: ${formatPayloadForDebug(delivery.payload)}`);
    }
    if (qos === 0) {
      if (delivery.droppable === true && context.bufferedBytes() > this.qos0MaxBufferedBytes) {
        context.metrics.qos0MessageDropped();
        return;
      }
      // DUP must be 0 at QoS 0 [MQTT-3.3.1-2]; retain is 0 for a subscriber that was there [MQTT-3.3.1-9].
      const below = context.send({ type: PacketType.Publish, topic: delivery.topic, payload: delivery.payload, qos: 0, retain: false, dup: false });
      if (delivery.droppable === true) return; // nothing to settle
      if (below && this.settleOnDrain.length === 0) session.settle(delivery.tag);
      else this.settleOnDrain.push(delivery.tag);
      return;
    }
    const packetId = this.allocate({ state: qos === 1 ? "awaiting-puback" : "awaiting-pubrec", tag: delivery.tag, retained: false });
    if (packetId === undefined) return;
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

  /**
   * Writes a retained message for a new subscription, RETAIN set [MQTT-3.3.1-8]. Returns the
   * transport's answer (false = over its high-water mark: stop sending until drain).
   */
  sendRetained(topic: string, payload: Uint8Array, qos: QoS): boolean {
    if (qos === 0) return this.context.send({ type: PacketType.Publish, topic, payload, qos: 0, retain: true, dup: false });
    const packetId = this.allocate({ state: qos === 1 ? "awaiting-puback" : "awaiting-pubrec", tag: undefined, retained: true });
    if (packetId === undefined) return false;
    this.retainedInflight++;
    return this.context.send({ type: PacketType.Publish, topic, payload, qos, retain: true, dup: false, packetId });
  }

  /**
   * A persistent session resumed with outbound QoS 2 ids between PUBREL and PUBCOMP: resend each
   * PUBREL with its original id [MQTT-4.4.0-1]. Call right after CONNACK, before any delivery.
   */
  resumePubrels(): void {
    for (const packetId of this.context.sessionState.awaitingPubcomp) {
      this.inflight.reserve(packetId, { state: "awaiting-pubcomp", tag: undefined, retained: false });
      this.context.send({ type: PacketType.Pubrel, packetId });
    }
  }

  /** PUBACK: the client has a QoS 1 message; ack it to the broker. An unknown id is ignored. */
  handlePuback(packet: PubackPacket): void {
    const entry = this.expect(packet, "awaiting-puback");
    if (entry !== undefined) this.finish(packet.packetId, entry);
  }

  /** PUBREC: the client has a QoS 2 message; answer PUBREL (again, for a repeated PUBREC). */
  handlePubrec(packet: PubrecPacket): void {
    const entry = this.inflight.get(packet.packetId);
    if (entry?.state === "awaiting-pubcomp") {
      // Our PUBREL may not have arrived before a reconnect; the id is still ours: send it again.
      this.context.send({ type: PacketType.Pubrel, packetId: packet.packetId });
      return;
    }
    if (this.expect(packet, "awaiting-pubrec") === undefined) return;
    entry!.state = "awaiting-pubcomp";
    this.context.sessionState.awaitingPubcomp.add(packet.packetId);
    this.context.send({ type: PacketType.Pubrel, packetId: packet.packetId });
  }

  /** PUBCOMP: the QoS 2 flow is done; ack the delivery to the broker and free the id. */
  handlePubcomp(packet: PubcompPacket): void {
    const entry = this.expect(packet, "awaiting-pubcomp");
    if (entry === undefined) return;
    this.context.sessionState.awaitingPubcomp.delete(packet.packetId);
    this.finish(packet.packetId, entry);
  }

  /** The transport drained: settle the QoS 0 deliveries written while it was full. */
  onDrain(): void {
    if (this.settleOnDrain.length === 0) return;
    const tags = this.settleOnDrain;
    this.settleOnDrain = [];
    for (const tag of tags) this.context.session.settle(tag);
  }

  /**
   * The connection is closing. With `settlePubrecd`, deliveries the client PUBREC'd are settled
   * (it owns them; their ids stay in the session state for the PUBREL). Everything else is
   * forgotten, and the broker returns it to the queue when the session closes.
   */
  clear(settlePubrecd: boolean): void {
    for (const [, entry] of this.inflight.all()) {
      if (settlePubrecd && entry.state === "awaiting-pubcomp" && entry.tag !== undefined) this.context.session.settle(entry.tag);
    }
    this.inflight.clear();
    this.settleOnDrain = [];
    this.retainedInflight = 0;
  }

  private allocate(entry: OutboundEntry): number | undefined {
    const packetId = this.inflight.add(entry);
    if (packetId === undefined) {
      // The broker's prefetch bounds this far below 65,535: reaching it means a broken window.
      this.context.fail(
        new ProtocolError(
          ReasonCode.ImplementationSpecificError,
          "65,535 QoS 1/2 deliveries are waiting for acknowledgement, no packet id is free [MQTT-2.3.1-2]; check mqtt.prefetch",
        ),
      );
    }
    return packetId;
  }

  /** The entry of `packet`'s id if it is in `state`; else logs why the packet is ignored. */
  private expect(packet: PubackPacket | PubrecPacket | PubcompPacket, state: OutboundState): OutboundEntry | undefined {
    const entry = this.inflight.get(packet.packetId);
    if (entry?.state === state) return entry;
    // E.g. an acknowledgement resent after a reconnect for a delivery the broker has redelivered
    // since, or a client acknowledging with the wrong packet type: nothing we can settle.
    this.context.log.debug(
      `${PACKET_TYPE_NAMES[packet.type]} for packet id ${packet.packetId}, which is ${entry === undefined ? "not in flight" : entry.state.replace("-", " ")}; ignored`,
    );
    return undefined;
  }

  private finish(packetId: number, entry: OutboundEntry): void {
    this.inflight.delete(packetId);
    if (entry.tag !== undefined) this.context.session.settle(entry.tag);
    if (entry.retained) {
      this.retainedInflight--;
      this.onRetainedDone();
    }
  }
}
