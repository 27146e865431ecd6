/**
 * Decoding SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK.
 */
import { PacketType, REASON_CODES_BY_PACKET, ReasonCode, SUBACK_FAILURE_V3, type ProtocolVersion, type QoS } from "./constants.ts";
import type { DecodeError } from "./errors.ts";
import type { Properties, SubackPacket, SubscribePacket, Subscription, UnsubackPacket, UnsubscribePacket } from "./packets.ts";
import { readProperties } from "./properties.ts";
import type { Reader } from "./reader.ts";
import { type TopicFilterOptions, parseSharedSubscription, quoteTopic, validateTopicFilter } from "./topic.ts";
import { readPacketId } from "./decode-publish.ts";

/** Reads a topic filter and checks its syntax (and, in MQTT 5, Shared Subscription syntax). */
function readTopicFilter(r: Reader, field: string, version: ProtocolVersion, options: TopicFilterOptions | undefined): string | undefined {
  const filter = r.utf8(field);
  if (filter === undefined) return undefined;
  // In MQTT 5 "$share/{ShareName}/{filter}" has rules of its own (and checks the inner filter).
  const shared = version === 5 ? parseSharedSubscription(filter, field, options) : undefined;
  const error = shared === undefined ? validateTopicFilter(filter, field, options) : "reasonCode" in shared ? shared : undefined;
  if (error !== undefined) {
    r.fail(error.reasonCode, error.field, error.message);
    return undefined;
  }
  return filter;
}

export function decodeSubscribe(r: Reader, version: ProtocolVersion, filterOptions?: TopicFilterOptions): SubscribePacket | DecodeError {
  const packetId = readPacketId(r, "SUBSCRIBE Packet Identifier", version);
  if (packetId < 0) return r.error!;
  let properties: Properties | undefined;
  if (version === 5) {
    properties = readProperties(r, PacketType.Subscribe);
    if (r.error) return r.error;
  }
  const subscriptions: Subscription[] = [];
  while (r.remaining() > 0) {
    const field = `SUBSCRIBE Topic Filter ${subscriptions.length + 1}`;
    const topicFilter = readTopicFilter(r, field, version, filterOptions);
    if (topicFilter === undefined) return r.error!;
    const options = r.u8(`${field} Subscription Options`);
    if (options < 0) return r.error!;
    const qos = options & 3;
    if (version === 5 ? (options & 0xc0) !== 0 : (options & 0xfc) !== 0) {
      return r.fail(
        ReasonCode.MalformedPacket,
        `${field} Subscription Options`,
        `are 0b${options.toString(2).padStart(8, "0")} for ${quoteTopic(topicFilter)}; ` +
          (version === 5 ? "bits 7-6 are reserved and must be 0 [MQTT-3.8.3-5]" : "bits 7-2 are reserved and must be 0 [MQTT-3-8.3-4]"),
      );
    }
    if (qos === 3) {
      return r.fail(
        ReasonCode.MalformedPacket,
        `${field} Subscription Options`,
        `request QoS 3 for ${quoteTopic(topicFilter)}; the maximum QoS must be 0, 1 or 2 [${version === 5 ? "MQTT-3.8.3-5" : "MQTT-3-8.3-4"}]`,
      );
    }
    const retainHandling = (options >> 4) & 3;
    if (retainHandling === 3) {
      return r.fail(
        ReasonCode.ProtocolError,
        `${field} Subscription Options`,
        `have Retain Handling 3 for ${quoteTopic(topicFilter)}; it must be 0, 1 or 2 (§3.8.3.1)`,
      );
    }
    const noLocal = (options & 0x04) !== 0;
    if (noLocal && topicFilter.startsWith("$share/")) {
      return r.fail(
        ReasonCode.ProtocolError,
        `${field} Subscription Options`,
        `set No Local on the Shared Subscription ${quoteTopic(topicFilter)}; it is a Protocol Error to set No Local on a Shared Subscription [MQTT-3.8.3-4]`,
      );
    }
    subscriptions.push({
      topicFilter,
      qos: qos as QoS,
      noLocal,
      retainAsPublished: (options & 0x08) !== 0,
      retainHandling: retainHandling as 0 | 1 | 2,
    });
  }
  if (subscriptions.length === 0) {
    return r.fail(
      version === 5 ? ReasonCode.ProtocolError : ReasonCode.MalformedPacket,
      "SUBSCRIBE payload",
      `has no topic filters; a SUBSCRIBE must contain at least one [${version === 5 ? "MQTT-3.8.3-2" : "MQTT-3.8.3-3"}]`,
    );
  }
  const packet: SubscribePacket = { type: PacketType.Subscribe, packetId, subscriptions };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

export function decodeSuback(r: Reader, version: ProtocolVersion): SubackPacket | DecodeError {
  const packetId = readPacketId(r, "SUBACK Packet Identifier", version);
  if (packetId < 0) return r.error!;
  let properties: Properties | undefined;
  if (version === 5) {
    properties = readProperties(r, PacketType.Suback);
    if (r.error) return r.error;
  }
  const reasonCodes: number[] = [];
  const allowed = REASON_CODES_BY_PACKET[PacketType.Suback]!;
  while (r.remaining() > 0) {
    const code = r.u8("SUBACK Reason Code");
    const valid = version === 5 ? allowed.has(code) : code <= 2 || code === SUBACK_FAILURE_V3;
    if (!valid) {
      return r.fail(
        ReasonCode.MalformedPacket,
        `SUBACK ${version === 5 ? "Reason Code" : "Return Code"} ${reasonCodes.length + 1}`,
        `is 0x${code.toString(16).padStart(2, "0")}, which is not a SUBACK ${version === 5 ? "reason" : "return"} code (§3.9.3)`,
      );
    }
    reasonCodes.push(code);
  }
  if (reasonCodes.length === 0) {
    return r.fail(ReasonCode.MalformedPacket, "SUBACK payload", "has no return codes; it must have one per subscription (§3.9.3)");
  }
  const packet: SubackPacket = { type: PacketType.Suback, packetId, reasonCodes };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

export function decodeUnsubscribe(r: Reader, version: ProtocolVersion, filterOptions?: TopicFilterOptions): UnsubscribePacket | DecodeError {
  const packetId = readPacketId(r, "UNSUBSCRIBE Packet Identifier", version);
  if (packetId < 0) return r.error!;
  let properties: Properties | undefined;
  if (version === 5) {
    properties = readProperties(r, PacketType.Unsubscribe);
    if (r.error) return r.error;
  }
  const topicFilters: string[] = [];
  while (r.remaining() > 0) {
    const filter = readTopicFilter(r, `UNSUBSCRIBE Topic Filter ${topicFilters.length + 1}`, version, filterOptions);
    if (filter === undefined) return r.error!;
    topicFilters.push(filter);
  }
  if (topicFilters.length === 0) {
    return r.fail(
      version === 5 ? ReasonCode.ProtocolError : ReasonCode.MalformedPacket,
      "UNSUBSCRIBE payload",
      "has no topic filters; an UNSUBSCRIBE must contain at least one [MQTT-3.10.3-2]",
    );
  }
  const packet: UnsubscribePacket = { type: PacketType.Unsubscribe, packetId, topicFilters };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

export function decodeUnsuback(r: Reader, version: ProtocolVersion): UnsubackPacket | DecodeError {
  const packetId = readPacketId(r, "UNSUBACK Packet Identifier", version);
  if (packetId < 0) return r.error!;
  const packet: UnsubackPacket = { type: PacketType.Unsuback, packetId };
  if (version !== 5) return packet;
  const properties = readProperties(r, PacketType.Unsuback);
  if (r.error) return r.error;
  const reasonCodes: number[] = [];
  const allowed = REASON_CODES_BY_PACKET[PacketType.Unsuback]!;
  while (r.remaining() > 0) {
    const code = r.u8("UNSUBACK Reason Code");
    if (!allowed.has(code)) {
      return r.fail(
        ReasonCode.MalformedPacket,
        `UNSUBACK Reason Code ${reasonCodes.length + 1}`,
        `is 0x${code.toString(16).padStart(2, "0")}, which is not an UNSUBACK reason code (§3.11.3)`,
      );
    }
    reasonCodes.push(code);
  }
  if (reasonCodes.length === 0) {
    return r.fail(ReasonCode.MalformedPacket, "UNSUBACK payload", "has no reason codes; it must have one per topic filter (§3.11.3)");
  }
  packet.reasonCodes = reasonCodes;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}
