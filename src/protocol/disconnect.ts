/**
 * DISCONNECT: the client ends the connection cleanly. The will is discarded without being
 * published [MQTT-3.14.4-3] and the server closes the network connection (3.1.1 §3.14.4: it
 * "SHOULD close the Network Connection if the Client has not already done so").
 * (MQTT 5 adds reason 0x04 "Disconnect with Will Message": the seam is `publishWill` below.)
 */
import type { DisconnectPacket } from "../codec/index.ts";
import type { ConnectionContext } from "./context.ts";

export function handleDisconnect(context: ConnectionContext, packet: DisconnectPacket): void {
  const publishWill = packet.reasonCode === 0x04; // only MQTT 5 can ask for it; 3.x never
  context.endCleanly(publishWill);
}
