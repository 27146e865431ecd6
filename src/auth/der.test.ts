import { describe, expect, test } from "bun:test";
import { decodeOid, DerError, oid, readChildren, readTlv, sequence, time, unsignedInteger, Tag } from "./der.ts";

describe("DER reading", () => {
  test("reads short and long lengths and gives views, not copies", () => {
    const long = new Uint8Array(3 + 200);
    long.set([0x04, 0x81, 200]);
    const element = readTlv(long);
    expect(element).not.toBeInstanceOf(DerError);
    const { tag, value, encoded } = element as Exclude<typeof element, DerError>;
    expect([tag, value.length, encoded.length]).toEqual([0x04, 200, 203]);
    expect(value.buffer).toBe(long.buffer);
  });

  const bad: Array<[string, number[], string]> = [
    ["too short for a header", [0x30], "truncated element"],
    ["an indefinite length", [0x30, 0x80, 0, 0], "indefinite length"],
    ["a length of more than 4 bytes", [0x04, 0x85, 1, 1, 1, 1, 1], "too long"],
    ["a length longer than the input", [0x04, 0x05, 1, 2], "claims 5 bytes, only 2 left"],
    ["a truncated long length", [0x04, 0x82, 1], "truncated length"],
    ["a multi-byte tag", [0x1f, 0x01, 0x00], "multi-byte tag"],
  ];
  for (const [name, input, fragment] of bad) {
    test(`refuses ${name} as a value, without throwing`, () => {
      const result = readTlv(Uint8Array.from(input));
      expect(result).toBeInstanceOf(DerError);
      expect((result as DerError).message).toContain(fragment);
    });
  }

  test("a child that overruns its parent is an error", () => {
    expect(readChildren(Uint8Array.of(0x02, 0x01, 0x00, 0x02, 0x05, 0x00))).toBeInstanceOf(DerError);
  });

  test("random bytes never throw", () => {
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 5000; i++) {
      const input = Uint8Array.from({ length: next() % 40 }, next);
      expect(() => {
        const element = readTlv(input);
        if (!(element instanceof DerError)) readChildren(element.value);
        decodeOid(input);
      }).not.toThrow();
    }
  });
});

describe("object identifiers", () => {
  for (const dotted of ["2.5.4.3", "1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.25", "1.3.6.1.4.1.311.20.2.3", "2.999.1"]) {
    test(`${dotted} round-trips`, () => {
      const encoded = oid(dotted);
      expect(encoded[0]).toBe(Tag.ObjectIdentifier);
      expect(decodeOid(encoded.subarray(2))).toBe(dotted);
    });
  }
  test("an arc cut off at the end is an error", () => {
    expect(decodeOid(Uint8Array.of(0x55, 0x84))).toBeInstanceOf(DerError);
  });
});

describe("DER writing", () => {
  test("a positive INTEGER with the high bit set gets a leading zero; leading zeros are trimmed", () => {
    expect(Array.from(unsignedInteger(Uint8Array.of(0x80)))).toEqual([0x02, 0x02, 0x00, 0x80]);
    expect(Array.from(unsignedInteger(Uint8Array.of(0, 0, 5)))).toEqual([0x02, 0x01, 0x05]);
  });
  test("lengths of 128 bytes and more use the long form", () => {
    const element = sequence(new Uint8Array(300));
    expect(Array.from(element.subarray(0, 4))).toEqual([0x30, 0x82, 0x01, 0x2c]);
  });
  test("times before 2050 are UTCTime, from 2050 GeneralizedTime (RFC 5280 4.1.2.5)", () => {
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes.subarray(2));
    const before = time(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
    expect([before[0], text(before)]).toEqual([Tag.UtcTime, "260102030405Z"]);
    const after = time(Date.UTC(2051, 11, 31, 23, 59, 59));
    expect([after[0], text(after)]).toEqual([Tag.GeneralizedTime, "20511231235959Z"]);
  });
});
