/**
 * Decoding one whole packet: `decodePacket` for a standalone buffer, `decodeFrame` for a packet
 * the framer has already delimited. The per-packet readers live in decode-*.ts; the small
 * packets (PINGREQ, PINGRESP, DISCONNECT, AUTH) are here.
 */
import { PACKET_TYPE_NAMES, PacketType, REASON_CODES_BY_PACKET, ReasonCode, type ProtocolVersion } from "./constants.ts";
import { decodeConnack, decodeConnect } from "./decode-connect.ts";
import { type TopicCache, decodeAck, decodePublish } from "./decode-publish.ts";
import { decodeSuback, decodeSubscribe, decodeUnsuback, decodeUnsubscribe } from "./decode-subscribe.ts";
import { DecodeError } from "./errors.ts";
import { FixedHeader, HEADER_INCOMPLETE, HEADER_TOO_LONG, checkFirstByte, parseFixedHeader, remainingLengthTooLong } from "./fixed-header.ts";
import type { AuthPacket, DecodeResult, DisconnectPacket, Packet } from "./packets.ts";
import { readProperties } from "./properties.ts";
import { Reader } from "./reader.ts";
import { checkBeforeConnect, notConnectYet } from "./sniff.ts";
import type { TopicFilterOptions } from "./topic.ts";

/** The one "need more bytes" result: it carries nothing, so it is shared. */
export const MORE: DecodeResult = Object.freeze({ kind: "more" });

/** Constant packets have no fields: decode them to shared frozen objects, allocating nothing. */
const PINGREQ = Object.freeze({ type: PacketType.Pingreq } as const);
const PINGRESP = Object.freeze({ type: PacketType.Pingresp } as const);
const DISCONNECT_V3 = Object.freeze({ type: PacketType.Disconnect } as const);

/**
 * One Reader for every packet decoded in this process: decoding is synchronous and never
 * re-entered, and a Reader per packet was an allocation per packet for nothing.
 */
const NO_BYTES = new Uint8Array(0);
const reader = new Reader(NO_BYTES, 0, 0);

/**
 * Decodes the body of a packet whose fixed header (already checked with checkFirstByte) starts at
 * bytes[start] and is described by `header`. `version` must be known for every type but CONNECT.
 * `filterOptions` decide how SUBSCRIBE / UNSUBSCRIBE topic filters are checked; `topicCache` is
 * the connection's last PUBLISH Topic Name (see TopicCache).
 */
export function decodeFrame(
  bytes: Uint8Array,
  start: number,
  header: FixedHeader,
  version: ProtocolVersion | undefined,
  filterOptions?: TopicFilterOptions,
  topicCache?: TopicCache,
): Packet | DecodeError {
  const type = (header.firstByte >> 4) as PacketType;
  const bodyStart = start + header.headerLength;
  const end = bodyStart + header.remainingLength;
  if (type !== PacketType.Connect && version === undefined) return notConnectYet(bytes.subarray(start, end));
  const v = version as ProtocolVersion;
  const r = reader.reset(bytes, bodyStart, end, type);
  const result = decodeBody(r, type, header, v, filterOptions, topicCache);
  // Let go of the bytes: the shared reader must not keep a connection's chunk alive.
  r.bytes = NO_BYTES;
  return result;
}

function decodeBody(
  r: Reader,
  type: PacketType,
  header: FixedHeader,
  v: ProtocolVersion,
  filterOptions: TopicFilterOptions | undefined,
  topicCache: TopicCache | undefined,
): Packet | DecodeError {
  let result: Packet | DecodeError;
  switch (type) {
    case PacketType.Connect:
      result = decodeConnect(r);
      break;
    case PacketType.Connack:
      result = decodeConnack(r, v);
      break;
    case PacketType.Publish:
      result = decodePublish(r, header.firstByte & 0x0f, v, topicCache);
      break;
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      result = decodeAck(r, type, v);
      break;
    case PacketType.Subscribe:
      result = decodeSubscribe(r, v, filterOptions);
      break;
    case PacketType.Suback:
      result = decodeSuback(r, v);
      break;
    case PacketType.Unsubscribe:
      result = decodeUnsubscribe(r, v, filterOptions);
      break;
    case PacketType.Unsuback:
      result = decodeUnsuback(r, v);
      break;
    case PacketType.Pingreq:
      result = PINGREQ;
      break;
    case PacketType.Pingresp:
      result = PINGRESP;
      break;
    case PacketType.Disconnect:
      result = v === 5 ? decodeDisconnectV5(r) : DISCONNECT_V3;
      break;
    case PacketType.Auth:
      result = decodeAuth(r);
      break;
    default:
      // Type 0 is refused by checkFirstByte; kept so a caller that skipped it still gets a value.
      return r.fail(ReasonCode.MalformedPacket, "fixed header packet type", `is ${type as number}, which is reserved`);
  }
  if (result instanceof DecodeError) return result;
  if (r.remaining() !== 0) {
    return r.fail(
      ReasonCode.MalformedPacket,
      `${PACKET_TYPE_NAMES[type]} Remaining Length`,
      `is ${header.remainingLength} but the fields end after ${header.remainingLength - r.remaining()}: ${r.remaining()} byte(s) left over`,
    );
  }
  return result;
}

/** MQTT 5 DISCONNECT: Remaining Length 0 means Normal disconnection (§3.14.2.1). */
function decodeDisconnectV5(r: Reader): DisconnectPacket | DecodeError {
  if (r.remaining() === 0) return { type: PacketType.Disconnect, reasonCode: ReasonCode.NormalDisconnection };
  const reasonCode = r.u8("DISCONNECT Reason Code");
  if (!REASON_CODES_BY_PACKET[PacketType.Disconnect]!.has(reasonCode)) {
    return r.fail(
      ReasonCode.MalformedPacket,
      "DISCONNECT Reason Code",
      `is 0x${reasonCode.toString(16).padStart(2, "0")}, which is not a DISCONNECT reason code (§3.14.2.1)`,
    );
  }
  const packet: DisconnectPacket = { type: PacketType.Disconnect, reasonCode };
  if (r.remaining() > 0) {
    const properties = readProperties(r, PacketType.Disconnect);
    if (r.error) return r.error;
    if (properties !== undefined) packet.properties = properties;
  }
  return packet;
}

/** AUTH (MQTT 5 only; checkFirstByte refuses it for 3.x): Remaining Length 0 means Success. */
function decodeAuth(r: Reader): AuthPacket | DecodeError {
  if (r.remaining() === 0) return { type: PacketType.Auth, reasonCode: ReasonCode.Success };
  const reasonCode = r.u8("AUTH Reason Code");
  if (!REASON_CODES_BY_PACKET[PacketType.Auth]!.has(reasonCode)) {
    return r.fail(
      ReasonCode.MalformedPacket,
      "AUTH Reason Code",
      `is 0x${reasonCode.toString(16).padStart(2, "0")}; AUTH allows 0x00 Success, 0x18 Continue authentication, 0x19 Re-authenticate (§3.15.2.1)`,
    );
  }
  const packet: AuthPacket = { type: PacketType.Auth, reasonCode };
  if (r.remaining() > 0) {
    const properties = readProperties(r, PacketType.Auth);
    if (r.error) return r.error;
    if (properties !== undefined) packet.properties = properties;
  }
  return packet;
}

const scratchHeader = new FixedHeader();

/**
 * Decodes the packet at the start of `bytes`. `protocolVersion` is the connection's (undefined
 * before CONNECT: then only a CONNECT decodes, and anything else is explained, e.g. a TLS
 * ClientHello or an HTTP request). Returns "more" when `bytes` stop before the packet ends;
 * `size` tells how many bytes the packet used (bytes after it are left alone). `filterOptions`
 * decide how SUBSCRIBE / UNSUBSCRIBE topic filters are checked (default: the spec's rules).
 * Never throws.
 */
export function decodePacket(
  bytes: Uint8Array,
  protocolVersion: ProtocolVersion | undefined,
  filterOptions?: TopicFilterOptions,
): DecodeResult {
  if (bytes.length === 0) return MORE;
  const first = bytes[0]!;
  if (protocolVersion === undefined) {
    const before = checkBeforeConnect(bytes, true);
    if (before === "more") return MORE;
    if (before !== undefined) return { kind: "error", error: before };
  }
  const flagsError = checkFirstByte(first, protocolVersion);
  if (flagsError !== undefined) return { kind: "error", error: flagsError };
  const header = scratchHeader;
  const status = parseFixedHeader(bytes, 0, bytes.length, header);
  if (status === HEADER_INCOMPLETE) return MORE;
  if (status === HEADER_TOO_LONG) return { kind: "error", error: remainingLengthTooLong() };
  const size = header.headerLength + header.remainingLength;
  if (bytes.length < size) return MORE;
  const packet = decodeFrame(bytes, 0, header, protocolVersion, filterOptions);
  if (packet instanceof DecodeError) return { kind: "error", error: packet };
  return { kind: "packet", packet, size };
}
