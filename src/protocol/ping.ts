/** PINGREQ → PINGRESP [MQTT-3.12.4-1]. The keepalive clock was already reset by the packet's arrival. */
import { PacketType } from "../codec/index.ts";
import type { ConnectionContext } from "./context.ts";

export function handlePingreq(context: ConnectionContext): void {
  context.send({ type: PacketType.Pingresp });
}
