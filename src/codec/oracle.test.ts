/**
 * mqtt-packet (npm, 9.0.2: the codec inside MQTT.js) as an independent oracle. For seeded random
 * valid packets of every type and protocol version (3.1, 3.1.1, 5.0 with every property):
 *   - what we encode, mqtt-packet parses to the same packet;
 *   - what mqtt-packet generates, we decode to the same packet.
 * `toMqttPacket` / `fromMqttPacket` (mqtt-packet-shape.ts) map between the two packet shapes (the
 * one place that knows both); `comparable` puts either side in a form where equal packets are equal.
 *
 * Known differences, each handled explicitly below (none by loosening our checks):
 *  1. User Properties: mqtt-packet keeps them as an object { name: value | value[] }, so it keeps
 *     the order of values per name but not how names interleave on the wire (and it writes integer-
 *     like names first, as JS objects order keys). Compared as pairs stably sorted by name.
 *  2. Properties are compared without regard to key order (each side writes its own order).
 *  3. Byte properties that only take 0/1 (Payload Format Indicator, Retain Available, ...) are
 *     booleans in mqtt-packet, numbers 0/1 here; Subscription Identifier is a number or an array
 *     there, always an array here; several properties drop our unit suffixes
 *     (messageExpiryIntervalSeconds <-> messageExpiryInterval, ...).
 *  4. mqtt-packet writes MQTT 5 PUBACK/PUBREC/PUBREL/PUBCOMP with a non-zero reason code and no
 *     properties in the long form (reason code + Property Length 0) and always writes DISCONNECT
 *     and AUTH with a Property Length; we write the short forms (§3.4.2.1, §3.14.2.1, §3.15.2.1).
 *     Both decoders must accept both forms, which the round trips exercise.
 *  5. mqtt-packet's parser refuses an AUTH with Remaining Length 0, which the spec allows for
 *     Success with no properties (§3.15.2.1). Asserted as a refusal, counted, never skipped silently.
 *  6. mqtt-packet refuses to generate a CONNECT with a password and no user name (allowed in 3.1 and
 *     5.0), an empty Client Identifier in 3.1, or an empty one with Clean Session 0: asserted as refusals.
 *  7. mqtt-packet's parser reads CONNACK's and DISCONNECT's optional fields from everything buffered,
 *     not from the packet's Remaining Length, so it is given one packet per parser. (Our Decoder gets
 *     mqtt-packet's whole stream, in random chunks.)
 *  8. mqtt-packet accepts many packets we reject (wildcards in topic names, packet id 0, U+0000,
 *     ill-formed UTF-8, duplicate or misplaced properties, ...): the last table pins each of them,
 *     mqtt-packet accepting and us refusing with the spec rule.
 *  9. mqtt-packet's parser loses a User Property whose value is "" when a later one has the same
 *     name (a bug on its side: it tests the earlier value for truthiness). The expected packet for
 *     its parser is adjusted by replaying that merge (asMqttPacketParses), and a test pins it.
 */
import { describe, expect, test } from "bun:test";
import * as mqtt from "mqtt-packet";
import { PROPERTY_DEFINITIONS, PacketType, PropertyDataType, ReasonCode, type ProtocolVersion } from "./constants.ts";
import { decodePacket } from "./decode.ts";
import { Decoder } from "./decoder.ts";
import { encodePacket } from "./encode.ts";
import { CMD, PROPERTY_NAMES, type Shape, comparable, fromMqttPacket, toMqttPacket, userPropertiesAsMqttPacketParses } from "./mqtt-packet-shape.ts";
import type { Packet, Properties } from "./packets.ts";
import { packetTypesOf, randomPacket } from "./random-packets.ts";
import { h, prng, toHex } from "./test-helpers.ts";

// ---------------------------------------------------------------- running mqtt-packet

/** mqtt-packet writes Buffers (it calls .copy() on them): every Uint8Array in `shape` wrapped without copying. */
function withBuffers(value: any): any {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(withBuffers);
  if (value !== null && typeof value === "object") {
    const out: Shape = Object.getPrototypeOf(value) === null ? Object.create(null) : {};
    for (const [k, v] of Object.entries(value)) out[k] = withBuffers(v);
    return out;
  }
  return value;
}

/** Parses one packet's bytes with a fresh mqtt-packet parser (difference 7). */
function mqttParse(bytes: Uint8Array, version: ProtocolVersion): { packets: Shape[]; errors: string[] } {
  const parser = mqtt.parser({ protocolVersion: version });
  const packets: Shape[] = [];
  const errors: string[] = [];
  parser.on("packet", (p) => packets.push(p as Shape));
  parser.on("error", (e) => errors.push(String(e?.message ?? e)));
  parser.parse(withBuffers(bytes));
  return { packets, errors };
}

/** mqtt-packet's generate(); its refusals surface as thrown errors ("error" with no listener). */
function mqttGenerate(shape: Shape, version: ProtocolVersion): Buffer | Error {
  try {
    return mqtt.generate(withBuffers(shape) as mqtt.Packet, { protocolVersion: version });
  } catch (e) {
    return e as Error;
  }
}

/** Difference 6: a CONNECT mqtt-packet will not generate, and the message it gives. */
function mqttRefusesToGenerate(packet: Packet): string | undefined {
  if (packet.type !== PacketType.Connect) return undefined;
  // In the order mqtt-packet checks them.
  if (packet.clientId === "" && packet.protocolVersion === 3) return "clientId must be supplied before 3.1.1";
  if (packet.clientId === "" && !packet.cleanSession) return "clientId must be given if cleanSession set to 0";
  if (packet.password !== undefined && packet.username === undefined) return "Username is required to use password";
  return undefined;
}

/** `packet` as mqtt-packet's parser will report it (difference 9); counts the packets it changed. */
let userPropertiesLost = 0;
function asMqttPacketParses(packet: Packet): Packet {
  const fix = (props: Properties | undefined): Properties | undefined => {
    if (props?.userProperties === undefined) return props;
    const merged = userPropertiesAsMqttPacketParses(props.userProperties);
    if (merged.length === props.userProperties.length) return props;
    userPropertiesLost++;
    return { ...props, userProperties: merged };
  };
  const copy = { ...packet } as Packet;
  if ("properties" in copy && copy.properties !== undefined) copy.properties = fix(copy.properties);
  if (copy.type === PacketType.Connect && copy.will?.properties !== undefined) copy.will = { ...copy.will, properties: fix(copy.will.properties)! };
  return copy;
}

/** Difference 5: the spec's short-form AUTH (Success, no properties, Remaining Length 0). */
const isShortAuth = (packet: Packet): boolean => packet.type === PacketType.Auth && packet.reasonCode === 0 && packet.properties === undefined;

const decodeAs = (bytes: Uint8Array, packet: Packet, version: ProtocolVersion) =>
  decodePacket(bytes, packet.type === PacketType.Connect ? undefined : version);

const describePacket = (packet: Packet, version: ProtocolVersion): string => `MQTT level ${version}: ${JSON.stringify(comparable(packet))}`.slice(0, 2000);

// ---------------------------------------------------------------- tests

const VERSIONS = [3, 4, 5] as const;
/** Random packets per (version, packet type) and direction: (14 + 14 + 15) x 100 = 4,300 packets each way. */
const CASES_PER_TYPE = 100;

describe("mqtt-packet agrees with the shape map", () => {
  const constants = require("mqtt-packet/constants") as { properties: Record<string, number>; propertiesTypes: Record<string, string> };
  const THEIR_TYPE: Record<PropertyDataType, string[]> = {
    [PropertyDataType.Byte]: ["byte", "int8"],
    [PropertyDataType.TwoByteInteger]: ["int16"],
    [PropertyDataType.FourByteInteger]: ["int32"],
    [PropertyDataType.VariableByteInteger]: ["var"],
    [PropertyDataType.Utf8String]: ["string"],
    [PropertyDataType.BinaryData]: ["binary"],
    [PropertyDataType.Utf8StringPair]: ["pair"],
  };
  test("every MQTT 5 property has the same identifier and wire type in both tables (§2.2.2.2)", () => {
    expect(Object.keys(PROPERTY_NAMES).sort()).toEqual(PROPERTY_DEFINITIONS.map((d) => d.field).sort());
    expect(Object.keys(constants.properties).length).toBe(PROPERTY_DEFINITIONS.length);
    for (const def of PROPERTY_DEFINITIONS) {
      const { name, boolean } = PROPERTY_NAMES[def.field]!;
      expect([def.field, constants.properties[name]]).toEqual([def.field, def.id]);
      expect(THEIR_TYPE[def.dataType]).toContain(constants.propertiesTypes[name]!);
      expect([def.field, constants.propertiesTypes[name] === "byte"]).toEqual([def.field, boolean === true]);
    }
  });
});

for (const version of VERSIONS) {
  describe(`MQTT level ${version}: seeded random valid packets through both codecs`, () => {
    for (const type of packetTypesOf(version)) {
      const name = CMD[type]!.toUpperCase();

      test(`${name}: what we encode, mqtt-packet parses to the same packet`, () => {
        const random = prng(1000 * version + type);
        let refusedShortAuth = 0;
        for (let i = 0; i < CASES_PER_TYPE; i++) {
          const packet = randomPacket(random, version, type);
          const bytes = encodePacket(packet, version);
          // Our own round trip first: the generator's packets are in the decoder's normal form.
          const ours = decodeAs(bytes, packet, version);
          if (ours.kind !== "packet") throw new Error(`we do not decode our own ${describePacket(packet, version)}: ${JSON.stringify(ours)}`);
          expect(comparable(ours.packet)).toEqual(comparable(packet));

          const theirs = mqttParse(bytes, version);
          if (isShortAuth(packet)) {
            expect(theirs.errors).toEqual(["Invalid auth reason code"]);
            refusedShortAuth++;
            continue;
          }
          if (theirs.errors.length > 0 || theirs.packets.length !== 1) {
            throw new Error(`mqtt-packet cannot parse ${toHex(bytes).slice(0, 400)} (${describePacket(packet, version)}): ${theirs.errors.join("; ")}`);
          }
          expect(comparable(fromMqttPacket(theirs.packets[0]!, version))).toEqual(comparable(asMqttPacketParses(packet)));
        }
        // Difference 5 must stay visible: AUTH Success without properties occurs and mqtt-packet refuses it.
        if (type === PacketType.Auth) expect(refusedShortAuth).toBeGreaterThan(0);
      });

      test(`${name}: what mqtt-packet generates, we decode to the same packet`, () => {
        const random = prng(2000 * version + type);
        let refused = 0;
        for (let i = 0; i < CASES_PER_TYPE; i++) {
          const packet = randomPacket(random, version, type);
          const generated = mqttGenerate(toMqttPacket(packet, version), version);
          const refusal = mqttRefusesToGenerate(packet);
          if (refusal !== undefined) {
            expect(generated).toBeInstanceOf(Error);
            expect((generated as Error).message).toBe(refusal);
            refused++;
            continue;
          }
          if (generated instanceof Error) throw new Error(`mqtt-packet cannot generate ${describePacket(packet, version)}: ${generated.message}`);
          const result = decodeAs(generated, packet, version);
          if (result.kind !== "packet") {
            throw new Error(`we cannot decode mqtt-packet's ${toHex(generated).slice(0, 400)} (${describePacket(packet, version)}): ${JSON.stringify(result)}`);
          }
          expect(result.size).toBe(generated.length);
          expect(comparable(result.packet)).toEqual(comparable(packet));
        }
        // Difference 6 is exercised, but most CONNECTs still go through.
        if (type === PacketType.Connect) expect(refused).toBeGreaterThan(0);
        expect(refused).toBeLessThan(CASES_PER_TYPE / 2);
      });
    }
  });
}

describe("mqtt-packet's byte stream through our Decoder", () => {
  for (const version of VERSIONS) {
    test(`MQTT level ${version}: a CONNECT and 400 random packets generated by mqtt-packet, fed in seeded random chunks, decode in order`, () => {
      const random = prng(3000 + version);
      const packets: Packet[] = [];
      while (packets.length === 0) {
        const connect = randomPacket(random, version, PacketType.Connect);
        if (mqttRefusesToGenerate(connect) === undefined) packets.push(connect);
      }
      while (packets.length < 401) {
        const packet = randomPacket(random, version, undefined, { largePayloadChance: 0.01 });
        if (packet.type !== PacketType.Connect) packets.push(packet);
      }
      const parts = packets.map((p) => mqttGenerate(toMqttPacket(p, version), version) as Buffer);
      const stream = Buffer.concat(parts);
      const decoder = new Decoder({ maxPacketSizeBytes: 1 << 20, maxPacketSizeBeforeConnectBytes: 1 << 16 });
      const decoded: unknown[] = [];
      for (let pos = 0; pos < stream.length; ) {
        const size = 1 + Math.floor(random() * 3000);
        decoder.feed(stream.subarray(pos, pos + size));
        pos += size;
        for (let result = decoder.next(); result.kind !== "more"; result = decoder.next()) {
          if (result.kind === "error") throw new Error(`packet ${decoded.length}: ${result.error.message}`);
          decoded.push(comparable(result.packet));
          if (result.packet.type === PacketType.Connect) decoder.protocolVersion = result.packet.protocolVersion;
        }
      }
      expect(decoded).toEqual(packets.map((p) => comparable(p)));
      expect(decoder.bufferedBytes).toBe(0);
    });
  }
});

describe("difference 4: mqtt-packet's long-form acks and DISCONNECT/AUTH decode like our short forms", () => {
  const forms: Array<[string, Packet, string, string]> = [
    // [what, packet, our bytes, mqtt-packet's bytes]
    ["PUBACK 0x10 No matching subscribers", { type: PacketType.Puback, packetId: 1, reasonCode: 0x10 }, "40 03 0001 10", "40 04 0001 10 00"],
    ["PUBREL 0x92 Packet Identifier not found", { type: PacketType.Pubrel, packetId: 9, reasonCode: 0x92 }, "62 03 0009 92", "62 04 0009 92 00"],
    ["DISCONNECT Normal disconnection", { type: PacketType.Disconnect, reasonCode: 0 }, "e0 00", "e0 02 00 00"],
    ["DISCONNECT 0x8b Server shutting down", { type: PacketType.Disconnect, reasonCode: 0x8b }, "e0 01 8b", "e0 02 8b 00"],
    ["AUTH 0x18 Continue authentication", { type: PacketType.Auth, reasonCode: 0x18 }, "f0 01 18", "f0 02 18 00"],
  ];
  for (const [what, packet, ourHex, theirHex] of forms) {
    test(`MQTT 5 ${what}`, () => {
      expect(toHex(encodePacket(packet, 5))).toBe(toHex(h(ourHex)));
      const generated = mqttGenerate(toMqttPacket(packet, 5), 5) as Buffer;
      expect(toHex(generated)).toBe(toHex(h(theirHex)));
      for (const bytes of [h(ourHex), h(theirHex)]) {
        const result = decodePacket(bytes, 5);
        expect(result.kind === "packet" && comparable(result.packet)).toEqual(comparable(packet));
        expect(comparable(fromMqttPacket(mqttParse(bytes, 5).packets[0]!, 5))).toEqual(comparable(packet));
      }
    });
  }
});

describe("difference 9: mqtt-packet's parser drops an empty User Property value when the name repeats", () => {
  test("MQTT 5 PUBLISH with User Properties (k, \"\"), (k, \"v\"): we keep both, mqtt-packet keeps one", () => {
    const packet: Packet = { type: PacketType.Publish, topic: "t", payload: new Uint8Array(0), qos: 0, retain: false, dup: false, properties: { userProperties: [["k", ""], ["k", "v"]] } };
    const bytes = encodePacket(packet, 5);
    expect(toHex(bytes)).toBe(toHex(h("30 11 0001 74 0d 26 0001 6b 0000 26 0001 6b 0001 76")));
    const ours = decodePacket(bytes, 5);
    expect(ours.kind === "packet" && ours.packet.type === PacketType.Publish && ours.packet.properties?.userProperties).toEqual([["k", ""], ["k", "v"]]);
    const theirs = mqttParse(bytes, 5);
    expect(theirs.packets[0]!.properties.userProperties).toEqual({ k: "v" });
    expect(userPropertiesAsMqttPacketParses([["k", ""], ["k", "v"]])).toEqual([["k", "v"]]);
  });
  test("the random round trips met the case (so the adjustment is exercised, not dead code)", () => {
    expect(userPropertiesLost).toBeGreaterThan(0);
  });
});

describe("difference 8: packets mqtt-packet accepts and we refuse, with the rule", () => {
  /** A packet from its first byte and body (body < 128 bytes). */
  const pkt = (firstByte: number, bodyHex: string): Uint8Array => {
    const body = h(bodyHex);
    return Uint8Array.of(firstByte, body.length, ...body);
  };
  const str = (s: string): string => {
    const b = new TextEncoder().encode(s);
    return toHex(Uint8Array.of(b.length >> 8, b.length & 0xff, ...b));
  };
  const connect = (name: string, level: number, flags: number, rest: string): Uint8Array =>
    pkt(0x10, `${str(name)} ${level.toString(16).padStart(2, "0")} ${flags.toString(16).padStart(2, "0")} 003c ${rest}`);

  const M = ReasonCode.MalformedPacket;
  const P = ReasonCode.ProtocolError;
  const cases: Array<{ what: string; version: ProtocolVersion; bytes: Uint8Array; reasonCode: ReasonCode; rule: string }> = [
    { what: "a wildcard in a PUBLISH topic name", version: 4, bytes: pkt(0x30, str("a/+")), reasonCode: ReasonCode.TopicNameInvalid, rule: "[MQTT-3.3.2-2]" },
    { what: "U+0000 in a topic name", version: 4, bytes: pkt(0x30, "0003 610062"), reasonCode: M, rule: "[MQTT-1.5.4-2]" },
    { what: "ill-formed UTF-8 in a topic name (mqtt-packet substitutes U+FFFD)", version: 4, bytes: pkt(0x30, "0002 c328"), reasonCode: M, rule: "[MQTT-1.5.4-1]" },
    { what: "UTF-16 surrogate D800 encoded in UTF-8", version: 5, bytes: pkt(0x30, "0003 eda080 00"), reasonCode: M, rule: "[MQTT-1.5.4-1]" },
    { what: "DUP on a QoS 0 PUBLISH", version: 4, bytes: pkt(0x38, str("a")), reasonCode: M, rule: "[MQTT-3.3.1-2]" },
    { what: "Packet Identifier 0 on a QoS 1 PUBLISH", version: 4, bytes: pkt(0x32, `${str("a")} 0000`), reasonCode: P, rule: "[MQTT-2.3.1-1]" },
    { what: "Packet Identifier 0 on a PUBACK", version: 5, bytes: pkt(0x40, "0000"), reasonCode: P, rule: "[MQTT-2.2.1-3]" },
    { what: "a '#' that is not the last level of a filter", version: 4, bytes: pkt(0x82, `0001 ${str("a/#/b")} 00`), reasonCode: ReasonCode.TopicFilterInvalid, rule: "[MQTT-4.7.1-2]" },
    { what: "a '+' sharing its level", version: 4, bytes: pkt(0x82, `0001 ${str("a+")} 00`), reasonCode: ReasonCode.TopicFilterInvalid, rule: "[MQTT-4.7.1-3]" },
    { what: "SUBSCRIBE without topic filters", version: 4, bytes: pkt(0x82, "0001"), reasonCode: M, rule: "[MQTT-3.8.3-3]" },
    { what: "UNSUBSCRIBE without topic filters", version: 4, bytes: pkt(0xa2, "0001"), reasonCode: M, rule: "[MQTT-3.10.3-2]" },
    { what: "MQTT 5 SUBSCRIBE with No Local on a Shared Subscription", version: 5, bytes: pkt(0x82, `0001 00 ${str("$share/g/a")} 04`), reasonCode: P, rule: "[MQTT-3.8.3-4]" },
    { what: "protocol name MQTT with level 3 (3.1 is MQIsdp)", version: 4, bytes: connect("MQTT", 3, 0x02, "0000"), reasonCode: ReasonCode.UnsupportedProtocolVersion, rule: "[MQTT-3.1.2-2]" },
    { what: "a 3.1.1 CONNECT with a password and no user name", version: 4, bytes: connect("MQTT", 4, 0x42, "0001 63 0001 70"), reasonCode: M, rule: "[MQTT-3.1.2-22]" },
    { what: "bytes after the last CONNECT field", version: 4, bytes: connect("MQTT", 4, 0x02, "0001 63 ff"), reasonCode: M, rule: "byte(s) after the last field" },
    { what: "a property twice (Message Expiry Interval)", version: 5, bytes: pkt(0x30, `${str("a")} 0a 02 00000001 02 00000002`), reasonCode: P, rule: "more than once" },
    { what: "a property not allowed in the packet (Session Expiry Interval in PUBLISH)", version: 5, bytes: pkt(0x30, `${str("a")} 05 11 00000001`), reasonCode: M, rule: "not allowed in PUBLISH" },
    { what: "Payload Format Indicator 2", version: 5, bytes: pkt(0x30, `${str("a")} 02 01 02`), reasonCode: P, rule: "other than 0 or 1" },
    { what: "Topic Alias 0", version: 5, bytes: pkt(0x30, `${str("a")} 03 23 0000`), reasonCode: ReasonCode.TopicAliasInvalid, rule: "[MQTT-3.3.2-8]" },
    { what: "an empty topic name without a Topic Alias", version: 5, bytes: pkt(0x30, "0000 00"), reasonCode: P, rule: "§3.3.2.1" },
    { what: "Subscription Identifier 0", version: 5, bytes: pkt(0x82, `0001 02 0b 00 ${str("a")} 00`), reasonCode: P, rule: "Subscription Identifier to be 0" },
    { what: "Receive Maximum 0 in CONNECT", version: 5, bytes: connect("MQTT", 5, 0x02, "03 21 0000 0001 63"), reasonCode: P, rule: "Receive Maximum to be 0" },
  ];
  for (const c of cases) {
    test(`${c.what}: mqtt-packet accepts it, we refuse ${c.rule}`, () => {
      const type = c.bytes[0]! >> 4;
      const theirs = mqttParse(c.bytes, c.version);
      expect(theirs.errors).toEqual([]);
      expect(theirs.packets.map((p) => p.cmd)).toEqual([CMD[type]]);
      const ours = decodePacket(c.bytes, type === PacketType.Connect ? undefined : c.version);
      expect(ours.kind).toBe("error");
      if (ours.kind === "error") {
        expect(ours.error.reasonCode).toBe(c.reasonCode);
        expect(ours.error.message).toContain(c.rule);
      }
    });
  }
});
