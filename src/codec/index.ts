/**
 * The MQTT wire codec: MQTT 3.1 (level 3, "MQIsdp"), 3.1.1 (level 4) and 5.0 (level 5), both
 * directions. Pure: imports nothing outside src/codec/, uses Uint8Array (no Buffer).
 *
 * Receiving: one `Decoder` per connection; `feed(chunk)` then call `next()` until it returns
 * `{ kind: "more" }` or `{ kind: "error" }`. Binary fields of decoded packets are views into the
 * received bytes, valid until the next `feed()` / `next()`; copy anything kept longer.
 * Sending: `encodePacket(packet, version)` (one allocation) or an `Encoder` (per connection, or
 * one per process with a larger `maxKeptBytes`; encodePublishHeaders sends a payload uncopied).
 *
 * Other folders import from here only, never from the files behind it.
 *
 *   new Decoder({ maxPacketSizeBytes, maxPacketSizeBeforeConnectBytes, multiLevelWildcardAnywhere? })
 *     multiLevelWildcardAnywhere: accept '#' as any whole level of a SUBSCRIBE / UNSUBSCRIBE filter
 *     ("a/#/b", as the native plugin does); default false = the spec's [MQTT-4.7.1-2]
 *     .protocolVersion = 3 | 4 | 5 | undefined   set by the protocol layer once CONNECT is accepted
 *     .feed(chunk: Uint8Array): void
 *     .next(): DecodeResult                      { kind: "packet", packet, size } | { kind: "more" } | { kind: "error", error }
 *   decodePacket(bytes, protocolVersion | undefined, filterOptions?): DecodeResult    the packet at the start of `bytes`
 *   encodePacket(packet, protocolVersion): Uint8Array                 exact-size buffer (shared constants for PINGREQ/PINGRESP/plain DISCONNECT)
 *   new Encoder(initialBytes?, maxKeptBytes? = 64 KiB)
 *     .encode(packet, protocolVersion): Uint8Array                     view into a reused buffer, valid until the next encode()
 *     .encodePublishHeaders(publish, protocolVersion): Uint8Array     a PUBLISH's bytes up to its payload (same validity):
 *                                                                     send them, then publish.payload, without copying it
 *   validateTopicName(topic, field?) / validateTopicFilter(filter, field?, options?): DecodeError | undefined
 *   parseSharedSubscription(filter, field?, options?): { shareName, topicFilter } | DecodeError | undefined
 *
 * Errors: decoding never throws; a DecodeError carries an MQTT 5 reason code, the field, and a
 * message naming what arrived, what was expected and the spec rule. Encoding throws RangeError
 * only for packets that cannot exist (a caller bug): QoS > 0 without a packet id, a string over
 * 65,535 bytes, a property not allowed in that packet.
 */
export {
  PacketType,
  PACKET_TYPE_NAMES,
  ReasonCode,
  ConnectReturnCode,
  SUBACK_FAILURE_V3,
  REASON_CODES_BY_PACKET,
  PropertyId,
  PropertyDataType,
  PROPERTY_DEFINITIONS,
  PROPERTY_BY_ID,
  PROPERTY_CONTEXT_WILL,
  isPropertyAllowed,
  MAX_VARIABLE_BYTE_INTEGER,
  PROTOCOL_NAME,
  PROTOCOL_NAME_V3,
} from "./constants.ts";
export type { ProtocolVersion, QoS, PropertyContext, PropertyDefinition } from "./constants.ts";
export type {
  Properties,
  Will,
  ConnectPacket,
  ConnackPacket,
  PublishPacket,
  PacketIdAck,
  PubackPacket,
  PubrecPacket,
  PubrelPacket,
  PubcompPacket,
  Subscription,
  SubscribePacket,
  SubackPacket,
  UnsubscribePacket,
  UnsubackPacket,
  PingreqPacket,
  PingrespPacket,
  DisconnectPacket,
  AuthPacket,
  Packet,
  DecodeResult,
} from "./packets.ts";
export { DecodeError } from "./errors.ts";

export { Decoder } from "./decoder.ts";
export type { DecoderOptions } from "./decoder.ts";
export { decodePacket } from "./decode.ts";
export { encodePacket, Encoder } from "./encode.ts";
export { validateTopicName, validateTopicFilter, parseSharedSubscription } from "./topic.ts";
export type { SharedSubscription, TopicFilterOptions } from "./topic.ts";
