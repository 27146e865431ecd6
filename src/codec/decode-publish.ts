/**
 * Decoding PUBLISH and its acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP).
 */
import { PACKET_TYPE_NAMES, PacketType, REASON_CODES_BY_PACKET, ReasonCode, type ProtocolVersion, type QoS } from "./constants.ts";
import type { DecodeError } from "./errors.ts";
import type { PacketIdAck, Properties, PublishPacket } from "./packets.ts";
import { readProperties } from "./properties.ts";
import type { Reader } from "./reader.ts";
import { validateTopicName } from "./topic.ts";

/**
 * Reads a non-zero Packet Identifier. Returns -1 (with r.error set) for a short packet or 0:
 * "MUST contain a non-zero 16-bit Packet Identifier" [MQTT-2.2.1-3] / [MQTT-2.3.1-1].
 */
export function readPacketId(r: Reader, field: string, version: ProtocolVersion): number {
  const id = r.u16(field);
  if (id === 0) {
    r.fail(ReasonCode.ProtocolError, field, `is 0; Packet Identifiers must be non-zero [${version === 5 ? "MQTT-2.2.1-3" : "MQTT-2.3.1-1"}]`);
    return -1;
  }
  return id;
}

/** Topic Names longer than this are not remembered (the cache's copy is kept per connection). */
const TOPIC_CACHE_MAX_BYTES = 256;
const NO_BYTES = new Uint8Array(0);

/**
 * The last Topic Name a connection's Decoder read, as its bytes and the validated string. Most
 * connections publish to the same few topics over and over: when the next PUBLISH carries the
 * same bytes, the string is reused, skipping UTF-8 decoding, the U+0000 search and topic
 * validation, and the allocation of a new string. Holds only topics that passed validation.
 */
export class TopicCache {
  /**
   * A copy (never a view: views expire) of the topic's UTF-8 bytes in bytes[0, length); length 0
   * when nothing is cached. One buffer, made on first use (a connection that never publishes
   * pays nothing), then copied into: a miss allocates nothing.
   */
  bytes = NO_BYTES;
  length = 0;
  topic = "";

  remember(source: Uint8Array, start: number, end: number, topic: string): void {
    const length = end - start;
    if (length > TOPIC_CACHE_MAX_BYTES || length === 0) return;
    if (this.bytes === NO_BYTES) this.bytes = new Uint8Array(TOPIC_CACHE_MAX_BYTES);
    const bytes = this.bytes;
    for (let i = 0; i < length; i++) bytes[i] = source[start + i]!;
    this.length = length;
    this.topic = topic;
  }
}

/**
 * Reads a PUBLISH whose fixed header flags are `flags` (already checked); the payload is a view.
 * `topicCache`, when given, short-cuts a Topic Name identical to the previous one.
 */
export function decodePublish(r: Reader, flags: number, version: ProtocolVersion, topicCache?: TopicCache): PublishPacket | DecodeError {
  const qos = ((flags >> 1) & 3) as QoS;
  const cached = topicCache !== undefined && r.skipIfString(topicCache.bytes, topicCache.length);
  let topic: string;
  // Where the topic's bytes lie, to cache them once validated.
  let topicStart = 0;
  let topicEnd = 0;
  if (cached) {
    topic = topicCache.topic;
  } else {
    topicStart = r.pos + 2;
    const read = r.utf8("PUBLISH Topic Name");
    if (read === undefined) return r.error!;
    topic = read;
    topicEnd = r.pos;
  }
  let packetId: number | undefined;
  if (qos > 0) {
    packetId = readPacketId(r, "PUBLISH Packet Identifier", version);
    if (packetId < 0) return r.error!;
  }
  let properties: Properties | undefined;
  if (version === 5) {
    properties = readProperties(r, PacketType.Publish);
    if (r.error) return r.error;
  }
  if (cached) {
    // Validated when it was cached.
  } else if (topic.length === 0 && version === 5) {
    // MQTT 5: an empty Topic Name is how a sender reuses a Topic Alias (§3.3.2.1).
    if (properties?.topicAlias === undefined) {
      return r.fail(
        ReasonCode.ProtocolError,
        "PUBLISH Topic Name",
        "is empty and there is no Topic Alias; it is a Protocol Error if the Topic Name is zero length and there is no Topic Alias (§3.3.2.1)",
      );
    }
  } else {
    const error = validateTopicName(topic, "PUBLISH Topic Name");
    if (error !== undefined) return r.fail(error.reasonCode, error.field, error.message);
    topicCache?.remember(r.bytes, topicStart, topicEnd, topic);
  }
  return publishPacket(r, flags, qos, topic, packetId, properties);
}

function publishPacket(r: Reader, flags: number, qos: QoS, topic: string, packetId: number | undefined, properties: Properties | undefined): PublishPacket {
  const payload = r.view("PUBLISH Payload", r.remaining())!;
  const packet: PublishPacket = {
    type: PacketType.Publish,
    topic,
    payload,
    qos,
    retain: (flags & 1) === 1,
    dup: (flags & 8) === 8,
  };
  if (packetId !== undefined) packet.packetId = packetId;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

type AckType = PacketType.Puback | PacketType.Pubrec | PacketType.Pubrel | PacketType.Pubcomp;

/**
 * Reads PUBACK / PUBREC / PUBREL / PUBCOMP. In MQTT 5 the Reason Code and the properties may be
 * left off (§3.4.2.1): a Remaining Length of 2 means Success, 3 means no properties.
 */
export function decodeAck<T extends AckType>(r: Reader, type: T, version: ProtocolVersion): PacketIdAck<T> | DecodeError {
  const name = PACKET_TYPE_NAMES[type]!;
  const packetId = readPacketId(r, `${name} Packet Identifier`, version);
  if (packetId < 0) return r.error!;
  const packet: PacketIdAck<T> = { type, packetId };
  if (version !== 5) return packet;
  if (r.remaining() === 0) {
    packet.reasonCode = ReasonCode.Success;
    return packet;
  }
  const reasonCode = r.u8(`${name} Reason Code`);
  if (!REASON_CODES_BY_PACKET[type]!.has(reasonCode)) {
    return r.fail(
      ReasonCode.MalformedPacket,
      `${name} Reason Code`,
      `is 0x${reasonCode.toString(16).padStart(2, "0")}, which is not a ${name} reason code (§3.${type}.2.1)`,
    );
  }
  packet.reasonCode = reasonCode;
  if (r.remaining() > 0) {
    const properties = readProperties(r, type);
    if (r.error) return r.error;
    if (properties !== undefined) packet.properties = properties;
  }
  return packet;
}
