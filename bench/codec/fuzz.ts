/**
 * The long robustness run for the codec (issue 3): at least 1,000,000 seeded random and mutated
 * inputs, each reproducible alone from (seed, index).
 *
 *   bun bench/codec/fuzz.ts --count 1000000 --seed 1
 *   bun bench/codec/fuzz.ts --seed 1 --only 123456        replay one input and print it
 *
 * Three kinds of input, drawn per index:
 *   random  random bytes (often with a plausible first byte and length) -> decodePacket
 *   mutated one valid packet of any type and version (random-packets.ts), encoded, then 1-3
 *           mutations (mutate.ts: bit flips, length-field corruption, truncation, splices, ...)
 *           -> decodePacket, with its version, none (before CONNECT) or now and then a wrong one
 *   stream  1-9 packets of one version (a CONNECT first half the time; some mutated, some
 *           garbage between) through two Decoders with a random packet-size limit: one gets the
 *           stream whole, one in random chunks (1 byte .. the rest); their results must match
 *
 * Checked for every input: nothing throws; every error is a DecodeError with a known reason code,
 * a field and a message; a decoded packet's size is within the input; every decoded packet
 * re-encodes (encodePacket and a reused Encoder give the same bytes), and those bytes decode to the
 * same packet; a Decoder, once drained, buffers at most its packet-size limit, and after an error
 * keeps failing with the same error; each input finishes within --max-ms-per-input (a watchdog
 * worker kills the run, naming the input, if one runs 10x longer: a hang); RSS stays under
 * --max-rss-mib. Prints a summary; exits 1 on any violation.
 */
import { parseArgs } from "node:util";
import {
  DecodeError,
  Decoder,
  Encoder,
  PacketType,
  ReasonCode,
  decodePacket,
  encodePacket,
  type DecodeResult,
  type Packet,
  type ProtocolVersion,
  type TopicFilterOptions,
} from "../../src/codec/index.ts";
import { packetTypesOf, randomBytes, randomPacket, type Random } from "../../src/codec/random-packets.ts";
import { prng } from "../../src/codec/test-helpers.ts";
import { MUTATION_NAMES, mutate } from "./mutate.ts";

const { values: args } = parseArgs({
  options: {
    count: { type: "string", default: "1000000" },
    seed: { type: "string", default: "1" },
    only: { type: "string" },
    "max-ms-per-input": { type: "string", default: "1000" },
    "max-rss-mib": { type: "string", default: "1024" },
  },
});
const COUNT = Number(args.count);
const SEED = Number(args.seed);
const MAX_MS_PER_INPUT = Number(args["max-ms-per-input"]);
const MAX_RSS_BYTES = Number(args["max-rss-mib"]) * 1024 * 1024;
const ONLY = args.only === undefined ? undefined : Number(args.only);
for (const [name, value] of Object.entries({ count: COUNT, seed: SEED, "max-ms-per-input": MAX_MS_PER_INPUT, "max-rss-mib": MAX_RSS_BYTES })) {
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number`);
}

const VERSIONS = [3, 4, 5] as const;
const REASON_CODES = new Set(Object.values(ReasonCode).filter((v) => typeof v === "number") as number[]);
const REASON_NAMES = new Map<number, string>();
for (const [name, code] of Object.entries(ReasonCode)) if (typeof code === "number" && !REASON_NAMES.has(code)) REASON_NAMES.set(code, name);
const ANYWHERE: TopicFilterOptions = { multiLevelWildcardAnywhere: true };

const int = (random: Random, n: number): number => Math.floor(random() * n);
/** Hex by Node's Buffer (the harness may use it; the codec may not): the checks hex whole payloads. */
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
/** Byte-wise equality without building strings. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
const pick = <T>(random: Random, items: readonly T[]): T => items[int(random, items.length)]!;

/** The PRNG of input `index`: each input is reproducible alone (--only). */
function inputRandom(index: number): Random {
  let h = Math.imul(SEED ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return prng((h ^ (h >>> 15)) >>> 0);
}

// ---------------------------------------------------------------- statistics

const stats = {
  inputs: 0,
  byKind: { random: 0, mutated: 0, stream: 0 } as Record<string, number>,
  bytesFed: 0,
  packetsDecoded: 0,
  more: 0,
  errorsByReason: new Map<number, number>(),
  mutations: new Map<string, number>(),
  streamChunks: 0,
  maxBufferedBytes: 0,
  maxMs: 0,
  maxMsIndex: -1,
  peakRss: 0,
};
const violations: string[] = [];
let currentIndex = 0;
let currentInput: Uint8Array = new Uint8Array(0);

function violation(message: string): void {
  if (violations.length < 20) {
    violations.push(`input ${currentIndex} (${toHex(currentInput).slice(0, 160)}${currentInput.length > 80 ? "…" : ""}): ${message}`);
  } else if (violations.length === 20) {
    violations.push("… more violations left out");
  }
}

// ---------------------------------------------------------------- checks

/** A packet as a string that is equal for equal packets (views as hex), taken before the views expire. */
function key(packet: Packet): string {
  return JSON.stringify(packet, (_k, v) => (v instanceof Uint8Array ? `hex:${toHex(v)}` : v));
}

const encoder = new Encoder();

/** The decoded packet re-encodes, identically by both encoders, and decodes back to itself. */
function checkReencodes(packet: Packet, version: ProtocolVersion | undefined, options: TopicFilterOptions | undefined): void {
  const v = packet.type === PacketType.Connect ? packet.protocolVersion : version!;
  let bytes: Uint8Array;
  try {
    bytes = encodePacket(packet, v);
  } catch (e) {
    return violation(`decoded ${key(packet).slice(0, 200)} does not re-encode: ${(e as Error).message}`);
  }
  const viaEncoder = encoder.encode(packet, v);
  if (!sameBytes(viaEncoder, bytes)) violation("Encoder.encode and encodePacket give different bytes");
  const again = decodePacket(bytes, packet.type === PacketType.Connect ? undefined : v, options);
  if (again.kind !== "packet") return violation(`re-encoded ${toHex(bytes).slice(0, 160)} does not decode: ${JSON.stringify(again).slice(0, 300)}`);
  if (again.size !== bytes.length) violation(`re-encoded packet of ${bytes.length} bytes decodes with size ${again.size}`);
  if (key(again.packet) !== key(packet)) violation(`re-encoded packet decodes differently: ${key(packet).slice(0, 200)} vs ${key(again.packet).slice(0, 200)}`);
}

function checkError(error: unknown): void {
  if (!(error instanceof DecodeError)) return violation(`error is not a DecodeError: ${String(error)}`);
  if (!REASON_CODES.has(error.reasonCode)) violation(`unknown reason code ${error.reasonCode}`);
  if (typeof error.field !== "string" || error.field.length === 0) violation("error without a field");
  if (typeof error.message !== "string" || error.message.length < 10) violation(`error message too short: ${error.message}`);
  stats.errorsByReason.set(error.reasonCode, (stats.errorsByReason.get(error.reasonCode) ?? 0) + 1);
}

/** Checks one decodePacket result for an input of `length` bytes. */
function checkResult(result: DecodeResult, length: number, version: ProtocolVersion | undefined, options: TopicFilterOptions | undefined): void {
  if (result.kind === "more") {
    stats.more++;
  } else if (result.kind === "error") {
    checkError(result.error);
  } else if (result.kind === "packet") {
    stats.packetsDecoded++;
    if (result.size < 2 || result.size > length) violation(`packet size ${result.size} outside 2..${length}`);
    checkReencodes(result.packet, version, options);
  } else {
    violation(`unknown result kind ${JSON.stringify(result)}`);
  }
}

function safeDecode(bytes: Uint8Array, version: ProtocolVersion | undefined, options: TopicFilterOptions | undefined): DecodeResult | undefined {
  try {
    return decodePacket(bytes, version, options);
  } catch (e) {
    violation(`decodePacket threw ${(e as Error).stack}`);
    return undefined;
  }
}

// ---------------------------------------------------------------- inputs

/**
 * A valid packet of `version`, encoded (a copy: encodePacket may return shared constants). A
 * PUBLISH gets `topic` when one is given, so streams repeat topics as real ones do (the Decoder's
 * topic cache then hits, and checkReencodes compares it with an uncached decode).
 */
function validPacketBytes(random: Random, version: ProtocolVersion, type?: PacketType, topic?: string): Uint8Array {
  const packet = randomPacket(random, version, type, { maxPayloadBytes: 70_000, largePayloadChance: 0.003 });
  if (topic !== undefined && packet.type === PacketType.Publish && packet.topic !== "") packet.topic = topic;
  return encodePacket(packet, version).slice();
}

function mutated(random: Random, bytes: Uint8Array, version: ProtocolVersion): Uint8Array {
  const result = mutate(bytes, random, validPacketBytes(random, version), 1 + int(random, 3));
  for (const name of result.used) stats.mutations.set(name, (stats.mutations.get(name) ?? 0) + 1);
  return result.bytes;
}

function runRandom(random: Random): void {
  const bytes = randomBytes(random, int(random, 80));
  const version = pick(random, [undefined, ...VERSIONS]);
  // A plausible first byte (a real type, often valid flags) and Remaining Length reach past the header.
  if (bytes.length > 0 && random() < 0.7) bytes[0] = (1 + int(random, 15)) << 4 | (random() < 0.6 ? 0 : int(random, 16));
  if (bytes.length > 1 && random() < 0.7) bytes[1] = Math.min(127, bytes.length - 2 + int(random, 3));
  currentInput = bytes;
  const options = random() < 0.3 ? ANYWHERE : undefined;
  const result = safeDecode(bytes, version, options);
  if (result !== undefined) checkResult(result, bytes.length, version, options);
}

function runMutated(random: Random): void {
  const version = pick(random, VERSIONS);
  const type = pick(random, packetTypesOf(version));
  const bytes = mutated(random, validPacketBytes(random, version, type), version);
  currentInput = bytes;
  let decodeVersion: ProtocolVersion | undefined = type === PacketType.Connect && random() < 0.8 ? undefined : version;
  if (random() < 0.1) decodeVersion = pick(random, [undefined, ...VERSIONS]);
  const options = random() < 0.3 ? ANYWHERE : undefined;
  const result = safeDecode(bytes, decodeVersion, options);
  if (result !== undefined) checkResult(result, bytes.length, decodeVersion, options);
}

type Outcome = { packet: string } | { error: string };

/**
 * Drains `decoder`, recording each outcome; sets the protocol version when a CONNECT decodes (as
 * the protocol layer would). Returns true once the decoder has failed.
 */
function drain(decoder: Decoder, outcomes: Outcome[], check: boolean, options: TopicFilterOptions | undefined, limit: number): boolean {
  for (let steps = 0; ; steps++) {
    if (steps > 100_000) {
      violation("Decoder.next() made no progress for 100,000 calls");
      return true;
    }
    let result: DecodeResult;
    try {
      result = decoder.next();
    } catch (e) {
      violation(`Decoder.next() threw ${(e as Error).stack}`);
      return true;
    }
    if (result.kind === "more") {
      if (decoder.bufferedBytes > limit) violation(`Decoder buffers ${decoder.bufferedBytes} bytes after draining; its limit is ${limit}`);
      stats.maxBufferedBytes = Math.max(stats.maxBufferedBytes, decoder.bufferedBytes);
      return false;
    }
    if (result.kind === "error") {
      if (check) checkError(result.error);
      outcomes.push({ error: `${result.error.reasonCode} ${result.error.field}` });
      const again = decoder.next();
      if (again.kind !== "error" || again.error !== result.error) violation("a failed Decoder did not return the same error again");
      return true;
    }
    const packet = result.packet;
    outcomes.push({ packet: key(packet) });
    if (check) {
      stats.packetsDecoded++;
      checkReencodes(packet, decoder.protocolVersion, options);
    }
    if (packet.type === PacketType.Connect && decoder.protocolVersion === undefined) decoder.protocolVersion = packet.protocolVersion;
  }
}

function runStream(random: Random): void {
  const version = pick(random, VERSIONS);
  const parts: Uint8Array[] = [];
  const withConnect = random() < 0.5;
  if (withConnect) parts.push(validPacketBytes(random, version, PacketType.Connect));
  const sharedTopic = random() < 0.4 ? pick(random, ["t", "sensors/device-0042/temperature", "ü/€/😀", "$SYS/x"]) : undefined;
  for (let n = 1 + int(random, 8); n > 0; n--) {
    const type = random() < 0.3 ? PacketType.Publish : pick(random, packetTypesOf(version).filter((t) => t !== PacketType.Connect));
    parts.push(validPacketBytes(random, version, type, sharedTopic));
  }
  for (let i = 0; i < parts.length; i++) {
    if (random() < 0.25) parts[i] = mutated(random, parts[i]!, version);
    if (random() < 0.03) parts[i] = randomBytes(random, 1 + int(random, 12));
  }
  const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    stream.set(p, at);
    at += p.length;
  }
  currentInput = stream;
  const limit = pick(random, [64, 512, 4096, 256 * 1024]);
  const beforeConnectLimit = pick(random, [32, 1024, 8192]);
  const options = { maxPacketSizeBytes: limit, maxPacketSizeBeforeConnectBytes: beforeConnectLimit, multiLevelWildcardAnywhere: random() < 0.3 };
  const filterOptions = options.multiLevelWildcardAnywhere ? ANYWHERE : undefined;
  const bufferLimit = Math.max(limit, beforeConnectLimit);

  // The reference: the whole stream in one chunk.
  const whole = new Decoder(options);
  if (!withConnect) whole.protocolVersion = version;
  const expected: Outcome[] = [];
  whole.feed(stream);
  drain(whole, expected, true, filterOptions, Number.MAX_SAFE_INTEGER);

  // The same stream in random chunks, copied into one reused scratch buffer as a socket reader would.
  const chunked = new Decoder(options);
  if (!withConnect) chunked.protocolVersion = version;
  const actual: Outcome[] = [];
  const scratch = new Uint8Array(stream.length);
  let failed = false;
  for (let pos = 0; pos < stream.length; ) {
    const roll = random();
    const size = roll < 0.2 ? 1 : roll < 0.5 ? 1 + int(random, 16) : roll < 0.9 ? 1 + int(random, 512) : stream.length - pos;
    const chunk = scratch.subarray(0, Math.min(size, stream.length - pos));
    chunk.set(stream.subarray(pos, pos + chunk.length));
    pos += chunk.length;
    stats.streamChunks++;
    if (failed) {
      // A dead decoder must neither decode nor keep what it is fed (the caller should close).
      chunked.feed(chunk);
      if (chunked.next().kind !== "error") violation("a failed Decoder decoded again after more bytes");
      if (chunked.bufferedBytes !== 0) violation(`a failed Decoder still buffers ${chunked.bufferedBytes} bytes`);
      continue;
    }
    chunked.feed(chunk);
    failed = drain(chunked, actual, false, filterOptions, bufferLimit);
  }
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    violation(`chunked decoding differs from whole-stream decoding: ${JSON.stringify(actual).slice(0, 300)} vs ${JSON.stringify(expected).slice(0, 300)}`);
  }
  stats.bytesFed += stream.length;
}

// ---------------------------------------------------------------- main loop

function runInput(index: number): void {
  const random = inputRandom(index);
  const roll = random();
  const kind = roll < 0.15 ? "random" : roll < 0.65 ? "mutated" : "stream";
  stats.byKind[kind]!++;
  if (kind === "random") runRandom(random);
  else if (kind === "mutated") runMutated(random);
  else runStream(random);
  if (kind !== "stream") stats.bytesFed += currentInput.length;
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

if (ONLY !== undefined) {
  currentIndex = ONLY;
  runInput(ONLY);
  console.log(`input ${ONLY} (seed ${SEED}): ${toHex(currentInput)}`);
  console.log(violations.length === 0 ? "no violation" : violations.join("\n"));
  process.exit(violations.length === 0 ? 0 : 1);
}

const shared = new Int32Array(new SharedArrayBuffer(4));
Atomics.store(shared, 0, -1);
const watchdog = new Worker(new URL("./fuzz-watchdog.ts", import.meta.url));
watchdog.postMessage({ shared: shared.buffer, hangMs: MAX_MS_PER_INPUT * 10, seed: SEED });
watchdog.unref();

const rssStart = process.memoryUsage().rss;
const started = performance.now();
for (let index = 0; index < COUNT; index++) {
  currentIndex = index;
  Atomics.store(shared, 0, index);
  const t0 = performance.now();
  try {
    runInput(index);
  } catch (e) {
    violation(`the fuzz harness itself threw ${(e as Error).stack}`);
  }
  const ms = performance.now() - t0;
  if (ms > stats.maxMs) {
    stats.maxMs = ms;
    stats.maxMsIndex = index;
  }
  if (ms > MAX_MS_PER_INPUT) violation(`took ${ms.toFixed(1)} ms; the bound is ${MAX_MS_PER_INPUT} ms`);
  stats.inputs++;
  if ((index + 1) % 10_000 === 0) {
    const rss = process.memoryUsage().rss;
    stats.peakRss = Math.max(stats.peakRss, rss);
    if (rss > MAX_RSS_BYTES) violation(`RSS ${mib(rss)} is over --max-rss-mib`);
    if ((index + 1) % 100_000 === 0) {
      const seconds = (performance.now() - started) / 1000;
      console.error(`  ${index + 1} inputs, ${(stats.inputs / seconds).toFixed(0)}/s, RSS ${mib(rss)}, violations ${violations.length}`);
    }
  }
}
Atomics.store(shared, 0, -1);
watchdog.terminate();
const seconds = (performance.now() - started) / 1000;
const rssEnd = process.memoryUsage().rss;
Bun.gc(true);
const rssAfterGc = process.memoryUsage().rss;
stats.peakRss = Math.max(stats.peakRss, rssEnd);

const errors = [...stats.errorsByReason.entries()].sort((a, b) => b[1] - a[1]);
const totalErrors = errors.reduce((n, [, c]) => n + c, 0);
console.log(`codec fuzz: seed ${SEED}, ${stats.inputs} inputs in ${seconds.toFixed(1)} s (${(stats.inputs / seconds).toFixed(0)} inputs/s), ${mib(stats.bytesFed)} fed`);
console.log(`  kinds: ${Object.entries(stats.byKind).map(([k, n]) => `${k} ${n}`).join(", ")}; ${stats.streamChunks} stream chunks`);
console.log(`  results: ${stats.packetsDecoded} packets decoded (each re-encoded and re-decoded), ${totalErrors} errors, ${stats.more} "more"`);
console.log("  errors by reason code:");
for (const [code, n] of errors) console.log(`    0x${code.toString(16).padStart(2, "0")} ${(REASON_NAMES.get(code) ?? "?").padEnd(26)} ${n}`);
console.log(`  mutations applied: ${MUTATION_NAMES.map((m) => `${m} ${stats.mutations.get(m) ?? 0}`).join(", ")}`);
// The slowest input, replayed alone: a large gap means the time went to GC or JIT, not the codec.
const replayStart = performance.now();
if (stats.maxMsIndex >= 0) runInput(stats.maxMsIndex);
const replayMs = performance.now() - replayStart;
console.log(`  max time per input: ${stats.maxMs.toFixed(2)} ms (input ${stats.maxMsIndex}, ${replayMs.toFixed(2)} ms when replayed alone; bound ${MAX_MS_PER_INPUT} ms)`);
console.log(`  largest Decoder buffer after draining: ${stats.maxBufferedBytes} bytes (never above its packet-size limit)`);
console.log(`  RSS: start ${mib(rssStart)}, peak ${mib(stats.peakRss)}, end ${mib(rssEnd)}, after GC ${mib(rssAfterGc)} (bound ${mib(MAX_RSS_BYTES)})`);
if (violations.length > 0) {
  console.log(`FAIL: ${violations.length} violation(s); replay one with --seed ${SEED} --only INDEX`);
  for (const v of violations) console.log(`  ${v}`);
  process.exit(1);
}
console.log("OK: no input threw, hung, overran a buffer limit or failed to round-trip");
