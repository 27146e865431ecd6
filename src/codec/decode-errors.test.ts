import { describe, expect, test } from "bun:test";
import { ReasonCode, type ProtocolVersion } from "./constants.ts";
import { decodePacket } from "./decode.ts";
import { h, toHex, utf8 } from "./test-helpers.ts";

/** A packet from its first byte and body; the Remaining Length is computed (body < 128 bytes). */
function pkt(firstByte: number, bodyHex: string): string {
  const body = h(bodyHex);
  if (body.length > 127) throw new Error("test body too long for a 1-byte Remaining Length");
  return toHex(Uint8Array.of(firstByte, body.length, ...body));
}

const hexOf = (s: string): string => toHex(utf8(s));
/** A UTF-8 string field: 2-byte length then the bytes. */
const str = (s: string): string => {
  const b = utf8(s);
  return toHex(Uint8Array.of(b.length >> 8, b.length & 0xff, ...b));
};
/** CONNECT body: protocol name, level, flags, keepalive 60, then `rest`. */
const connect = (level: number, flags: number, rest: string, name = level === 3 ? "MQIsdp" : "MQTT"): string =>
  pkt(0x10, `${str(name)} ${level.toString(16).padStart(2, "0")} ${flags.toString(16).padStart(2, "0")} 003c ${rest}`);

interface ErrorCase {
  name: string;
  /** undefined: before CONNECT (the decoder has no version yet). */
  version: ProtocolVersion | undefined;
  hex: string;
  reasonCode: ReasonCode;
  fragment: string;
  field?: string;
}

const M = ReasonCode.MalformedPacket;
const P = ReasonCode.ProtocolError;

const CASES: ErrorCase[] = [
  // ---- fixed header
  { name: "rejects the reserved packet type 0", version: 4, hex: "00 00", reasonCode: M, fragment: "is 0, which is reserved" },
  { name: "rejects AUTH (type 15) in MQTT 3.1.1", version: 4, hex: "f0 00", reasonCode: M, fragment: "only exists in MQTT 5; it is reserved in MQTT 3.1.1" },
  { name: "rejects AUTH (type 15) in MQTT 3.1", version: 3, hex: "f0 00", reasonCode: M, fragment: "reserved in MQTT 3.1 " },
  { name: "rejects SUBSCRIBE with reserved flag bits [MQTT-3.8.1-1]", version: 4, hex: pkt(0x80, "0001 0001 61 00"), reasonCode: M, fragment: "are 0b0000; they must be 0b0010 [MQTT-3.8.1-1]" },
  { name: "rejects SUBSCRIBE with DUP set in 3.1.1 (only 3.1 allows it) [MQTT-3.8.1-1]", version: 4, hex: pkt(0x8a, "0001 0001 61 00"), reasonCode: M, fragment: "are 0b1010; they must be 0b0010 [MQTT-3.8.1-1]" },
  { name: "rejects UNSUBSCRIBE with reserved flag bits [MQTT-3.10.1-1]", version: 5, hex: pkt(0xa0, "0001 00 0001 61"), reasonCode: M, fragment: "must be 0b0010 [MQTT-3.10.1-1]" },
  { name: "rejects PUBREL with reserved flag bits [MQTT-3.6.1-1]", version: 4, hex: pkt(0x60, "0001"), reasonCode: M, fragment: "must be 0b0010 [MQTT-3.6.1-1]" },
  { name: "rejects PUBACK with flag bits set [MQTT-2.2.2-2]", version: 4, hex: pkt(0x41, "0001"), reasonCode: M, fragment: "are 0b0001; they are reserved and must be 0b0000" },
  { name: "rejects PINGREQ with flag bits set", version: 5, hex: "c8 00", reasonCode: M, fragment: "are 0b1000; they are reserved and must be 0b0000", field: "PINGREQ fixed header flags" },
  { name: "rejects CONNECT with flag bits set", version: undefined, hex: connect(4, 2, "0000").replace(/^10/, "12"), reasonCode: M, fragment: "are 0b0010; they are reserved" },
  { name: "rejects PUBLISH QoS 3 [MQTT-3.3.1-4]", version: 4, hex: pkt(0x36, `${str("a")} 0001`), reasonCode: M, fragment: "QoS bits must not both be 1 [MQTT-3.3.1-4]" },
  { name: "rejects DUP on a QoS 0 PUBLISH [MQTT-3.3.1-2]", version: 4, hex: pkt(0x38, str("a")), reasonCode: M, fragment: "DUP must be 0 for all QoS 0 messages [MQTT-3.3.1-2]" },
  { name: "rejects a Remaining Length longer than 4 bytes", version: 4, hex: "30 ff ff ff ff 01", reasonCode: M, fragment: "continues past 4 bytes", field: "fixed header Remaining Length" },

  // ---- lengths
  { name: "rejects PINGREQ with a body", version: 4, hex: "c0 01 00", reasonCode: M, fragment: "is 1 but the fields end after 0: 1 byte(s) left over" },
  { name: "rejects a 3.1.1 PUBACK with trailing bytes", version: 4, hex: "40 03 0001 00", reasonCode: M, fragment: "1 byte(s) left over", field: "PUBACK Remaining Length" },
  { name: "rejects a 3.1.1 DISCONNECT with a body", version: 4, hex: "e0 01 00", reasonCode: M, fragment: "left over" },
  { name: "rejects a 3.1.1 UNSUBACK with trailing bytes", version: 4, hex: "b0 03 0001 00", reasonCode: M, fragment: "left over" },
  { name: "rejects a 3.1.1 CONNACK with trailing bytes", version: 4, hex: "20 03 00 00 00", reasonCode: M, fragment: "left over" },
  { name: "rejects a PUBACK shorter than its Packet Identifier", version: 4, hex: "40 01 00", reasonCode: M, fragment: "needs 2 more byte(s) but the packet has 1 left" },
  { name: "rejects a string longer than the packet", version: 4, hex: pkt(0x30, "0010 61"), reasonCode: M, fragment: "needs 16 more byte(s)", field: "PUBLISH Topic Name" },
  { name: "rejects a CONNECT whose fields end before the packet", version: undefined, hex: connect(4, 0x02, `${str("c")} 00`), reasonCode: M, fragment: "has 1 byte(s) after the last field the Connect Flags announce" },
  { name: "rejects a CONNECT with the Password Flag and no password", version: undefined, hex: connect(4, 0xc2, `${str("c")} ${str("u")}`), reasonCode: M, fragment: "needs 2 more byte(s)", field: "CONNECT Password" },

  // ---- UTF-8
  { name: "rejects ill-formed UTF-8 in a topic [MQTT-1.5.4-1]", version: 4, hex: pkt(0x30, "0002 c328"), reasonCode: M, fragment: "is not well-formed UTF-8 (bytes c3 28) [MQTT-1.5.4-1]" },
  { name: "rejects an encoded surrogate (U+D800) [MQTT-1.5.4-1]", version: 4, hex: pkt(0x30, "0003 eda080"), reasonCode: M, fragment: "not well-formed UTF-8" },
  { name: "rejects an overlong UTF-8 encoding", version: 4, hex: pkt(0x30, "0002 c0af"), reasonCode: M, fragment: "not well-formed UTF-8" },
  { name: "rejects U+0000 in a short string [MQTT-1.5.4-2]", version: 4, hex: pkt(0x30, "0003 610062"), reasonCode: M, fragment: "contains the null character U+0000 at byte 1; UTF-8 strings must not [MQTT-1.5.4-2]" },
  { name: "rejects U+0000 in a long string [MQTT-1.5.4-2]", version: 4, hex: pkt(0x30, `0015 ${hexOf("a".repeat(20))}00`), reasonCode: M, fragment: "U+0000 at byte 20" },
  { name: "rejects U+0000 in a client identifier", version: undefined, hex: connect(4, 0x02, "0001 00"), reasonCode: M, fragment: "U+0000", field: "CONNECT Client Identifier" },
  // Regression: a short string whose U+0000 came after a non-ASCII character skipped the check.
  { name: "rejects U+0000 after a non-ASCII character in a short client identifier [MQTT-1.5.4-2]", version: undefined, hex: connect(4, 0x02, "0003 c3a900"), reasonCode: M, fragment: "U+0000 at byte 2", field: "CONNECT Client Identifier" },
  { name: "rejects U+0000 after a non-ASCII character in a short User Property [MQTT-1.5.4-2]", version: 5, hex: pkt(0x30, `${str("a")} 08 26 0003 c3a900 0000`), reasonCode: M, fragment: "U+0000 at byte 2", field: "PUBLISH User Property name" },
  { name: "rejects ill-formed UTF-8 in a user property value", version: 5, hex: pkt(0x30, `${str("t")} 06 26 ${str("k")} 0001 ff`), reasonCode: M, fragment: "not well-formed UTF-8", field: "PUBLISH User Property value" },

  // ---- topic names and filters
  { name: "rejects '+' in a PUBLISH topic [MQTT-3.3.2-2]", version: 4, hex: pkt(0x30, str("a/+/b")), reasonCode: ReasonCode.TopicNameInvalid, fragment: `"a/+/b" contains the wildcard '+' at index 2; topic names must not contain wildcards [MQTT-3.3.2-2]` },
  { name: "rejects '#' in a PUBLISH topic [MQTT-3.3.2-2]", version: 5, hex: pkt(0x30, `${str("a/#")} 00`), reasonCode: ReasonCode.TopicNameInvalid, fragment: "wildcard '#'" },
  { name: "rejects an empty PUBLISH topic in 3.1.1 [MQTT-4.7.3-1]", version: 4, hex: pkt(0x30, "0000 78"), reasonCode: ReasonCode.TopicNameInvalid, fragment: "is empty; a topic name must be at least one character long [MQTT-4.7.3-1]" },
  { name: "rejects an empty PUBLISH topic without Topic Alias in 5.0", version: 5, hex: pkt(0x30, "0000 00 78"), reasonCode: P, fragment: "is empty and there is no Topic Alias" },
  { name: "rejects a will topic with a wildcard", version: undefined, hex: connect(4, 0x06, `${str("c")} ${str("w/#")} 0000`), reasonCode: ReasonCode.TopicNameInvalid, fragment: "wildcard '#'", field: "CONNECT Will Topic" },
  { name: "rejects '#' not in the last level [MQTT-4.7.1-2]", version: 4, hex: pkt(0x82, `0001 ${str("a/#/b")} 00`), reasonCode: ReasonCode.TopicFilterInvalid, fragment: `"a/#/b" has '#' at index 2; '#' must be the last character and alone in its level` },
  { name: "rejects '#' sharing its level [MQTT-4.7.1-2]", version: 4, hex: pkt(0x82, `0001 ${str("a#")} 00`), reasonCode: ReasonCode.TopicFilterInvalid, fragment: "[MQTT-4.7.1-2]" },
  { name: "rejects '+' sharing its level [MQTT-4.7.1-3]", version: 4, hex: pkt(0x82, `0001 ${str("a/b+")} 00`), reasonCode: ReasonCode.TopicFilterInvalid, fragment: "'+' at index 3 sharing its level with other characters; '+' must fill a whole level, as in \"a/+/b\" [MQTT-4.7.1-3]" },
  { name: "rejects an empty topic filter in SUBSCRIBE [MQTT-4.7.3-1]", version: 5, hex: pkt(0x82, "0001 00 0000 00"), reasonCode: ReasonCode.TopicFilterInvalid, fragment: "is empty; a topic filter must be at least one character long [MQTT-4.7.3-1]", field: "SUBSCRIBE Topic Filter 1" },
  { name: "rejects a misplaced '+' in UNSUBSCRIBE [MQTT-4.7.1-3]", version: 4, hex: pkt(0xa2, `0001 ${str("a")} ${str("+x")}`), reasonCode: ReasonCode.TopicFilterInvalid, fragment: "[MQTT-4.7.1-3]", field: "UNSUBSCRIBE Topic Filter 2" },
  { name: "rejects a Shared Subscription with an empty Share Name [MQTT-4.8.2-1]", version: 5, hex: pkt(0x82, `0001 00 ${str("$share//t")} 00`), reasonCode: ReasonCode.TopicFilterInvalid, fragment: "[MQTT-4.8.2-1]" },
  { name: "rejects a Shared Subscription with a wildcard in the Share Name [MQTT-4.8.2-1]", version: 5, hex: pkt(0x82, `0001 00 ${str("$share/g+/t")} 00`), reasonCode: ReasonCode.TopicFilterInvalid, fragment: "[MQTT-4.8.2-1]" },
  { name: "rejects a Shared Subscription without a filter [MQTT-4.8.2-2]", version: 5, hex: pkt(0x82, `0001 00 ${str("$share/g")} 00`), reasonCode: ReasonCode.TopicFilterInvalid, fragment: "without a topic filter; expected \"$share/g/<filter>\" [MQTT-4.8.2-2]" },
  { name: "rejects a Shared Subscription with an invalid filter [MQTT-4.7.1-2]", version: 5, hex: pkt(0xa2, `0001 00 ${str("$share/g/a#")}`), reasonCode: ReasonCode.TopicFilterInvalid, fragment: "[MQTT-4.7.1-2]" },

  // ---- SUBSCRIBE options and payload
  { name: "rejects SUBSCRIBE QoS 3 in 3.1.1 [MQTT-3-8.3-4]", version: 4, hex: pkt(0x82, `0001 ${str("a")} 03`), reasonCode: M, fragment: "request QoS 3 for \"a\"; the maximum QoS must be 0, 1 or 2 [MQTT-3-8.3-4]" },
  { name: "rejects SUBSCRIBE QoS 3 in 5.0 [MQTT-3.8.3-5]", version: 5, hex: pkt(0x82, `0001 00 ${str("a")} 03`), reasonCode: M, fragment: "[MQTT-3.8.3-5]" },
  { name: "rejects SUBSCRIBE option bits 7-2 in 3.1.1 [MQTT-3-8.3-4]", version: 4, hex: pkt(0x82, `0001 ${str("a")} 04`), reasonCode: M, fragment: "are 0b00000100 for \"a\"; bits 7-2 are reserved and must be 0 [MQTT-3-8.3-4]" },
  { name: "rejects SUBSCRIBE option bits 7-6 in 5.0 [MQTT-3.8.3-5]", version: 5, hex: pkt(0x82, `0001 00 ${str("a")} 41`), reasonCode: M, fragment: "bits 7-6 are reserved and must be 0 [MQTT-3.8.3-5]" },
  { name: "rejects Retain Handling 3", version: 5, hex: pkt(0x82, `0001 00 ${str("a")} 30`), reasonCode: P, fragment: "have Retain Handling 3 for \"a\"" },
  { name: "rejects No Local on a Shared Subscription [MQTT-3.8.3-4]", version: 5, hex: pkt(0x82, `0001 00 ${str("$share/g/t")} 04`), reasonCode: P, fragment: "No Local on the Shared Subscription \"$share/g/t\"" },
  { name: "rejects a SUBSCRIBE filter without its options byte", version: 4, hex: pkt(0x82, `0001 ${str("a")}`), reasonCode: M, fragment: "needs 1 more byte(s)", field: "SUBSCRIBE Topic Filter 1 Subscription Options" },
  { name: "rejects SUBSCRIBE with no topic filters in 3.1.1 [MQTT-3.8.3-3]", version: 4, hex: pkt(0x82, "0001"), reasonCode: M, fragment: "has no topic filters; a SUBSCRIBE must contain at least one [MQTT-3.8.3-3]" },
  { name: "rejects SUBSCRIBE with no topic filters in 5.0 [MQTT-3.8.3-2]", version: 5, hex: pkt(0x82, "0001 00"), reasonCode: P, fragment: "[MQTT-3.8.3-2]" },
  { name: "rejects UNSUBSCRIBE with no topic filters [MQTT-3.10.3-2]", version: 4, hex: pkt(0xa2, "0001"), reasonCode: M, fragment: "an UNSUBSCRIBE must contain at least one [MQTT-3.10.3-2]" },
  { name: "rejects SUBACK with no return codes", version: 4, hex: pkt(0x90, "0001"), reasonCode: M, fragment: "has no return codes" },
  { name: "rejects an MQTT 5 UNSUBACK with no reason codes", version: 5, hex: pkt(0xb0, "0001 00"), reasonCode: M, fragment: "has no reason codes" },

  // ---- packet identifiers
  { name: "rejects PUBLISH QoS 1 with Packet Identifier 0 in 3.1.1 [MQTT-2.3.1-1]", version: 4, hex: pkt(0x32, `${str("a")} 0000`), reasonCode: P, fragment: "is 0; Packet Identifiers must be non-zero [MQTT-2.3.1-1]", field: "PUBLISH Packet Identifier" },
  { name: "rejects PUBLISH QoS 2 with Packet Identifier 0 in 5.0 [MQTT-2.2.1-3]", version: 5, hex: pkt(0x34, `${str("a")} 0000 00`), reasonCode: P, fragment: "[MQTT-2.2.1-3]" },
  { name: "rejects SUBSCRIBE with Packet Identifier 0 [MQTT-2.3.1-1]", version: 4, hex: pkt(0x82, `0000 ${str("a")} 00`), reasonCode: P, fragment: "[MQTT-2.3.1-1]", field: "SUBSCRIBE Packet Identifier" },
  { name: "rejects UNSUBSCRIBE with Packet Identifier 0 [MQTT-2.3.1-1]", version: 3, hex: pkt(0xa2, `0000 ${str("a")}`), reasonCode: P, fragment: "[MQTT-2.3.1-1]" },
  { name: "rejects PUBACK with Packet Identifier 0", version: 4, hex: pkt(0x40, "0000"), reasonCode: P, fragment: "Packet Identifiers must be non-zero", field: "PUBACK Packet Identifier" },
  { name: "rejects PUBREL with Packet Identifier 0", version: 5, hex: pkt(0x62, "0000"), reasonCode: P, fragment: "Packet Identifiers must be non-zero" },

  // ---- CONNECT
  { name: "rejects the CONNECT reserved flag [MQTT-3.1.2-3]", version: undefined, hex: connect(4, 0x03, str("c")), reasonCode: M, fragment: "has the reserved bit 0 set; it must be 0 [MQTT-3.1.2-3]" },
  { name: "rejects Will QoS without the Will Flag in 3.1.1 [MQTT-3.1.2-13]", version: undefined, hex: connect(4, 0x0a, str("c")), reasonCode: M, fragment: "has Will QoS 1 without the Will Flag; Will QoS must be 0 when there is no will [MQTT-3.1.2-13]" },
  { name: "rejects Will QoS without the Will Flag in 5.0 [MQTT-3.1.2-11]", version: undefined, hex: connect(5, 0x12, `00 ${str("c")}`), reasonCode: M, fragment: "Will QoS 2 without the Will Flag; Will QoS must be 0 when there is no will [MQTT-3.1.2-11]" },
  { name: "rejects Will Retain without the Will Flag in 3.1.1 [MQTT-3.1.2-15]", version: undefined, hex: connect(4, 0x22, str("c")), reasonCode: M, fragment: "Will Retain set without the Will Flag; it must be 0 when there is no will [MQTT-3.1.2-15]" },
  { name: "rejects Will Retain without the Will Flag in 3.1 [MQTT-3.1.2-15]", version: undefined, hex: connect(3, 0x20, str("c")), reasonCode: M, fragment: "Will Retain set without the Will Flag" },
  { name: "rejects Will QoS 3 [MQTT-3.1.2-14]", version: undefined, hex: connect(4, 0x1e, `${str("c")} ${str("w")} 0000`), reasonCode: M, fragment: "has Will QoS 3; it must be 0, 1 or 2 [MQTT-3.1.2-14]" },
  { name: "rejects a password without a user name in 3.1.1 [MQTT-3.1.2-22]", version: undefined, hex: connect(4, 0x42, `${str("c")} 0001 70`), reasonCode: M, fragment: "has the Password Flag without the User Name Flag; in MQTT 3.1.1 the Password Flag must be 0 when the User Name Flag is 0 [MQTT-3.1.2-22]" },
  { name: "answers an unknown protocol level with UnsupportedProtocolVersion [MQTT-3.1.2-2]", version: undefined, hex: connect(6, 0x02, str("c")), reasonCode: ReasonCode.UnsupportedProtocolVersion, fragment: `protocol name "MQTT" with level 6 is not supported; this server speaks MQTT 3.1 ("MQIsdp", level 3), 3.1.1 ("MQTT", 4) and 5.0 ("MQTT", 5)`, field: "CONNECT Protocol Level" },
  { name: "answers MQIsdp with level 4 with UnsupportedProtocolVersion", version: undefined, hex: connect(4, 0x02, str("c"), "MQIsdp"), reasonCode: ReasonCode.UnsupportedProtocolVersion, fragment: `protocol name "MQIsdp" with level 4` },
  { name: "answers an unknown protocol name with UnsupportedProtocolVersion", version: undefined, hex: connect(4, 0x02, str("c"), "MQTX"), reasonCode: ReasonCode.UnsupportedProtocolVersion, fragment: `protocol name "MQTX" with level 4`, field: "CONNECT Protocol Name" },
  { name: "answers MQTT with level 3 with UnsupportedProtocolVersion", version: undefined, hex: connect(3, 0x02, str("c"), "MQTT"), reasonCode: ReasonCode.UnsupportedProtocolVersion, fragment: `"MQTT" with level 3` },

  // ---- MQTT 5 properties
  { name: "rejects a property not allowed in PUBLISH", version: 5, hex: pkt(0x30, `${str("a")} 05 11 00000001`), reasonCode: M, fragment: "property Session Expiry Interval (0x11) is not allowed in PUBLISH", field: "PUBLISH Session Expiry Interval" },
  { name: "rejects a property not allowed in CONNECT", version: undefined, hex: connect(5, 0x02, `03 23 0001 ${str("c")}`), reasonCode: M, fragment: "Topic Alias (0x23) is not allowed in CONNECT" },
  { name: "rejects a property not allowed in the will", version: undefined, hex: connect(5, 0x06, `00 ${str("c")} 05 11 00000001 ${str("w")} 0000`), reasonCode: M, fragment: "is not allowed in CONNECT Will Properties" },
  { name: "rejects a property not allowed in PUBACK", version: 5, hex: pkt(0x40, "0001 00 03 23 0001"), reasonCode: M, fragment: "Topic Alias (0x23) is not allowed in PUBACK" },
  { name: "rejects an unknown property identifier", version: 5, hex: pkt(0x30, `${str("a")} 02 05 00`), reasonCode: M, fragment: "0x05 is not an MQTT 5 property identifier" },
  { name: "rejects a duplicate Content Type", version: 5, hex: pkt(0x30, `${str("a")} 08 03 ${str("a")} 03 ${str("b")}`), reasonCode: P, fragment: "appears more than once; it is a Protocol Error to include Content Type more than once" },
  { name: "rejects two Subscription Identifiers in SUBSCRIBE", version: 5, hex: pkt(0x82, `0001 04 0b 01 0b 02 ${str("a")} 00`), reasonCode: P, fragment: "Subscription Identifier more than once" },
  { name: "rejects Subscription Identifier 0", version: 5, hex: pkt(0x82, `0001 02 0b 00 ${str("a")} 00`), reasonCode: P, fragment: "is 0; it is a Protocol Error for the Subscription Identifier to be 0" },
  { name: "rejects Receive Maximum 0", version: undefined, hex: connect(5, 0x02, `03 21 0000 ${str("c")}`), reasonCode: P, fragment: "is 0; it is a Protocol Error for Receive Maximum to be 0" },
  { name: "rejects Maximum Packet Size 0", version: undefined, hex: connect(5, 0x02, `05 27 00000000 ${str("c")}`), reasonCode: P, fragment: "Maximum Packet Size to be 0" },
  { name: "rejects Request Problem Information 2", version: undefined, hex: connect(5, 0x02, `02 17 02 ${str("c")}`), reasonCode: P, fragment: "is 2; it is a Protocol Error for Request Problem Information to be other than 0 or 1" },
  { name: "rejects Payload Format Indicator 2", version: 5, hex: pkt(0x30, `${str("a")} 02 01 02`), reasonCode: P, fragment: "Payload Format Indicator to be other than 0 or 1" },
  { name: "rejects Topic Alias 0 [MQTT-3.3.2-8]", version: 5, hex: pkt(0x30, `${str("a")} 03 23 0000`), reasonCode: ReasonCode.TopicAliasInvalid, fragment: "a Topic Alias of 0 is not permitted [MQTT-3.3.2-8]" },
  { name: "rejects a Property Length beyond the packet", version: 5, hex: pkt(0x30, `${str("a")} 09 01 00`), reasonCode: M, fragment: "is 9 but only 2 byte(s) of the packet are left", field: "PUBLISH Property Length" },
  { name: "rejects a property value running past the Property Length", version: 5, hex: pkt(0x30, `${str("a")} 02 03 0001 61 78`), reasonCode: M, fragment: "runs 2 byte(s) past the end of the properties (Property Length 2)" },
  { name: "rejects a User Property without its value", version: 5, hex: pkt(0x40, `0001 00 04 26 ${str("k")}`), reasonCode: M, fragment: "needs 2 more byte(s)", field: "PUBACK User Property value" },
  { name: "rejects a Property Length varint longer than 4 bytes", version: 5, hex: pkt(0x30, `${str("a")} ff ff ff ff 01`), reasonCode: M, fragment: "continues past 4 bytes" },

  // ---- MQTT 5 reason codes
  { name: "rejects an undefined PUBACK reason code", version: 5, hex: pkt(0x40, "0001 05"), reasonCode: M, fragment: "is 0x05, which is not a PUBACK reason code" },
  { name: "rejects a PUBACK reason code on PUBREL", version: 5, hex: pkt(0x62, "0001 10"), reasonCode: M, fragment: "is 0x10, which is not a PUBREL reason code" },
  { name: "rejects an undefined DISCONNECT reason code", version: 5, hex: pkt(0xe0, "01"), reasonCode: M, fragment: "is 0x01, which is not a DISCONNECT reason code" },
  { name: "rejects an undefined AUTH reason code", version: 5, hex: pkt(0xf0, "01 00"), reasonCode: M, fragment: "AUTH allows 0x00 Success, 0x18 Continue authentication, 0x19 Re-authenticate" },
  { name: "rejects an undefined SUBACK reason code in 5.0", version: 5, hex: pkt(0x90, "0001 00 03"), reasonCode: M, fragment: "is 0x03, which is not a SUBACK reason code" },
  { name: "rejects an undefined SUBACK return code in 3.1.1", version: 4, hex: pkt(0x90, "0001 03"), reasonCode: M, fragment: "is 0x03, which is not a SUBACK return code" },
  { name: "rejects an undefined UNSUBACK reason code", version: 5, hex: pkt(0xb0, "0001 00 01"), reasonCode: M, fragment: "is 0x01, which is not an UNSUBACK reason code" },
  { name: "rejects an undefined CONNACK reason code", version: 5, hex: pkt(0x20, "00 01 00"), reasonCode: M, fragment: "is 0x01, which is not defined for CONNACK" },
  { name: "rejects an undefined CONNACK return code in 3.1.1", version: 4, hex: pkt(0x20, "00 06"), reasonCode: M, fragment: "is 0x06, which is not defined for CONNACK" },
  { name: "rejects reserved CONNACK flag bits in 3.1.1", version: 4, hex: pkt(0x20, "02 00"), reasonCode: M, fragment: "bits 7-1 are reserved and must be 0" },

  // ---- before CONNECT
  { name: "rejects a PUBLISH before CONNECT [MQTT-3.1.0-1]", version: undefined, hex: pkt(0x30, `${str("a")} 78`), reasonCode: P, fragment: "is 3 (PUBLISH; first bytes 30 04 00 01 61 78) before the CONNECT was accepted; the first packet must be CONNECT (first byte 0x10)" },
  { name: "explains a TLS ClientHello on the plain port", version: undefined, hex: "16 03 01 00 a5 01 00 00 a1 03 03", reasonCode: P, fragment: "looks like a TLS ClientHello: the client uses TLS (mqtts://, usually port 8883) on the plain MQTT port" },
  { name: "explains an HTTP request on the raw MQTT port", version: undefined, hex: hexOf("GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n"), reasonCode: P, fragment: `looks like an HTTP request ("GET /mqtt HTTP/1.1")` },
  { name: "explains a WebSocket upgrade request on the raw MQTT port", version: undefined, hex: hexOf("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), reasonCode: P, fragment: "Web MQTT listener (web_mqtt.tcp.port, default 15675, path /ws)" },
  { name: "explains a PROXY protocol v1 header", version: undefined, hex: hexOf("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), reasonCode: P, fragment: "PROXY protocol v1 header" },
  { name: "explains a PROXY protocol v2 header", version: undefined, hex: "0d0a0d0a000d0a515549540a 21 11 000c", reasonCode: P, fragment: "PROXY protocol v2 header" },
  { name: "explains an AMQP client on the MQTT port", version: undefined, hex: `${hexOf("AMQP")} 00 00 09 01`, reasonCode: P, fragment: "an AMQP client is connecting to the MQTT port" },
  { name: "explains an SSH client on the MQTT port", version: undefined, hex: hexOf("SSH-2.0-OpenSSH_9.2\r\n"), reasonCode: P, fragment: "SSH banner" },
];

describe("decode errors: bytes -> DecodeError with reason code and message", () => {
  for (const c of CASES) {
    test(c.name, () => {
      const result = decodePacket(h(c.hex), c.version);
      if (result.kind !== "error") throw new Error(`expected an error, got ${JSON.stringify(result)}`);
      expect(result.error.message).toContain(c.fragment);
      expect(result.error.reasonCode).toBe(c.reasonCode);
      if (c.field !== undefined) expect(result.error.field).toBe(c.field);
    });
  }
});

describe("inputs that look wrong but are valid", () => {
  test("accepts $share/... as an ordinary topic filter in 3.1.1", () => {
    expect(decodePacket(h(pkt(0x82, `0001 ${str("$share/g")} 00`)), 4).kind).toBe("packet");
  });

  test("accepts several User Properties with the same name and several Subscription Identifiers in PUBLISH", () => {
    const result = decodePacket(h(pkt(0x30, `${str("a")} 12 26 ${str("k")} ${str("1")} 26 ${str("k")} ${str("2")} 0b 01 0b 02`)), 5);
    if (result.kind !== "packet") throw new Error(JSON.stringify(result));
    expect(result.packet).toMatchObject({ properties: { userProperties: [["k", "1"], ["k", "2"]], subscriptionIdentifiers: [1, 2] } });
  });

  test("waits for more bytes while the start could still be a known mistake (\"GE\")", () => {
    expect(decodePacket(utf8("GE"), undefined).kind).toBe("more");
  });

  test("decodes the largest u32 and Variable Byte Integer property values", () => {
    const result = decodePacket(h(pkt(0x30, `${str("a")} 0a 02 ffffffff 0b ffffff7f`)), 5);
    if (result.kind !== "packet") throw new Error(JSON.stringify(result));
    expect(result.packet).toMatchObject({ properties: { messageExpiryIntervalSeconds: 0xffffffff, subscriptionIdentifiers: [268_435_455] } });
  });
});
