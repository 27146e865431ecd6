/**
 * Seeded random VALID packets of every type and protocol version, for the oracle test
 * (oracle.test.ts) and the long fuzz script (bench/codec/fuzz.ts). Imported only by tests and
 * benchmarks, never by the codec itself.
 *
 * Every packet is in the decoder's normal form, so `decode(encode(p))` equals `p` field for field:
 * MQTT 5 acks, DISCONNECT and AUTH always carry `reasonCode`; 3.x ones never do; empty property
 * sets are left out; 3.x subscriptions have noLocal/retainAsPublished false and retainHandling 0;
 * a 3.1 CONNACK never has Session Present. Only the key order of `properties` may differ after a
 * round trip, so compare with a key-order-free form.
 */
import {
  PROPERTY_CONTEXT_WILL,
  PROPERTY_DEFINITIONS,
  PROTOCOL_NAME,
  PROTOCOL_NAME_V3,
  PacketType,
  PropertyDataType,
  PropertyId,
  REASON_CODES_BY_PACKET,
  SUBACK_FAILURE_V3,
  type PropertyContext,
  type ProtocolVersion,
  type QoS,
} from "./constants.ts";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PacketIdAck,
  Properties,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from "./packets.ts";

/** A source of uniform numbers in [0, 1), e.g. test-helpers' prng(seed). */
export type Random = () => number;

/** Packet types that exist in `version` (AUTH only in MQTT 5). */
export function packetTypesOf(version: ProtocolVersion): PacketType[] {
  const types: PacketType[] = [];
  for (let t = PacketType.Connect; t <= PacketType.Auth; t++) if (t !== PacketType.Auth || version === 5) types.push(t);
  return types;
}

/** Knobs for the generator; the defaults suit the oracle (mostly small packets, now and then a large one). */
export interface RandomPacketOptions {
  /** Largest PUBLISH payload, in bytes. Default 70,000 (past the 2-byte Remaining Length at 16,383). */
  maxPayloadBytes?: number;
  /** Chance that a PUBLISH payload is drawn from the whole 0..maxPayloadBytes range rather than 0..64. */
  largePayloadChance?: number;
}

const int = (random: Random, n: number): number => Math.floor(random() * n);
const pick = <T>(random: Random, items: readonly T[]): T => items[int(random, items.length)]!;
const chance = (random: Random, p: number): boolean => random() < p;

/**
 * Characters that exercise every UTF-8 length: ASCII (including controls, which MQTT allows),
 * 2-byte, 3-byte (with U+FEFF, which must not be stripped [MQTT-1.5.4-3]) and 4-byte (a UTF-16
 * surrogate pair). Never U+0000 or a lone surrogate: those are not valid in MQTT strings.
 */
const CHARACTERS = [
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:$ /+#",
  "\u0001", "\u001f", "\u007f", "é", "ß", "Ω", "€", "中", "\ufeff", "\uffff", "😀", "𝄞",
];
/** Characters allowed inside a topic level: everything above but '/', '+', '#'. (Both lists start with a-z.) */
const LEVEL_CHARACTERS = CHARACTERS.filter((c) => c !== "/" && c !== "+" && c !== "#");

export function randomString(random: Random, maxChars = 12, alphabet: readonly string[] = CHARACTERS): string {
  let s = "";
  for (let n = int(random, maxChars + 1); n > 0; n--) s += chance(random, 0.8) ? alphabet[int(random, 26)]! : pick(random, alphabet);
  return s;
}

export function randomBytes(random: Random, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = int(random, 256);
  return bytes;
}

function randomLevel(random: Random): string {
  return randomString(random, 6, LEVEL_CHARACTERS);
}

/** A valid Topic Name: one or more levels (possibly empty), no wildcards, not empty as a whole. */
export function randomTopicName(random: Random): string {
  const levels: string[] = [];
  for (let n = 1 + int(random, 4); n > 0; n--) levels.push(randomLevel(random));
  if (chance(random, 0.05)) levels[0] = "$SYS";
  const topic = levels.join("/");
  return topic.length === 0 ? "t" : topic;
}

/** A valid Topic Filter: '+' as whole levels anywhere, '#' only as the whole last level. */
export function randomTopicFilter(random: Random): string {
  const levels: string[] = [];
  const count = 1 + int(random, 4);
  for (let i = 0; i < count; i++) {
    const roll = random();
    if (roll < 0.15) levels.push("+");
    else if (roll < 0.22 && i === count - 1) levels.push("#");
    else levels.push(randomLevel(random));
  }
  const filter = levels.join("/");
  return filter.length === 0 ? "f" : filter;
}

const randomPacketId = (random: Random): number => 1 + int(random, 0xffff);
const randomQoS = (random: Random): QoS => int(random, 3) as QoS;

function randomPropertyValue(random: Random, dataType: PropertyDataType, booleanValue: boolean, nonZero: boolean): unknown {
  switch (dataType) {
    case PropertyDataType.Byte:
      return booleanValue ? int(random, 2) : int(random, 256);
    case PropertyDataType.TwoByteInteger:
      return booleanValue ? int(random, 2) : (nonZero ? 1 : 0) + int(random, nonZero ? 0xffff : 0x10000);
    case PropertyDataType.FourByteInteger:
      // Edges now and then: 0 and 2^32 - 1 (the "never expires" Session Expiry Interval).
      if (chance(random, 0.1)) return nonZero ? 1 : 0;
      if (chance(random, 0.1)) return 0xffffffff;
      return (nonZero ? 1 : 0) + int(random, 0xfffffffe);
    case PropertyDataType.VariableByteInteger:
      return 1 + int(random, chance(random, 0.5) ? 127 : 268_435_455);
    case PropertyDataType.Utf8String:
      return randomString(random);
    case PropertyDataType.BinaryData:
      return randomBytes(random, int(random, 24));
    case PropertyDataType.Utf8StringPair:
      return undefined; // handled by the caller: a list of pairs
  }
}

/**
 * A random set of the properties `context` allows, each with a valid value; undefined for an
 * empty set (the decoder's normal form). PUBLISH may carry several Subscription Identifiers,
 * SUBSCRIBE one; User Properties repeat names now and then.
 */
export function randomProperties(random: Random, context: PropertyContext): Properties | undefined {
  if (chance(random, 0.35)) return undefined;
  const bag: Record<string, unknown> = {};
  const density = random();
  for (const def of PROPERTY_DEFINITIONS) {
    if ((def.allowedIn & (1 << context)) === 0 || !chance(random, density)) continue;
    if (def.dataType === PropertyDataType.Utf8StringPair) {
      const pairs: Array<[string, string]> = [];
      for (let n = 1 + int(random, 4); n > 0; n--) {
        const name = pairs.length > 0 && chance(random, 0.3) ? pick(random, pairs)[0] : randomString(random, 8);
        pairs.push([name, randomString(random, 10)]);
      }
      bag[def.field] = pairs;
    } else if (def.id === PropertyId.SubscriptionIdentifier) {
      const ids: number[] = [];
      for (let n = context === PacketType.Publish ? 1 + int(random, 3) : 1; n > 0; n--) {
        ids.push(randomPropertyValue(random, def.dataType, false, true) as number);
      }
      bag[def.field] = ids;
    } else {
      bag[def.field] = randomPropertyValue(random, def.dataType, def.booleanValue === true, def.nonZero === true);
    }
  }
  return Object.keys(bag).length === 0 ? undefined : (bag as Properties);
}

const v5Properties = (random: Random, context: PropertyContext, version: ProtocolVersion): Properties | undefined =>
  version === 5 ? randomProperties(random, context) : undefined;

/** Adds `properties` only when there are some: the decoder leaves the key out otherwise. */
function withProperties<P extends { properties?: Properties }>(packet: P, properties: Properties | undefined): P {
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

function randomReasonCode(random: Random, type: PacketType): number {
  const codes = [...REASON_CODES_BY_PACKET[type]!];
  // Success half the time: the short forms of acks, DISCONNECT and AUTH hang on it.
  return chance(random, 0.5) ? 0 : pick(random, codes);
}

function randomPayload(random: Random, options: RandomPacketOptions): Uint8Array {
  const max = options.maxPayloadBytes ?? 70_000;
  const large = chance(random, options.largePayloadChance ?? 0.02);
  return randomBytes(random, int(random, (large ? max : Math.min(64, max)) + 1));
}

function randomConnect(random: Random, version: ProtocolVersion): ConnectPacket {
  const packet: ConnectPacket = {
    type: PacketType.Connect,
    protocolName: version === 3 ? PROTOCOL_NAME_V3 : PROTOCOL_NAME,
    protocolVersion: version,
    cleanSession: chance(random, 0.5),
    keepaliveSeconds: chance(random, 0.1) ? pick(random, [0, 0xffff]) : int(random, 0x10000),
    clientId: chance(random, 0.1) ? "" : randomString(random, 23),
  };
  if (chance(random, 0.4)) {
    const will: Will = { topic: randomTopicName(random), payload: randomBytes(random, int(random, 40)), qos: randomQoS(random), retain: chance(random, 0.5) };
    withProperties(will, v5Properties(random, PROPERTY_CONTEXT_WILL, version));
    packet.will = will;
  }
  const username = chance(random, 0.6);
  // 3.1.1 forbids a password without a user name [MQTT-3.1.2-22]; 3.1 and 5.0 allow it.
  const password = chance(random, 0.6) && (username || version !== 4);
  if (username) packet.username = randomString(random, 12);
  if (password) packet.password = randomBytes(random, int(random, 20));
  return withProperties(packet, v5Properties(random, PacketType.Connect, version));
}

function randomSubscription(random: Random, version: ProtocolVersion): Subscription {
  if (version !== 5) {
    return { topicFilter: randomTopicFilter(random), qos: randomQoS(random), noLocal: false, retainAsPublished: false, retainHandling: 0 };
  }
  const shared = chance(random, 0.15);
  return {
    topicFilter: shared ? `$share/${randomLevel(random) || "g"}/${randomTopicFilter(random)}` : randomTopicFilter(random),
    qos: randomQoS(random),
    // No Local on a Shared Subscription is a Protocol Error [MQTT-3.8.3-4].
    noLocal: !shared && chance(random, 0.5),
    retainAsPublished: chance(random, 0.5),
    retainHandling: int(random, 3) as 0 | 1 | 2,
  };
}

/**
 * A random valid packet of `type` (default: any type `version` has) for a connection speaking
 * `version`, in the decoder's normal form. Reproducible: the same `random` sequence gives the same packet.
 */
export function randomPacket(random: Random, version: ProtocolVersion, type?: PacketType, options: RandomPacketOptions = {}): Packet {
  const t = type ?? pick(random, packetTypesOf(version));
  switch (t) {
    case PacketType.Connect:
      return randomConnect(random, version);
    case PacketType.Connack: {
      const packet: ConnackPacket = {
        type: t,
        sessionPresent: version !== 3 && chance(random, 0.5),
        reasonCode: version === 5 ? randomReasonCode(random, t) : int(random, 6),
      };
      return withProperties(packet, v5Properties(random, t, version));
    }
    case PacketType.Publish: {
      const qos = randomQoS(random);
      let properties = v5Properties(random, t, version);
      let topic = randomTopicName(random);
      if (version === 5 && chance(random, 0.1)) {
        // An empty Topic Name reuses a Topic Alias, which must then be present (§3.3.2.1).
        topic = "";
        properties = { ...properties, topicAlias: 1 + int(random, 0xffff) };
      }
      const packet: PublishPacket = {
        type: t,
        topic,
        payload: randomPayload(random, options),
        qos,
        retain: chance(random, 0.5),
        dup: qos > 0 && chance(random, 0.3),
      };
      if (qos > 0) packet.packetId = randomPacketId(random);
      return withProperties(packet, properties);
    }
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp: {
      const packet: PacketIdAck<typeof t> = { type: t, packetId: randomPacketId(random) };
      if (version !== 5) return packet as Packet;
      packet.reasonCode = randomReasonCode(random, t);
      return withProperties(packet, randomProperties(random, t)) as Packet;
    }
    case PacketType.Subscribe: {
      const subscriptions: Subscription[] = [];
      for (let n = 1 + int(random, 4); n > 0; n--) subscriptions.push(randomSubscription(random, version));
      const packet: SubscribePacket = { type: t, packetId: randomPacketId(random), subscriptions };
      return withProperties(packet, v5Properties(random, t, version));
    }
    case PacketType.Suback: {
      const reasonCodes: number[] = [];
      for (let n = 1 + int(random, 4); n > 0; n--) {
        reasonCodes.push(version === 5 ? randomReasonCode(random, t) : pick(random, [0, 1, 2, SUBACK_FAILURE_V3]));
      }
      const packet: SubackPacket = { type: t, packetId: randomPacketId(random), reasonCodes };
      return withProperties(packet, v5Properties(random, t, version));
    }
    case PacketType.Unsubscribe: {
      const topicFilters: string[] = [];
      for (let n = 1 + int(random, 4); n > 0; n--) topicFilters.push(randomTopicFilter(random));
      const packet: UnsubscribePacket = { type: t, packetId: randomPacketId(random), topicFilters };
      return withProperties(packet, v5Properties(random, t, version));
    }
    case PacketType.Unsuback: {
      const packet: UnsubackPacket = { type: t, packetId: randomPacketId(random) };
      if (version !== 5) return packet;
      const reasonCodes: number[] = [];
      for (let n = 1 + int(random, 4); n > 0; n--) reasonCodes.push(randomReasonCode(random, t));
      packet.reasonCodes = reasonCodes;
      return withProperties(packet, randomProperties(random, t));
    }
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return { type: t };
    case PacketType.Disconnect: {
      if (version !== 5) return { type: t };
      const packet: DisconnectPacket = { type: t, reasonCode: randomReasonCode(random, t) };
      return withProperties(packet, randomProperties(random, t));
    }
    case PacketType.Auth: {
      if (version !== 5) throw new RangeError("AUTH exists only in MQTT 5");
      const packet: AuthPacket = { type: t, reasonCode: randomReasonCode(random, t) };
      return withProperties(packet, randomProperties(random, t));
    }
  }
}
