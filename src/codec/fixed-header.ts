/**
 * The fixed header (MQTT 5 §2.1, 3.1.1 §2.2): first byte (type and flags), then the Remaining
 * Length as a 1..4-byte Variable Byte Integer. Shared by the framer and decodePacket so both
 * reject a bad header as soon as its bytes arrive, before any body is buffered.
 */
import { MAX_VARIABLE_BYTE_INTEGER, PACKET_TYPE_NAMES, PacketType, ReasonCode, type ProtocolVersion } from "./constants.ts";
import { DecodeError, malformed } from "./errors.ts";

/** Result slot for parseFixedHeader, reused by its owner so framing allocates nothing. */
export class FixedHeader {
  firstByte = 0;
  /** Bytes after the fixed header. */
  remainingLength = 0;
  /** Bytes of the fixed header itself: 2..5. */
  headerLength = 0;
}

/** parseFixedHeader results other than success. */
export const HEADER_INCOMPLETE = -1;
export const HEADER_TOO_LONG = -2;

/**
 * Parses the fixed header at bytes[start..end). Returns 0 and fills `out`, HEADER_INCOMPLETE
 * when more bytes are needed, or HEADER_TOO_LONG when the Remaining Length runs past 4 bytes.
 */
export function parseFixedHeader(bytes: Uint8Array, start: number, end: number, out: FixedHeader): number {
  if (start >= end) return HEADER_INCOMPLETE;
  let value = 0;
  let multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    if (start + i >= end) return HEADER_INCOMPLETE;
    const byte = bytes[start + i]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) {
      out.firstByte = bytes[start]!;
      out.remainingLength = value;
      out.headerLength = i + 1;
      return 0;
    }
    multiplier *= 128;
  }
  return HEADER_TOO_LONG;
}

export function remainingLengthTooLong(): DecodeError {
  return malformed(
    "fixed header Remaining Length",
    `continues past 4 bytes; the largest Remaining Length is ${MAX_VARIABLE_BYTE_INTEGER} in at most 4 bytes (MQTT 5 §2.1.4, 3.1.1 §2.2.3)`,
  );
}

const bits = (flags: number): string => `0b${flags.toString(2).padStart(4, "0")}`;

/**
 * Checks the packet type and flags of a first byte for `version` (undefined before CONNECT:
 * the caller handles that case, this checks only what every version shares).
 * Returns undefined when valid.
 */
export function checkFirstByte(firstByte: number, version: ProtocolVersion | undefined): DecodeError | undefined {
  const type = firstByte >> 4;
  const flags = firstByte & 0x0f;
  if (type === 0) {
    return malformed("fixed header packet type", `is 0, which is reserved and never sent (first byte 0x${hex2(firstByte)}) (MQTT 5 §2.1.2)`);
  }
  if (type === PacketType.Auth && version !== undefined && version < 5) {
    return malformed(
      "fixed header packet type",
      `is 15 (AUTH), which only exists in MQTT 5; it is reserved in MQTT ${version === 3 ? "3.1" : "3.1.1"} (first byte 0x${hex2(firstByte)})`,
      type,
    );
  }
  const name = PACKET_TYPE_NAMES[type]!;
  switch (type) {
    case PacketType.Publish: {
      const qos = (flags >> 1) & 3;
      if (qos === 3) {
        return malformed(`${name} fixed header QoS`, "is 3; QoS bits must not both be 1 [MQTT-3.3.1-4]", type);
      }
      if (qos === 0 && (flags & 0x08) !== 0) {
        return malformed(`${name} fixed header DUP`, "is 1 on a QoS 0 message; DUP must be 0 for all QoS 0 messages [MQTT-3.3.1-2]", type);
      }
      return undefined;
    }
    case PacketType.Pubrel:
    case PacketType.Subscribe:
    case PacketType.Unsubscribe: {
      // MQTT 3.1 marks these QoS 1 and lets a resent one carry DUP, so accept 0b1010 there.
      if (flags === 0b0010 || (version === 3 && flags === 0b1010)) return undefined;
      const rule = type === PacketType.Pubrel ? "MQTT-3.6.1-1" : type === PacketType.Subscribe ? "MQTT-3.8.1-1" : "MQTT-3.10.1-1";
      return malformed(`${name} fixed header flags`, `are ${bits(flags)}; they must be 0b0010 [${rule}]`, type);
    }
    default:
      if (flags === 0) return undefined;
      return malformed(`${name} fixed header flags`, `are ${bits(flags)}; they are reserved and must be 0b0000 (MQTT 5 §2.1.3, [MQTT-2.2.2-2])`, type);
  }
}

/** Total packet size over `limitBytes`: PacketTooLarge, decided from the header alone. */
export function packetTooLarge(header: FixedHeader, limitBytes: number, beforeConnect: boolean): DecodeError {
  const type = header.firstByte >> 4;
  const total = header.headerLength + header.remainingLength;
  return new DecodeError(
    ReasonCode.PacketTooLarge,
    "fixed header Remaining Length",
    `announces a ${PACKET_TYPE_NAMES[type]} of ${total} bytes; the limit ${beforeConnect ? "before CONNECT completes " : ""}is ${limitBytes} bytes`,
    type,
  );
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
