import { describe, expect, test } from "bun:test";
import {
  PROPERTY_CONTEXT_WILL,
  PROPERTY_DEFINITIONS,
  PacketType,
  PropertyDataType,
  PropertyId,
  type PropertyContext,
  type PropertyDefinition,
} from "./constants.ts";
import { decodePacket } from "./decode.ts";
import { Encoder, encodePacket } from "./encode.ts";
import type { Packet, Properties, PublishPacket } from "./packets.ts";
import { randomPacket } from "./random-packets.ts";
import { h, prng, snapshot, toHex, utf8 } from "./test-helpers.ts";
import { VECTORS } from "./test-vectors.ts";
import { utf8Length } from "./writer.ts";

/** A valid sample value for `def`, the largest the wire type allows where that is valid. */
function sampleValue(def: PropertyDefinition, context: PropertyContext): unknown {
  switch (def.dataType) {
    case PropertyDataType.Byte:
      return 1;
    case PropertyDataType.TwoByteInteger:
      return 0xffff;
    case PropertyDataType.FourByteInteger:
      return 0xffffffff;
    case PropertyDataType.VariableByteInteger:
      return context === PacketType.Publish ? [1, 127, 128, 16_383, 16_384, 268_435_455] : [2_097_152];
    case PropertyDataType.Utf8String:
      return `${def.name} ü € 😀`;
    case PropertyDataType.BinaryData:
      return Uint8Array.of(0, 1, 0xfe, 0xff);
    case PropertyDataType.Utf8StringPair:
      return [["a", "1"], ["a", "2"], ["€", "😀"], ["", ""]];
  }
}

/** Every property allowed in `context`, with sample values. */
function allProperties(context: PropertyContext): Properties {
  const props: Record<string, unknown> = {};
  for (const def of PROPERTY_DEFINITIONS) {
    if ((def.allowedIn & (1 << context)) !== 0) props[def.field] = sampleValue(def, context);
  }
  return props as Properties;
}

const PACKETS_WITH_EVERY_PROPERTY: Array<[string, Packet]> = [
  ["CONNECT (and its will)", {
    type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 5, cleanSession: true, keepaliveSeconds: 1, clientId: "c",
    properties: allProperties(PacketType.Connect),
    will: { topic: "w", payload: utf8("bye"), qos: 2, retain: true, properties: allProperties(PROPERTY_CONTEXT_WILL) },
    username: "u", password: new Uint8Array(0),
  }],
  ["CONNACK", { type: PacketType.Connack, sessionPresent: true, reasonCode: 0, properties: allProperties(PacketType.Connack) }],
  ["PUBLISH", { type: PacketType.Publish, topic: "t", payload: utf8("p"), qos: 1, retain: false, dup: true, packetId: 1, properties: allProperties(PacketType.Publish) }],
  ["PUBACK", { type: PacketType.Puback, packetId: 2, reasonCode: 0x97, properties: allProperties(PacketType.Puback) }],
  ["PUBREC", { type: PacketType.Pubrec, packetId: 3, reasonCode: 0, properties: allProperties(PacketType.Pubrec) }],
  ["PUBREL", { type: PacketType.Pubrel, packetId: 4, reasonCode: 0x92, properties: allProperties(PacketType.Pubrel) }],
  ["PUBCOMP", { type: PacketType.Pubcomp, packetId: 5, reasonCode: 0, properties: allProperties(PacketType.Pubcomp) }],
  ["SUBSCRIBE", { type: PacketType.Subscribe, packetId: 6, properties: allProperties(PacketType.Subscribe), subscriptions: [
    { topicFilter: "a/#", qos: 2, noLocal: false, retainAsPublished: true, retainHandling: 1 },
    { topicFilter: "+", qos: 0, noLocal: true, retainAsPublished: false, retainHandling: 2 },
  ] }],
  ["SUBACK", { type: PacketType.Suback, packetId: 7, reasonCodes: [0, 1, 2, 0x80, 0xa2], properties: allProperties(PacketType.Suback) }],
  ["UNSUBSCRIBE", { type: PacketType.Unsubscribe, packetId: 8, topicFilters: ["a", "b/+"], properties: allProperties(PacketType.Unsubscribe) }],
  ["UNSUBACK", { type: PacketType.Unsuback, packetId: 9, reasonCodes: [0, 0x11, 0x8f], properties: allProperties(PacketType.Unsuback) }],
  ["DISCONNECT", { type: PacketType.Disconnect, reasonCode: 0x9c, properties: allProperties(PacketType.Disconnect) }],
  ["AUTH", { type: PacketType.Auth, reasonCode: 0x19, properties: allProperties(PacketType.Auth) }],
];

describe("MQTT 5 round trip with every property each packet allows", () => {
  for (const [name, packet] of PACKETS_WITH_EVERY_PROPERTY) {
    test(name, () => {
      const bytes = encodePacket(packet, 5);
      const result = decodePacket(bytes, packet.type === PacketType.Connect ? undefined : 5);
      if (result.kind !== "packet") throw new Error(JSON.stringify(result));
      expect(snapshot(result.packet)).toEqual(snapshot(packet));
      expect(result.size).toBe(bytes.length);
    });
  }
});

describe("Remaining Length sizes", () => {
  for (const [payloadBytes, headerHex] of [[0, "3005"], [122, "307f"], [123, "308001"], [16_378, "30ff7f"], [16_379, "30808001"], [2_097_146, "30ffff7f"], [2_097_147, "3080808001"]] as const) {
    test(`a PUBLISH with ${payloadBytes} payload bytes starts ${headerHex}`, () => {
      const packet: PublishPacket = { type: PacketType.Publish, topic: "abc", payload: new Uint8Array(payloadBytes).fill(0x5a), qos: 0, retain: false, dup: false };
      const bytes = encodePacket(packet, 4);
      expect(toHex(bytes.subarray(0, headerHex.length / 2))).toBe(headerHex);
      const result = decodePacket(bytes, 4);
      expect(result.kind === "packet" && result.size).toBe(bytes.length);
    });
  }
});

describe("encoder details", () => {
  test("PINGREQ, PINGRESP and a plain DISCONNECT are preallocated constants", () => {
    expect(encodePacket({ type: PacketType.Pingresp }, 4)).toBe(encodePacket({ type: PacketType.Pingresp }, 5));
    expect(new Encoder().encode({ type: PacketType.Pingreq }, 4)).toBe(encodePacket({ type: PacketType.Pingreq }, 3));
    expect(encodePacket({ type: PacketType.Disconnect }, 4)).toBe(encodePacket({ type: PacketType.Disconnect, reasonCode: 0 }, 5));
  });

  test("properties are not written for 3.1 / 3.1.1 (they have none)", () => {
    const packet: PublishPacket = { type: PacketType.Publish, topic: "t", payload: utf8("x"), qos: 0, retain: false, dup: false, properties: { contentType: "text/plain" } };
    expect(toHex(encodePacket(packet, 4))).toBe("3004000174" + "78");
  });

  test("a 3.1 CONNACK never sets Session Present (the byte is reserved there)", () => {
    expect(toHex(encodePacket({ type: PacketType.Connack, sessionPresent: true, reasonCode: 0 }, 3))).toBe("20020000");
  });

  test("a 3.1 CONNECT is written as MQIsdp level 3 whatever protocolName says", () => {
    const bytes = encodePacket({ type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 3, cleanSession: true, keepaliveSeconds: 0, clientId: "a" }, 3);
    expect(toHex(bytes)).toBe("100f00064d514973647003020000" + "000161");
  });

  test("an Encoder gives the same bytes as encodePacket for every vector, reusing and growing its buffer", () => {
    const encoder = new Encoder(4);
    for (const vector of VECTORS) {
      expect(toHex(encoder.encode(vector.packet, vector.version))).toBe(toHex(vector.bytes));
    }
    const big: PublishPacket = { type: PacketType.Publish, topic: "t", payload: new Uint8Array(100_000).fill(1), qos: 0, retain: false, dup: false };
    expect(encoder.encode(big, 4).length).toBe(100_000 + 3 + 4);
    expect(toHex(encoder.encode(VECTORS[5]!.packet, 4))).toBe(toHex(VECTORS[5]!.bytes));
  });

  test("an Encoder keeps buffers up to maxKeptBytes (default 64 KiB) between packets", () => {
    const big: PublishPacket = { type: PacketType.Publish, topic: "t", payload: new Uint8Array(100_000).fill(1), qos: 0, retain: false, dup: false };
    const byDefault = new Encoder();
    expect(byDefault.encode(big, 4).buffer).not.toBe(byDefault.encode(big, 4).buffer);
    const shared = new Encoder(256, 1 << 20);
    const first = shared.encode(big, 4);
    expect(shared.encode(big, 4).buffer).toBe(first.buffer);
    expect(toHex(shared.encode(big, 4))).toBe(toHex(encodePacket(big, 4)));
    // Small packets after a big one still use the kept (big) buffer.
    expect(shared.encode({ type: PacketType.Puback, packetId: 1 }, 4).buffer).toBe(first.buffer);
  });

  test("an Encoder's result is a view that the next encode overwrites", () => {
    const encoder = new Encoder();
    const first = encoder.encode({ type: PacketType.Puback, packetId: 1 }, 4);
    const copy = first.slice();
    encoder.encode({ type: PacketType.Puback, packetId: 2 }, 4);
    expect(toHex(first)).not.toBe(toHex(copy));
  });

  test("encodePublishHeaders + the payload are exactly encodePacket's bytes, for 600 random PUBLISHes of every version", () => {
    const random = prng(77);
    const encoder = new Encoder(16);
    for (let i = 0; i < 600; i++) {
      const version = ([3, 4, 5] as const)[i % 3]!;
      const packet = randomPacket(random, version, PacketType.Publish, { largePayloadChance: 0.05 }) as PublishPacket;
      const headers = encoder.encodePublishHeaders(packet, version);
      expect(toHex(headers) + toHex(packet.payload)).toBe(toHex(encodePacket(packet, version)));
    }
  });

  test("repeated, alternating and equal-but-distinct topic strings encode right through every encoder (topic cache)", () => {
    const encoder = new Encoder();
    const topics = ["sensors/device-0042/temperature", "a", "ü/€/😀/long enough to be copied", "lone \ud800 surrogate, long enough", `${"x".repeat(40)}`];
    const random = prng(5);
    for (let i = 0; i < 400; i++) {
      // Runs of the same topic, sometimes as a new but equal string object.
      const base = topics[Math.floor(random() * 3) === 0 ? Math.floor(random() * topics.length) : i % 2]!;
      const topic = random() < 0.3 ? [...base].join("") : base;
      const packet: PublishPacket = { type: PacketType.Publish, topic, payload: utf8(`p${i}`), qos: 1, packetId: 1 + i, retain: false, dup: false };
      const expected = toHex(new TextEncoder().encode(topic));
      const version = ([3, 4, 5] as const)[i % 3]!;
      const way = i % 3;
      const bytes =
        way === 0 ? encodePacket(packet, version) : way === 1 ? encoder.encode(packet, version).slice() : Uint8Array.from([...encoder.encodePublishHeaders(packet, version), ...packet.payload]);
      const topicAt = bytes[1]! < 128 ? 2 : 3;
      expect(toHex(bytes.subarray(topicAt + 2, topicAt + 2 + expected.length / 2))).toBe(expected);
      const decoded = decodePacket(bytes, version);
      expect(decoded.kind === "packet" && snapshot(decoded.packet)).toEqual(snapshot({ ...packet, topic: new TextDecoder().decode(new TextEncoder().encode(topic)) }));
    }
  });

  test("encodePublishHeaders does not copy the payload: a 1 MiB PUBLISH needs only its few header bytes", () => {
    const encoder = new Encoder();
    const packet: PublishPacket = { type: PacketType.Publish, topic: "big", payload: new Uint8Array(1 << 20), qos: 1, packetId: 7, retain: false, dup: false };
    const headers = encoder.encodePublishHeaders(packet, 4);
    expect(toHex(headers)).toBe("32 87 80 40 0003 626967 0007".replace(/ /g, ""));
    // A view into the encoder's small reused buffer, overwritten by the next encode.
    expect(headers.buffer.byteLength).toBe(256);
    const copy = headers.slice();
    encoder.encode({ type: PacketType.Puback, packetId: 1 }, 4);
    expect(toHex(headers)).not.toBe(toHex(copy));
  });

  test("UTF-8 byte lengths match TextEncoder, lone surrogates included (written as U+FFFD)", () => {
    const random = prng(42);
    const pool = ["a", "é", "€", "😀", "\ud800", "\udfff", "z\ud83d", "\u07ff", "\u0800", "\uffff"];
    for (let i = 0; i < 500; i++) {
      let s = "";
      for (let n = Math.floor(random() * 12); n > 0; n--) s += pool[Math.floor(random() * pool.length)];
      expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
      const bytes = encodePacket({ type: PacketType.Unsubscribe, packetId: 1, topicFilters: [`x${s}`] }, 4);
      expect(toHex(bytes.subarray(6))).toBe(toHex(new TextEncoder().encode(`x${s}`)));
    }
  });

  test("5.0 acks use the shortest form the spec allows", () => {
    expect(toHex(encodePacket({ type: PacketType.Pubrec, packetId: 1 }, 5))).toBe("50020001");
    expect(toHex(encodePacket({ type: PacketType.Pubrec, packetId: 1, reasonCode: 0x10 }, 5))).toBe("5003000110");
    expect(toHex(encodePacket({ type: PacketType.Pubrec, packetId: 1, properties: { reasonString: "r" } }, 5))).toBe("50080001" + "00041f000172");
    expect(toHex(encodePacket({ type: PacketType.Auth, reasonCode: 0x18 }, 5))).toBe("f00118");
  });
});

describe("encoding a packet that cannot exist throws RangeError (a caller bug, not input)", () => {
  const pub = (extra: Partial<PublishPacket>): PublishPacket => ({ type: PacketType.Publish, topic: "t", payload: new Uint8Array(0), qos: 1, retain: false, dup: false, packetId: 1, ...extra });
  const cases: Array<[string, Packet, 3 | 4 | 5, string]> = [
    ["QoS 1 PUBLISH without a packet id", pub({ packetId: undefined }), 4, "PUBLISH Packet Identifier must be 1..65535, got undefined"],
    ["packet id 0", pub({ packetId: 0 }), 4, "got 0"],
    ["packet id 65536", { type: PacketType.Puback, packetId: 65536 }, 4, "PUBACK Packet Identifier must be 1..65535, got 65536"],
    ["QoS 3", pub({ qos: 3 as never }), 4, "PUBLISH QoS must be 0, 1 or 2, got 3"],
    ["a topic over 65535 bytes", pub({ topic: "é".repeat(40_000) }), 4, "PUBLISH topic is 80000 bytes of UTF-8; at most 65535 fit"],
    ["a property not allowed in PUBLISH", pub({ properties: { reasonString: "no" } }), 5, "property Reason String may not be sent in PUBLISH"],
    ["an unknown property field", pub({ properties: { bogus: 1 } as Properties }), 5, 'unknown MQTT 5 property field "bogus"'],
    ["AUTH in 3.1.1", { type: PacketType.Auth, reasonCode: 0 }, 4, "AUTH exists only in MQTT 5"],
    ["SUBSCRIBE without subscriptions", { type: PacketType.Subscribe, packetId: 1, subscriptions: [] }, 4, "SUBSCRIBE needs at least one subscription"],
    ["UNSUBSCRIBE without filters", { type: PacketType.Unsubscribe, packetId: 1, topicFilters: [] }, 5, "UNSUBSCRIBE needs at least one topic filter"],
    ["a 5.0 UNSUBACK without reason codes", { type: PacketType.Unsuback, packetId: 1 }, 5, "needs one reason code per topic filter"],
    ["a 3.1.1 password without user name", { type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 4, cleanSession: true, keepaliveSeconds: 0, clientId: "", password: h("00") }, 4, "[MQTT-3.1.2-22]"],
    ["a keepalive over 65535", { type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 4, cleanSession: true, keepaliveSeconds: 70_000, clientId: "" }, 4, "Keep Alive must be 0..65535 seconds, got 70000"],
    ["a payload past the largest Remaining Length", pub({ payload: new Uint8Array(268_435_456) }), 4, "the MQTT maximum is 268435455"],
  ];
  for (const [name, packet, version, fragment] of cases) {
    test(name, () => {
      expect(() => encodePacket(packet, version)).toThrow(RangeError);
      expect(() => encodePacket(packet, version)).toThrow(fragment);
      // Nothing of the refused packet lingers: the next packet encodes as it should.
      const next = pub({ topic: "after/refusal" });
      expect(toHex(new Encoder().encodePublishHeaders(next, 4)) + toHex(next.payload)).toBe(toHex(encodePacket(next, 4)));
      expect(decodePacket(encodePacket(next, 4), 4)).toMatchObject({ kind: "packet", packet: { topic: "after/refusal" } });
    });
  }
});

test("a User Property pair over 65535 bytes is refused", () => {
  const packet: Packet = { type: PacketType.Disconnect, reasonCode: 0, properties: { userProperties: [["k", "v".repeat(65_536)]] } };
  expect(() => encodePacket(packet, 5)).toThrow("User Property value is 65536 bytes of UTF-8");
  expect(PropertyId.UserProperty).toBe(0x26);
});
