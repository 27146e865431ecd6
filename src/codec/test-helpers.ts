/**
 * Helpers for the codec's unit tests (imported only by *.test.ts).
 */
import type { Packet } from "./packets.ts";

/** "30 0a 00 03" or "300a0003" -> bytes. */
export function h(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`bad hex in test: ${hex}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** bytes -> "300a0003". */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** ASCII/UTF-8 text -> bytes. */
export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/**
 * A packet as plain data with every Uint8Array turned into { hex }: taken right after next(),
 * it outlives the views (which the decoder may overwrite later), and compares with toEqual.
 */
export function snapshot(packet: Packet): unknown {
  return JSON.parse(JSON.stringify(packet, (_key, value) => (value instanceof Uint8Array ? { hex: toHex(value) } : value)));
}

/** Deterministic PRNG (mulberry32) so random tests are reproducible from their seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
