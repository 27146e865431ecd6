/**
 * DecodeError: what the codec returns (never throws) when network bytes are not a valid packet.
 */
import { ReasonCode, type PacketType } from "./constants.ts";

/**
 * Why some bytes are not a valid MQTT packet. A value, not an exception: the protocol layer turns
 * it into CONNACK / DISCONNECT / a close, and logs `message` once.
 */
export class DecodeError {
  constructor(
    /**
     * MQTT 5 reason code that describes the failure: MalformedPacket (0x81), ProtocolError (0x82),
     * PacketTooLarge (0x95), TopicNameInvalid (0x90), TopicFilterInvalid (0x8F),
     * TopicAliasInvalid (0x94), UnsupportedProtocolVersion (0x84). Used for 3.x connections too:
     * there it only decides between CONNACK 1 (UnsupportedProtocolVersion) and closing.
     */
    readonly reasonCode: ReasonCode,
    /** The field being read, e.g. "PUBLISH topic", "fixed header", "CONNECT protocol level". */
    readonly field: string,
    /** For the operator: what arrived, what was expected, and the spec rule id when there is one. */
    readonly message: string,
    /** Type of the packet being decoded, when the fixed header got that far. */
    readonly packetType?: PacketType,
  ) {}

  toString(): string {
    return `${this.field}: ${this.message}`;
  }
}

/** Shorthand for the most common failure: a Malformed Packet (0x81). */
export function malformed(field: string, message: string, packetType?: PacketType): DecodeError {
  return new DecodeError(ReasonCode.MalformedPacket, field, message, packetType);
}

/** Shorthand for a Protocol Error (0x82): well-formed bytes that break a rule. */
export function protocolError(field: string, message: string, packetType?: PacketType): DecodeError {
  return new DecodeError(ReasonCode.ProtocolError, field, message, packetType);
}
