/**
 * Encoding CONNECT: the one packet with optional payload fields chosen by flags.
 */
import { PROPERTY_CONTEXT_WILL, PROTOCOL_NAME, PROTOCOL_NAME_V3, PacketType, type ProtocolVersion } from "./constants.ts";
import type { Plan } from "./encode.ts";
import type { ConnectPacket } from "./packets.ts";
import { propertiesLength, writeProperties } from "./properties.ts";
import { type Writer, binaryLength, stringLength, varintLength } from "./writer.ts";

/** "MQIsdp" for 3.1, "MQTT" for 3.1.1 and 5.0: the name always follows the level we write. */
function protocolNameOf(version: ProtocolVersion): string {
  return version === 3 ? PROTOCOL_NAME_V3 : PROTOCOL_NAME;
}

/** Remaining Length of a CONNECT; records property lengths in `plan`. */
export function measureConnect(packet: ConnectPacket, version: ProtocolVersion, plan: Plan): number {
  if (version === 4 && packet.password !== undefined && packet.username === undefined) {
    throw new RangeError("MQTT 3.1.1 CONNECT cannot carry a password without a user name [MQTT-3.1.2-22]");
  }
  const keepalive = packet.keepaliveSeconds;
  if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 0xffff) {
    throw new RangeError(`CONNECT Keep Alive must be 0..65535 seconds, got ${keepalive}`);
  }
  let length = 2 + protocolNameOf(version).length + 1 + 1 + 2;
  if (version === 5) {
    plan.propertiesLength = propertiesLength(packet.properties, PacketType.Connect);
    length += varintLength(plan.propertiesLength) + plan.propertiesLength;
  }
  length += 2 + stringLength(packet.clientId, "CONNECT client identifier");
  const will = packet.will;
  if (will !== undefined) {
    if (version === 5) {
      plan.willPropertiesLength = propertiesLength(will.properties, PROPERTY_CONTEXT_WILL);
      length += varintLength(plan.willPropertiesLength) + plan.willPropertiesLength;
    }
    length += 2 + stringLength(will.topic, "CONNECT will topic") + 2 + binaryLength(will.payload, "CONNECT will payload");
  }
  if (packet.username !== undefined) length += 2 + stringLength(packet.username, "CONNECT user name");
  if (packet.password !== undefined) length += 2 + binaryLength(packet.password, "CONNECT password");
  return length;
}

export function writeConnect(w: Writer, packet: ConnectPacket, version: ProtocolVersion, plan: Plan): void {
  w.utf8(protocolNameOf(version));
  w.u8(version);
  const will = packet.will;
  let flags = packet.cleanSession ? 0x02 : 0;
  if (will !== undefined) {
    if (will.qos !== 0 && will.qos !== 1 && will.qos !== 2) throw new RangeError(`CONNECT will QoS must be 0, 1 or 2, got ${will.qos}`);
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  }
  if (packet.password !== undefined) flags |= 0x40;
  if (packet.username !== undefined) flags |= 0x80;
  w.u8(flags);
  w.u16(packet.keepaliveSeconds);
  if (version === 5) writeProperties(w, packet.properties, plan.propertiesLength);
  w.utf8(packet.clientId);
  if (will !== undefined) {
    if (version === 5) writeProperties(w, will.properties, plan.willPropertiesLength);
    w.utf8(will.topic);
    w.binary(will.payload);
  }
  if (packet.username !== undefined) w.utf8(packet.username);
  if (packet.password !== undefined) w.binary(packet.password);
}
