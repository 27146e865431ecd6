/**
 * What the metrics cost on the hot path: the calls a Connection makes per packet
 * (ProtocolMetrics), on the real counters (AdapterMetrics) and on the no-op default, and the
 * same MQTT traffic through a whole Connection (decoder, dispatch, memory backend, encoder)
 * with and without counters.
 *
 *   bun bench/metrics/hot-path.ts [--rounds 15]
 *
 * - per call: CPU ns per call (process CPU time, user + system, over batches of 10M calls),
 *   median over the rounds; "empty loop" is the loop alone, to subtract.
 * - through a Connection: one client sends 20,000 PUBLISHes (QoS 0, then QoS 1 with the memory
 *   broker confirming) as one chunk; CPU µs per PUBLISH, median over rounds that alternate the two
 *   variants so machine noise falls on both.
 * - allocation: JavaScriptCore's live object count and heapUsed before and after 10M rounds of
 *   every counting call (after a full GC); 0 new objects = nothing allocated per call.
 * Prints markdown for bench/README.md.
 */
import { heapStats } from "bun:jsc";
import { availableParallelism, cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { PacketType, encodePacket, type Packet } from "../../src/codec/index.ts";
import { AdapterMetrics } from "../../src/metrics/index.ts";
import { NO_METRICS, type ProtocolMetrics } from "../../src/protocol/index.ts";
import { TestWorld, settle } from "../../src/protocol/test-support.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "15" } } });
const ROUNDS = Number(values.rounds);
const CALLS = 10_000_000;
const PUBLISHES = 20_000;

const cpuNow = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000; // ms
};
const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

// --- per call ---------------------------------------------------------------------------------

/** Loop bodies, as source: each variant gets its own compiled copy, so every call site sees one receiver type (as in the adapter, which has one metrics object). */
const BODIES: Array<[string, string]> = [
  ["packetReceived(type, size)", "m.packetReceived((i & 7) + 3, 64);"],
  ["packetSent + messageDelivered (one delivery)", "m.packetSent(3, 64); m.messageDelivered(i & 1);"],
  ["pubackLatency(ms) (histogram observe)", "m.pubackLatency((i & 1023) * 0.01);"],
  ["performance.now() (one per QoS 1 PUBLISH)", "sink += performance.now();"],
];

/** CPU ns per iteration of `body` over CALLS iterations, in a loop compiled for this call alone. */
function perCall(metrics: ProtocolMetrics, body: string): number {
  const loop = new Function("m", "n", "cpuNow", `let sink = 0; const start = cpuNow(); for (let i = 0; i < n; i++) { ${body} } const ms = cpuNow() - start; if (sink === -1) console.log(sink); return ms;`) as (
    m: ProtocolMetrics,
    n: number,
    now: () => number,
  ) => number;
  loop(metrics, CALLS / 10, cpuNow); // warm-up: let the JIT optimise the loop
  return (loop(metrics, CALLS, cpuNow) * 1e6) / CALLS;
}

// --- through a Connection ----------------------------------------------------------------------

function publishes(qos: 0 | 1): Uint8Array {
  const packets: Uint8Array[] = [];
  for (let i = 0; i < PUBLISHES; i++) {
    const packet: Packet = { type: PacketType.Publish, topic: `site1/dev${i % 100}/temp`, payload: new Uint8Array(64), qos, retain: false, dup: false, ...(qos === 1 ? { packetId: (i % 65535) + 1 } : {}) };
    packets.push(encodePacket(packet, 4));
  }
  const all = new Uint8Array(packets.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of packets) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

/** CPU µs per PUBLISH for one client sending `bytes` (all its PUBLISHes) and the adapter answering them. */
async function throughConnection(metrics: ProtocolMetrics | undefined, bytes: Uint8Array, qos: 0 | 1): Promise<number> {
  const world = new TestWorld({
    allowAnonymous: true, defaultUser: "guest", defaultPass: "guest", vhost: "/", loginTimeoutMs: 10_000,
    maxPacketSizeBytes: 1 << 20, maxPacketSizeBeforeConnectBytes: 4096, maxInflightPublishesPerClient: 1 << 20,
  });
  world.metrics = metrics;
  const client = await world.connected({ clientId: "bench" });
  client.takeBytes();
  const start = cpuNow();
  client.sendBytes(bytes);
  // QoS 1: wait until every PUBACK is written (the memory broker confirms in microtasks).
  if (qos === 1) {
    let written = 0;
    while (written < PUBLISHES * 4) {
      await settle(1);
      written += client.takeBytes().length;
    }
  } else {
    await settle(1);
  }
  const us = ((cpuNow() - start) * 1000) / PUBLISHES;
  return us;
}

// --- run -----------------------------------------------------------------------------------------

const real = new AdapterMetrics();
console.log(`Machine: ${cpus()[0]?.model ?? "?"}, ${availableParallelism()} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}; Bun ${Bun.version}. \`bun bench/metrics/hot-path.ts --rounds ${ROUNDS}\`\n`);
console.log("| call | AdapterMetrics, CPU ns/call | NO_METRICS, CPU ns/call |");
console.log("|---|---:|---:|");
const empty: number[] = [];
for (let r = 0; r < ROUNDS; r++) empty.push(perCall(NO_METRICS, "sink += i & 3;"));
console.log(`| empty loop | ${median(empty).toFixed(2)} | |`);
for (const [name, body] of BODIES) {
  const withCounters: number[] = [];
  const without: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    withCounters.push(perCall(real, body));
    without.push(perCall(NO_METRICS, body));
  }
  console.log(`| ${name} | ${median(withCounters).toFixed(2)} | ${median(without).toFixed(2)} |`);
}

{
  const m = new AdapterMetrics();
  Bun.gc(true);
  const objects = heapStats().objectCount;
  const heap = process.memoryUsage().heapUsed;
  for (let i = 0; i < CALLS; i++) {
    m.packetReceived((i & 7) + 3, 64);
    m.packetSent(PacketType.Puback, 4);
    m.messageDelivered((i & 1) as 0 | 1);
    m.messagePublished((i & 1) as 0 | 1);
    m.pubackLatency(i * 0.001);
    m.connectionClosed(0x8d);
  }
  console.log(
    `\nAllocation: ${CALLS.toLocaleString("en")} rounds of all six counting calls: ${heapStats().objectCount - objects} new objects, ` +
      `heapUsed ${process.memoryUsage().heapUsed - heap} bytes more.`,
  );
}

console.log("\n| traffic through a Connection | with AdapterMetrics, CPU µs/PUBLISH | with NO_METRICS, CPU µs/PUBLISH | difference |");
console.log("|---|---:|---:|---:|");
for (const qos of [0, 1] as const) {
  const bytes = publishes(qos);
  const withCounters: number[] = [];
  const without: number[] = [];
  await throughConnection(new AdapterMetrics(), bytes, qos); // warm-up
  await throughConnection(undefined, bytes, qos);
  for (let r = 0; r < ROUNDS; r++) {
    withCounters.push(await throughConnection(new AdapterMetrics(), bytes, qos));
    without.push(await throughConnection(undefined, bytes, qos));
  }
  const a = median(withCounters);
  const b = median(without);
  console.log(`| ${PUBLISHES} QoS ${qos} PUBLISHes (64 B) in one chunk${qos === 1 ? ", PUBACKed" : ""} | ${a.toFixed(3)} | ${b.toFixed(3)} | ${(((a - b) / b) * 100).toFixed(1)} % |`);
}
