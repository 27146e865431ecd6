/**
 * UNSUBSCRIBE → unbind each filter → UNSUBACK. Unknown filters are not an error (the spec
 * answers UNSUBACK even when nothing matched [MQTT-3.10.4-5]). 3.1.1 has no failure code in
 * UNSUBACK, so a broker refusal closes the connection with a log line saying why.
 */
import { PacketType, ReasonCode, type UnsubscribePacket } from "../codec/index.ts";
import type { ConnectionContext } from "./context.ts";
import { ProtocolError } from "./errors.ts";

export function handleUnsubscribe(context: ConnectionContext, packet: UnsubscribePacket): void {
  const filters = packet.topicFilters;
  context.enqueue(async () => {
    const error = await context.session.unsubscribe(filters);
    if (!context.isOpen()) return;
    if (error !== undefined) {
      context.fail(
        new ProtocolError(
          error.kind === "not-authorised" ? ReasonCode.NotAuthorized : ReasonCode.ImplementationSpecificError,
          `RabbitMQ refused UNSUBSCRIBE of ${filters.map((f) => JSON.stringify(f)).join(", ")}: ${error.message}; ` +
            "MQTT 3.1.1 UNSUBACK cannot carry a failure, so the connection is closed",
        ),
      );
      return;
    }
    for (const filter of filters) {
      context.sessionState.subscriptions.delete(filter);
      context.matcher.delete(filter);
    }
    context.send({ type: PacketType.Unsuback, packetId: packet.packetId });
  });
}
