import { describe, expect, test } from "bun:test";
import { PacketType } from "./constants.ts";
import { decodePacket } from "./decode.ts";
import { encodePacket } from "./encode.ts";
import { h, snapshot, toHex } from "./test-helpers.ts";
import { VECTORS } from "./test-vectors.ts";

const versionName = { 3: "MQTT 3.1", 4: "MQTT 3.1.1", 5: "MQTT 5.0" } as const;

for (const version of [3, 4, 5] as const) {
  describe(`known bytes <-> packet, ${versionName[version]}`, () => {
    for (const vector of VECTORS.filter((x) => x.version === version)) {
      // CONNECT carries its own level: it is decoded before the connection has a version.
      const decodeVersion = vector.packet.type === PacketType.Connect ? undefined : version;

      test(`decodes ${vector.name}`, () => {
        const result = decodePacket(vector.bytes, decodeVersion);
        if (result.kind !== "packet") throw new Error(`expected a packet, got ${JSON.stringify(result)}`);
        expect(snapshot(result.packet)).toEqual(snapshot(vector.packet));
        expect(result.size).toBe(vector.bytes.length);
      });

      test(`encodes ${vector.name}`, () => {
        expect(toHex(encodePacket(vector.packet, version))).toBe(toHex(vector.bytes));
      });
    }
  });
}

describe("decodePacket edge cases", () => {
  test("returns more for an empty buffer and for a packet cut short", () => {
    expect(decodePacket(new Uint8Array(0), 4).kind).toBe("more");
    expect(decodePacket(h("30"), 4).kind).toBe("more");
    expect(decodePacket(h("30 0a 0003 612f62 6865"), 4).kind).toBe("more");
    expect(decodePacket(h("30 80"), 4).kind).toBe("more");
  });

  test("decodes the first packet of a buffer and reports its size, leaving the rest", () => {
    const result = decodePacket(h("c0 00 d0 00"), 4);
    expect(result).toEqual({ kind: "packet", packet: { type: PacketType.Pingreq }, size: 2 });
  });

  test("ignores the reserved CONNACK flags byte in MQTT 3.1", () => {
    const result = decodePacket(h("20 02 01 00"), 3);
    expect(result.kind === "packet" && result.packet).toEqual({ type: PacketType.Connack, sessionPresent: false, reasonCode: 0 });
  });

  test("accepts a resent MQTT 3.1 SUBSCRIBE with DUP set (0x8A)", () => {
    const result = decodePacket(h("8a 08 0003 0003 612f2b 00"), 3);
    expect(result.kind).toBe("packet");
  });

  test("reads a non-minimal Remaining Length encoding (a sender rule, not a receiver's)", () => {
    const result = decodePacket(h("c0 80 00"), 4);
    expect(result).toEqual({ kind: "packet", packet: { type: PacketType.Pingreq }, size: 3 });
  });

  test("decodes an MQTT 5 PUBREL with Reason Code and an empty Property Length (as MQTT.js sends)", () => {
    const result = decodePacket(h("62 04 42e3 00 00"), 5);
    expect(result.kind === "packet" && result.packet).toEqual({ type: PacketType.Pubrel, packetId: 0x42e3, reasonCode: 0 });
  });

  test("decodes the largest Remaining Length header (4 bytes) without needing the body", () => {
    expect(decodePacket(h("30 ff ff ff 7f"), 4).kind).toBe("more");
  });

  test("keeps a leading U+FEFF in strings [MQTT-1.5.4-3]", () => {
    const result = decodePacket(h("30 07 0005 efbbbf 612f 78"), 4);
    expect(result.kind === "packet" && result.packet.type === PacketType.Publish && result.packet.topic).toBe("\ufeffa/");
  });

  test("decodes 4-byte UTF-8 (outside the BMP) in topics", () => {
    const result = decodePacket(h("30 06 0004 f09f9880"), 4);
    expect(result.kind === "packet" && result.packet.type === PacketType.Publish && result.packet.topic).toBe("😀");
  });
});
