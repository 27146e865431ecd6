/**
 * Mutations of valid encoded packets for the fuzz script: each takes bytes and returns new bytes
 * (the input is never modified). They aim at the decoder's checks in turn: the fixed header
 * (bit flips in the first byte), the Remaining Length (corrupt, lengthen, shorten, run past 4
 * bytes), the body (overwrite or flip a byte, then fix the Remaining Length up so the body checks
 * are reached rather than the framing ones), and the packet's end (truncate, append, splice).
 */
import type { Random } from "../../src/codec/random-packets.ts";

const int = (random: Random, n: number): number => Math.floor(random() * n);

/** Where the Remaining Length of the packet at bytes[0] ends (index of its first body byte). */
function bodyStart(bytes: Uint8Array): number {
  let i = 1;
  while (i < bytes.length && i < 5 && (bytes[i]! & 0x80) !== 0) i++;
  return Math.min(i + 1, bytes.length);
}

/** A Variable Byte Integer (§1.5.5), as at most 4 bytes. */
function varint(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0 && out.length < 4);
  return out;
}

/** `bytes` with its Remaining Length rewritten to match its real body length. */
export function fixRemainingLength(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 2) return bytes;
  const body = bytes.subarray(bodyStart(bytes));
  return Uint8Array.from([bytes[0]!, ...varint(body.length), ...body]);
}

function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** The mutation operators, by name (the fuzz summary counts inputs per operator). */
export const MUTATIONS = {
  bitFlip(bytes: Uint8Array, random: Random): Uint8Array {
    const out = bytes.slice();
    if (out.length > 0) out[int(random, out.length)]! ^= 1 << int(random, 8);
    return out;
  },
  /** A flip in the first byte: type and flags (reserved bits, QoS 3, DUP on QoS 0, type 0 / 15). */
  firstByteFlip(bytes: Uint8Array, random: Random): Uint8Array {
    const out = bytes.slice();
    if (out.length > 0) out[0]! ^= 1 << int(random, 8);
    return out;
  },
  overwriteByte(bytes: Uint8Array, random: Random): Uint8Array {
    const out = bytes.slice();
    if (out.length > 0) out[int(random, out.length)] = int(random, 256);
    return out;
  },
  /** A body byte changed, then the Remaining Length fixed up, so the body decoders see it. */
  bodyByteWithFixedLength(bytes: Uint8Array, random: Random): Uint8Array {
    const start = bodyStart(bytes);
    const out = bytes.slice();
    if (out.length > start) out[start + int(random, out.length - start)] = pick(random, [0, 0xff, 0x80, 0x7f, int(random, 256)]);
    return out;
  },
  insertBytes(bytes: Uint8Array, random: Random): Uint8Array {
    const at = int(random, bytes.length + 1);
    const extra = Array.from({ length: 1 + int(random, 4) }, () => int(random, 256));
    return fixRemainingLengthSometimes(concat(bytes.subarray(0, at), extra, bytes.subarray(at)), random);
  },
  deleteBytes(bytes: Uint8Array, random: Random): Uint8Array {
    const at = int(random, bytes.length);
    return fixRemainingLengthSometimes(concat(bytes.subarray(0, at), bytes.subarray(at + 1 + int(random, 4))), random);
  },
  truncate(bytes: Uint8Array, random: Random): Uint8Array {
    return bytes.slice(0, int(random, bytes.length));
  },
  /** Remaining Length replaced by a random value of 1..4 bytes (longer or shorter than the body). */
  corruptLength(bytes: Uint8Array, random: Random): Uint8Array {
    const start = bodyStart(bytes);
    const value = pick(random, [0, 1, 127, 128, 16_383, 16_384, 268_435_455, int(random, 300), int(random, 1 << 21)]);
    return concat([bytes[0] ?? 0x30], varint(value), bytes.subarray(start));
  },
  /** A Remaining Length whose continuation bit never stops: more than 4 bytes. */
  overlongLength(bytes: Uint8Array, random: Random): Uint8Array {
    const continuation = Array.from({ length: 4 + int(random, 3) }, () => 0x80 | int(random, 128));
    return concat([bytes[0] ?? 0x30], continuation, bytes.subarray(bodyStart(bytes)));
  },
  /** A non-minimal Remaining Length (0x80 0x00 for 0): legal to decode, never produced by us. */
  nonMinimalLength(bytes: Uint8Array): Uint8Array {
    const start = bodyStart(bytes);
    const length = bytes.length - start;
    const encoded = varint(length);
    if (encoded.length >= 4) return bytes;
    encoded[encoded.length - 1]! |= 0x80;
    return concat([bytes[0] ?? 0x30], encoded, [0], bytes.subarray(start));
  },
  /** A string's 2-byte length prefix (somewhere in the body) set to a random value. */
  stringLength(bytes: Uint8Array, random: Random): Uint8Array {
    const start = bodyStart(bytes);
    const out = bytes.slice();
    if (out.length >= start + 2) {
      const at = start + int(random, out.length - start - 1);
      const value = pick(random, [0, 1, 0xffff, int(random, 0x10000), int(random, 32)]);
      out[at] = value >> 8;
      out[at + 1] = value & 0xff;
    }
    return out;
  },
  /** The front of this packet joined to the back of another (the caller's `other`). */
  splice(bytes: Uint8Array, random: Random, other: Uint8Array): Uint8Array {
    const joined = concat(bytes.subarray(0, int(random, bytes.length + 1)), other.subarray(int(random, other.length + 1)));
    return fixRemainingLengthSometimes(joined, random);
  },
  /** A slice repeated in place. */
  duplicateSlice(bytes: Uint8Array, random: Random): Uint8Array {
    const at = int(random, bytes.length + 1);
    const slice = bytes.subarray(at, at + 1 + int(random, 8));
    return fixRemainingLengthSometimes(concat(bytes.subarray(0, at), slice, bytes.subarray(at)), random);
  },
} satisfies Record<string, (bytes: Uint8Array, random: Random, other: Uint8Array) => Uint8Array>;

export type MutationName = keyof typeof MUTATIONS;
export const MUTATION_NAMES = Object.keys(MUTATIONS) as MutationName[];

function pick<T>(random: Random, items: readonly T[]): T {
  return items[int(random, items.length)]!;
}

function fixRemainingLengthSometimes(bytes: Uint8Array, random: Random): Uint8Array {
  return random() < 0.6 ? fixRemainingLength(bytes) : bytes;
}

/** Applies `count` random mutations; returns the bytes and the operators used. */
export function mutate(bytes: Uint8Array, random: Random, other: Uint8Array, count: number): { bytes: Uint8Array; used: MutationName[] } {
  const used: MutationName[] = [];
  for (let n = 0; n < count; n++) {
    const name = pick(random, MUTATION_NAMES);
    used.push(name);
    bytes = MUTATIONS[name](bytes, random, other);
    if (name === "bodyByteWithFixedLength") bytes = fixRemainingLength(bytes);
  }
  return { bytes, used };
}
