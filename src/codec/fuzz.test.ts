/**
 * Seeded random and mutated inputs: decoding never throws and never hangs, every error is a
 * DecodeError with a message, and whatever decodes re-encodes to bytes that decode the same.
 * (The long 1,000,000-input run and the mqtt-packet oracle live outside the unit suite.)
 */
import { describe, expect, test } from "bun:test";
import { PacketType, ReasonCode, type ProtocolVersion } from "./constants.ts";
import { decodePacket } from "./decode.ts";
import { Decoder } from "./decoder.ts";
import { encodePacket } from "./encode.ts";
import { DecodeError } from "./errors.ts";
import type { DecodeResult } from "./packets.ts";
import { prng, snapshot, toHex } from "./test-helpers.ts";
import { VECTORS } from "./test-vectors.ts";

const REASON_CODES = new Set(Object.values(ReasonCode).filter((v) => typeof v === "number"));
const VERSIONS: Array<ProtocolVersion | undefined> = [undefined, 3, 4, 5];

/** The invariants every decode result must satisfy; returns a description of the first breach. */
function check(input: Uint8Array, version: ProtocolVersion | undefined, result: DecodeResult): string | undefined {
  if (result.kind === "more") return undefined;
  if (result.kind === "error") {
    const e = result.error;
    if (!(e instanceof DecodeError)) return "error is not a DecodeError";
    if (typeof e.message !== "string" || e.message.length < 10) return `error message too short: ${e.message}`;
    if (!REASON_CODES.has(e.reasonCode)) return `unknown reason code ${e.reasonCode}`;
    return undefined;
  }
  if (result.kind !== "packet") return `unknown result kind ${JSON.stringify(result)}`;
  if (result.size < 2 || result.size > input.length) return `size ${result.size} outside 2..${input.length}`;
  const packet = result.packet;
  const encodeVersion = packet.type === PacketType.Connect ? packet.protocolVersion : version!;
  let encoded: Uint8Array;
  try {
    encoded = encodePacket(packet, encodeVersion);
  } catch (e) {
    return `decoded packet does not re-encode: ${(e as Error).message}`;
  }
  const again = decodePacket(encoded, packet.type === PacketType.Connect ? undefined : encodeVersion);
  if (again.kind !== "packet") return `re-encoded packet does not decode: ${JSON.stringify(again)}`;
  if (JSON.stringify(snapshot(again.packet)) !== JSON.stringify(snapshot(packet))) return "re-encoded packet decodes differently";
  return undefined;
}

function decodeChecked(input: Uint8Array, version: ProtocolVersion | undefined): string | undefined {
  let result: DecodeResult;
  try {
    result = decodePacket(input, version);
  } catch (e) {
    return `threw ${(e as Error).stack}`;
  }
  return check(input, version, result);
}

const hex = toHex;

/** One random edit: flip a bit, overwrite, insert, delete, truncate or duplicate a slice. */
function mutate(bytes: Uint8Array, random: () => number): Uint8Array {
  const at = Math.floor(random() * Math.max(1, bytes.length));
  const out = [...bytes];
  switch (Math.floor(random() * 7)) {
    case 0:
      if (out.length > 0) out[at] = out[at]! ^ (1 << Math.floor(random() * 8));
      break;
    case 1:
      if (out.length > 0) out[at] = Math.floor(random() * 256);
      break;
    case 2:
      out.splice(at, 0, Math.floor(random() * 256));
      break;
    case 3:
      out.splice(at, 1);
      break;
    case 4:
      out.length = at;
      break;
    case 5:
      out.splice(at, 0, ...out.slice(at, at + 1 + Math.floor(random() * 6)));
      break;
    case 6:
      // Fix up the Remaining Length byte so the mutation reaches the body checks more often.
      if (out.length >= 2 && out.length - 2 < 128) out[1] = out.length - 2;
      if (out.length > 2) out[2 + Math.floor(random() * (out.length - 2))] = Math.floor(random() * 256);
      break;
  }
  return Uint8Array.from(out);
}

describe("random and mutated inputs never throw, never hang", () => {
  test("3000 seeded random byte strings", () => {
    const random = prng(20240601);
    const valid = VECTORS.map((v) => v.bytes[0]!);
    for (let i = 0; i < 3000; i++) {
      const length = Math.floor(random() * 64);
      const input = new Uint8Array(length).map(() => Math.floor(random() * 256));
      if (length > 0 && random() < 0.7) input[0] = valid[Math.floor(random() * valid.length)]!;
      if (length > 1 && random() < 0.7) input[1] = Math.min(127, length - 2 + Math.floor(random() * 3));
      const version = VERSIONS[Math.floor(random() * 4)];
      const problem = decodeChecked(input, version);
      if (problem !== undefined) throw new Error(`${hex(input)} (version ${version}): ${problem}`);
    }
  });

  test("4000 seeded mutations of valid packets, each tried with its own version", () => {
    const random = prng(7);
    let decoded = 0;
    for (let i = 0; i < 4000; i++) {
      const vector = VECTORS[Math.floor(random() * VECTORS.length)]!;
      let input = vector.bytes;
      for (let n = 1 + Math.floor(random() * 3); n > 0; n--) input = mutate(input, random);
      const version = vector.packet.type === PacketType.Connect && random() < 0.8 ? undefined : vector.version;
      const problem = decodeChecked(input, version);
      if (problem !== undefined) throw new Error(`${hex(input)} (from ${vector.name}, version ${version}): ${problem}`);
      if (decodePacket(input, version).kind === "packet") decoded++;
    }
    // The mutations must reach past the header checks often enough to exercise the body decoders.
    expect(decoded).toBeGreaterThan(400);
  });

  test("500 mutated streams fed to a Decoder in random chunks terminate", () => {
    const random = prng(99);
    for (let round = 0; round < 500; round++) {
      const version = ([3, 4, 5] as const)[round % 3];
      const parts = VECTORS.filter((v) => v.version === version && v.packet.type !== PacketType.Connect);
      const pieces: Uint8Array[] = [];
      for (let n = 0; n < 8; n++) {
        const v = parts[Math.floor(random() * parts.length)]!;
        pieces.push(random() < 0.2 ? mutate(v.bytes, random) : v.bytes);
      }
      const stream = Uint8Array.from(pieces.flatMap((p) => [...p]));
      const decoder = new Decoder({ maxPacketSizeBytes: 200, maxPacketSizeBeforeConnectBytes: 200 });
      decoder.protocolVersion = version;
      let calls = 0;
      let done = false;
      for (let pos = 0; pos < stream.length && !done; ) {
        const size = 1 + Math.floor(random() * 20);
        decoder.feed(stream.slice(pos, pos + size));
        pos += size;
        for (;;) {
          calls++;
          if (calls > stream.length + 200) throw new Error(`no progress decoding ${hex(stream)}`);
          const result = decoder.next();
          const problem = check(stream, version, result);
          if (problem !== undefined) throw new Error(`${hex(stream)}: ${problem}`);
          if (result.kind === "error") done = true;
          if (result.kind !== "packet") break;
        }
      }
    }
  });
});
