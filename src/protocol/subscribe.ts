/**
 * SUBSCRIBE → one binding per filter (the backend's business) → SUBACK with a return code per
 * filter, in order [MQTT-3.8.4-5]: the granted QoS, or 0x80 for a filter RabbitMQ refused (e.g.
 * no read permission) without touching the other filters or other clients.
 *
 * Granted QoS = requested QoS, 0, 1 or 2: every level is delivered as asked (QoS 2 with the full
 * PUBREC/PUBREL/PUBCOMP flow, delivery.ts). Deliveries then go out at min(granted, published)
 * [MQTT-3.8.4-6]. Filter syntax was checked by the decoder (a bad filter closes the connection
 * [MQTT-4.8.0-1]).
 *
 * Once the SUBACK is written, the retained messages matching the granted filters follow
 * (retained-delivery.ts): after the SUBACK, and only for filters RabbitMQ accepted.
 */
import type { SubscribeRequest } from "../backend/backend.ts";
import { PacketType, SUBACK_FAILURE_V3, type QoS, type SubscribePacket } from "../codec/index.ts";
import type { ConnectionContext } from "./context.ts";
import type { RetainedDeliveries } from "./retained-delivery.ts";

/** The QoS a SUBSCRIBE request is granted: what it asked for (every QoS is delivered as such). */
export function grantedQos(requested: QoS): QoS {
  return requested;
}

export function handleSubscribe(context: ConnectionContext, packet: SubscribePacket, retained: RetainedDeliveries): void {
  const requests: SubscribeRequest[] = packet.subscriptions.map((s) => ({ filter: s.topicFilter, qos: grantedQos(s.qos) }));
  context.enqueue(async () => {
    const { sessionState, matcher } = context;
    // Record the grants before the broker binds: a delivery may arrive through a new binding
    // before subscribe() resolves, and it should go out at the granted QoS, not the fallback.
    const previous = requests.map((r) => sessionState.subscriptions.get(r.filter));
    for (const r of requests) {
      sessionState.subscriptions.set(r.filter, r.qos);
      matcher.set(r.filter, r.qos);
    }
    const results = await context.session.subscribe(requests);
    if (!context.isOpen()) return;
    const codes: number[] = [];
    const refused: string[] = [];
    requests.forEach((request, i) => {
      const result = results[i];
      if (result?.ok === true) {
        codes.push(request.qos);
        return;
      }
      codes.push(SUBACK_FAILURE_V3);
      refused.push(`${JSON.stringify(request.filter)} (${result === undefined ? "no answer from the backend" : result.error.message})`);
      // A refused re-subscribe leaves the earlier binding (and its grant) in place.
      const before = previous[i];
      if (before === undefined) {
        sessionState.subscriptions.delete(request.filter);
        matcher.delete(request.filter);
      } else {
        sessionState.subscriptions.set(request.filter, before);
        matcher.set(request.filter, before);
      }
    });
    if (refused.length > 0) context.log.warning(`SUBSCRIBE refused by RabbitMQ for ${refused.join(", ")}: SUBACK 0x80`);
    context.send({ type: PacketType.Suback, packetId: packet.packetId, reasonCodes: codes });
    // Inside the queued operation: a later SUBSCRIBE's retained messages queue after these.
    await retained.subscribed(requests.filter((_, i) => results[i]?.ok === true));
  });
}
