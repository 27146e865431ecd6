/**
 * ConnectedClient: what a Connection has once CONNACK 0 went out — the per-packet handlers of one
 * connected client and the dispatch of its packets to them. connection.ts keeps the lifecycle
 * (reading, CONNECT, closing); this file is the "connected" state of that lifecycle.
 *
 * Invariant: exists only for a connection that sent CONNACK 0; its handlers share one
 * ConnectionContext, so they see the same session, version, matcher and session state.
 */
import { PACKET_TYPE_NAMES, PacketType, ReasonCode, type Packet } from "../codec/index.ts";
import type { RetainedStore } from "../retained/index.ts";
import type { ConnectionContext } from "./context.ts";
import { Deliveries } from "./delivery.ts";
import { handleDisconnect } from "./disconnect.ts";
import { ProtocolError } from "./errors.ts";
import { handlePingreq } from "./ping.ts";
import { InboundPublishes } from "./publish.ts";
import { RetainedDeliveries } from "./retained-delivery.ts";
import { handleSubscribe } from "./subscribe.ts";
import { handleUnsubscribe } from "./unsubscribe.ts";

/** Retained QoS 1/2 messages in flight per client when the options name no bound. */
const DEFAULT_MAX_INFLIGHT_RETAINED = 10;

export class ConnectedClient {
  /** Client PUBLISH / PUBREL: towards the broker. */
  readonly publishes: InboundPublishes;
  /** Broker deliveries and the client's PUBACK / PUBREC / PUBCOMP for them. */
  readonly deliveries: Deliveries;
  /** Retained messages owed to new subscriptions, released within the in-flight window. */
  readonly retainedDeliveries: RetainedDeliveries;

  constructor(
    readonly context: ConnectionContext,
    retainedStore: RetainedStore,
    limits: { maxInflightPublishesPerClient: number; maxInflightRetained?: number; qos0MaxBufferedBytes?: number },
  ) {
    this.publishes = new InboundPublishes(context, limits.maxInflightPublishesPerClient);
    this.deliveries = new Deliveries(context, () => this.retainedDeliveries.onAcknowledged(), limits.qos0MaxBufferedBytes);
    this.retainedDeliveries = new RetainedDeliveries(
      context,
      this.deliveries,
      retainedStore,
      limits.maxInflightRetained ?? DEFAULT_MAX_INFLIGHT_RETAINED,
    );
  }

  /** Hands a packet of a connected client to its handler; anything a client may not send fails. */
  dispatch(packet: Packet): void {
    const context = this.context;
    switch (packet.type) {
      case PacketType.Publish:
        this.publishes.handlePublish(packet);
        return;
      case PacketType.Puback:
        this.deliveries.handlePuback(packet);
        return;
      case PacketType.Pubrel:
        this.publishes.handlePubrel(packet);
        return;
      case PacketType.Pubrec:
        this.deliveries.handlePubrec(packet);
        return;
      case PacketType.Pubcomp:
        this.deliveries.handlePubcomp(packet);
        return;
      case PacketType.Subscribe:
        handleSubscribe(context, packet, this.retainedDeliveries);
        return;
      case PacketType.Unsubscribe:
        handleUnsubscribe(context, packet);
        return;
      case PacketType.Pingreq:
        handlePingreq(context);
        return;
      case PacketType.Disconnect:
        handleDisconnect(context, packet);
        return;
      case PacketType.Connect:
        context.fail(new ProtocolError(ReasonCode.ProtocolError, "a second CONNECT on a connected session; a client may send CONNECT only once [MQTT-3.1.0-2]"));
        return;
      default:
        context.fail(
          new ProtocolError(
            ReasonCode.ProtocolError,
            `received ${PACKET_TYPE_NAMES[packet.type]}, which only a server sends; a client must not send it (MQTT 3.1.1 §2.2.1)`,
          ),
        );
    }
  }

  /** The transport can take more: settle what waited for the drain, release retained messages. */
  onDrain(): void {
    this.deliveries.onDrain();
    this.retainedDeliveries.onDrain();
  }

  /**
   * The connection is closing: drop in-flight state. `ackPubrecd`: ack to the broker what the
   * client already PUBREC'd (this process keeps its PUBREL for the reconnect).
   */
  clear(ackPubrecd: boolean): void {
    this.deliveries.clear(ackPubrecd);
    this.retainedDeliveries.clear();
  }
}
