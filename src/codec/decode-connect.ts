/**
 * Decoding CONNECT (which carries its own protocol version) and CONNACK.
 */
import {
  PacketType,
  PROPERTY_CONTEXT_WILL,
  PROTOCOL_NAME,
  PROTOCOL_NAME_V3,
  REASON_CODES_BY_PACKET,
  ReasonCode,
  type ProtocolVersion,
  type QoS,
} from "./constants.ts";
import type { DecodeError } from "./errors.ts";
import type { ConnackPacket, ConnectPacket, Properties, Will } from "./packets.ts";
import { readProperties } from "./properties.ts";
import type { Reader } from "./reader.ts";
import { quoteTopic, validateTopicName } from "./topic.ts";

/** The same rule has different ids in MQTT 5 and 3.1.1; cite the one the client speaks. */
const ruleId = (version: ProtocolVersion, v5: string, v311: string): string => (version === 5 ? v5 : v311);

/** Connect Flags bits (§3.1.2.3). */
const FLAG_RESERVED = 0x01;
const FLAG_CLEAN = 0x02;
const FLAG_WILL = 0x04;
const FLAG_WILL_RETAIN = 0x20;
const FLAG_PASSWORD = 0x40;
const FLAG_USERNAME = 0x80;

/**
 * The protocol name and level pairs this server speaks. Anything else is UnsupportedProtocolVersion,
 * so the protocol layer can answer CONNACK 1 (3.x) / 0x84 (5.0) instead of just closing.
 */
function protocolVersionOf(name: string, level: number): ProtocolVersion | undefined {
  if (name === PROTOCOL_NAME && (level === 4 || level === 5)) return level;
  if (name === PROTOCOL_NAME_V3 && level === 3) return 3;
  return undefined;
}

/** Reads a CONNECT body; `r` spans the variable header and payload. */
export function decodeConnect(r: Reader): ConnectPacket | DecodeError {
  const protocolName = r.utf8("CONNECT Protocol Name");
  if (protocolName === undefined) return r.error!;
  const level = r.u8("CONNECT Protocol Level");
  if (level < 0) return r.error!;
  const version = protocolVersionOf(protocolName, level);
  if (version === undefined) {
    const known = protocolName === PROTOCOL_NAME || protocolName === PROTOCOL_NAME_V3;
    return r.fail(
      ReasonCode.UnsupportedProtocolVersion,
      known ? "CONNECT Protocol Level" : "CONNECT Protocol Name",
      `protocol name ${quoteTopic(protocolName)} with level ${level} is not supported; ` +
        'this server speaks MQTT 3.1 ("MQIsdp", level 3), 3.1.1 ("MQTT", 4) and 5.0 ("MQTT", 5) [MQTT-3.1.2-2]',
    );
  }
  const flags = r.u8("CONNECT Connect Flags");
  if (flags < 0) return r.error!;
  if ((flags & FLAG_RESERVED) !== 0) {
    return r.fail(ReasonCode.MalformedPacket, "CONNECT Connect Flags", "has the reserved bit 0 set; it must be 0 [MQTT-3.1.2-3]");
  }
  const willFlag = (flags & FLAG_WILL) !== 0;
  const willQoS = (flags >> 3) & 3;
  const willRetain = (flags & FLAG_WILL_RETAIN) !== 0;
  if (!willFlag && willQoS !== 0) {
    return r.fail(
      ReasonCode.MalformedPacket,
      "CONNECT Connect Flags",
      `has Will QoS ${willQoS} without the Will Flag; Will QoS must be 0 when there is no will [${ruleId(version, "MQTT-3.1.2-11", "MQTT-3.1.2-13")}]`,
    );
  }
  if (willQoS === 3) {
    return r.fail(
      ReasonCode.MalformedPacket,
      "CONNECT Connect Flags",
      `has Will QoS 3; it must be 0, 1 or 2 [${ruleId(version, "MQTT-3.1.2-12", "MQTT-3.1.2-14")}]`,
    );
  }
  if (!willFlag && willRetain) {
    return r.fail(
      ReasonCode.MalformedPacket,
      "CONNECT Connect Flags",
      `has Will Retain set without the Will Flag; it must be 0 when there is no will [${ruleId(version, "MQTT-3.1.2-13", "MQTT-3.1.2-15")}]`,
    );
  }
  const hasUsername = (flags & FLAG_USERNAME) !== 0;
  const hasPassword = (flags & FLAG_PASSWORD) !== 0;
  // 3.1.1 forbids a password without a user name; 5.0 allows it. 3.1 is decoded as sent so the
  // protocol layer can answer CONNACK 4 as the native plugin does ("only one of them").
  if (version === 4 && hasPassword && !hasUsername) {
    return r.fail(
      ReasonCode.MalformedPacket,
      "CONNECT Connect Flags",
      "has the Password Flag without the User Name Flag; in MQTT 3.1.1 the Password Flag must be 0 when the User Name Flag is 0 [MQTT-3.1.2-22]",
    );
  }
  const keepaliveSeconds = r.u16("CONNECT Keep Alive");
  if (keepaliveSeconds < 0) return r.error!;

  let properties: Properties | undefined;
  if (version === 5) {
    properties = readProperties(r, PacketType.Connect);
    if (r.error) return r.error;
  }

  const clientId = r.utf8("CONNECT Client Identifier");
  if (clientId === undefined) return r.error!;

  let will: Will | undefined;
  if (willFlag) {
    let willProperties: Properties | undefined;
    if (version === 5) {
      willProperties = readProperties(r, PROPERTY_CONTEXT_WILL);
      if (r.error) return r.error;
    }
    const topic = r.utf8("CONNECT Will Topic");
    if (topic === undefined) return r.error!;
    const topicError = validateTopicName(topic, "CONNECT Will Topic");
    if (topicError !== undefined) return r.fail(topicError.reasonCode, topicError.field, topicError.message);
    const payload = r.binary("CONNECT Will Payload");
    if (payload === undefined) return r.error!;
    will = { topic, payload, qos: willQoS as QoS, retain: willRetain };
    if (willProperties !== undefined) will.properties = willProperties;
  }

  let username: string | undefined;
  if (hasUsername) {
    username = r.utf8("CONNECT User Name");
    if (username === undefined) return r.error!;
  }
  let password: Uint8Array | undefined;
  if (hasPassword) {
    password = r.binary("CONNECT Password");
    if (password === undefined) return r.error!;
  }
  if (r.remaining() !== 0) {
    return r.fail(
      ReasonCode.MalformedPacket,
      "CONNECT payload",
      `has ${r.remaining()} byte(s) after the last field the Connect Flags announce (flags 0b${flags.toString(2).padStart(8, "0")})`,
    );
  }

  const packet: ConnectPacket = {
    type: PacketType.Connect,
    protocolName,
    protocolVersion: version,
    cleanSession: (flags & FLAG_CLEAN) !== 0,
    keepaliveSeconds,
    clientId,
  };
  if (will !== undefined) packet.will = will;
  if (username !== undefined) packet.username = username;
  if (password !== undefined) packet.password = password;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/** Reads a CONNACK body for `version`. */
export function decodeConnack(r: Reader, version: ProtocolVersion): ConnackPacket | DecodeError {
  const flags = r.u8("CONNACK Connect Acknowledge Flags");
  if (flags < 0) return r.error!;
  // In 3.1 this byte is reserved ("Topic Name Compression", unused): ignore it.
  if (version !== 3 && (flags & 0xfe) !== 0) {
    return r.fail(
      ReasonCode.MalformedPacket,
      "CONNACK Connect Acknowledge Flags",
      `is 0x${flags.toString(16).padStart(2, "0")}; bits 7-1 are reserved and must be 0 (§3.2.2.1)`,
    );
  }
  const reasonCode = r.u8(version === 5 ? "CONNACK Reason Code" : "CONNACK Connect Return code");
  if (reasonCode < 0) return r.error!;
  if (version === 5 ? !REASON_CODES_BY_PACKET[PacketType.Connack]!.has(reasonCode) : reasonCode > 5) {
    return r.fail(
      ReasonCode.MalformedPacket,
      version === 5 ? "CONNACK Reason Code" : "CONNACK Connect Return code",
      `is 0x${reasonCode.toString(16).padStart(2, "0")}, which is not defined for CONNACK`,
    );
  }
  const packet: ConnackPacket = {
    type: PacketType.Connack,
    sessionPresent: version !== 3 && (flags & 1) === 1,
    reasonCode,
  };
  if (version === 5) {
    const properties = readProperties(r, PacketType.Connack);
    if (r.error) return r.error;
    if (properties !== undefined) packet.properties = properties;
  }
  return packet;
}
