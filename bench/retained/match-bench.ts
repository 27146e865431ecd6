/**
 * Retained store benchmark: subscribe-time matching over 100,000 retained topics, and what the
 * store costs around it (filling it, reopening and re-indexing it, reading the matched payloads).
 *
 *   bun bench/retained/match-bench.ts [--topics 100000] [--payload-bytes 64] [--samples 201]
 *
 * The store is the real one the adapter runs (IndexedRetainedStore over SQLite in a temp dir).
 * Topics look like a fleet: `site<S>/building<B>/device<D>/<metric>` (100 × 10 × 25 × 4 = 100,000),
 * plus 100 `$SYS/…` topics that `#`/`+`-first filters must skip. Match latency is the cost of
 * `matchNow(vhost, filter)` (walk the trie, collect the entries) per call, measured two ways:
 * - CPU µs: the median over `samples` batches of the process's CPU time (user + system) per
 *   call, each batch long enough (≥ 5 ms) for the clock; robust on a shared machine, where
 *   waiting for a core is not matching work (the codec benchmark measures the same way);
 * - wall p99: single calls timed with performance.now(), the 99th percentile (GC pauses and
 *   other processes show up here).
 * "read payloads" adds reading every matched payload from SQLite (CPU per call, as above): what
 * sending them to a subscriber costs on top, spread over the delivery window in the adapter.
 * Prints markdown for bench/README.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createMemoryLogger } from "../../src/log.ts";
import { openSqliteRetainedStore, type IndexedRetainedStore } from "../../src/retained/index.ts";

const { values } = parseArgs({
  options: {
    topics: { type: "string", default: "100000" },
    "payload-bytes": { type: "string", default: "64" },
    samples: { type: "string", default: "31" },
  },
});
const TOPICS = Number(values.topics);
const PAYLOAD_BYTES = Number(values["payload-bytes"]);
const SAMPLES = Number(values.samples);
const VHOST = "/";
const METRICS = ["temp", "humidity", "power", "status"];

/** `count` fleet topics: site / building / device / metric, the metric varying fastest. */
function fleetTopics(count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const metric = METRICS[i % 4]!;
    const device = Math.floor(i / 4) % 25;
    const building = Math.floor(i / 100) % 10;
    const site = Math.floor(i / 1000);
    out.push(`site${site}/building${building}/device${device}/${metric}`);
  }
  return out;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Median CPU µs per call over `samples` batches, and the wall-clock p99 of single calls. */
function time(samples: number, run: () => unknown): { medianUs: number; p99Us: number } {
  for (let i = 0; i < 20; i++) run(); // warm-up (JIT)
  let perBatch = 1;
  for (;;) {
    const start = performance.now();
    for (let i = 0; i < perBatch; i++) run();
    if (performance.now() - start >= 5) break;
    perBatch *= 2;
  }
  const cpuUs: number[] = [];
  for (let s = 0; s < samples; s++) {
    const before = process.cpuUsage();
    for (let i = 0; i < perBatch; i++) run();
    const used = process.cpuUsage(before);
    cpuUs.push((used.user + used.system) / perBatch);
  }
  const wallUs: number[] = [];
  for (let i = 0; i < Math.max(samples, 101); i++) {
    const start = performance.now();
    run();
    wallUs.push((performance.now() - start) * 1000);
  }
  cpuUs.sort((a, b) => a - b);
  wallUs.sort((a, b) => a - b);
  return { medianUs: percentile(cpuUs, 50), p99Us: percentile(wallUs, 99) };
}

const fmt = (us: number): string => (us < 10 ? us.toFixed(2) : us < 1000 ? us.toFixed(1) : `${(us / 1000).toFixed(2)} ms`.replace(" ms", "\u00a0ms"));

const dir = mkdtempSync(join(tmpdir(), "retained-bench-"));
const log = createMemoryLogger("info");
try {
  const topics = fleetTopics(TOPICS);
  const payload = new Uint8Array(PAYLOAD_BYTES).fill(0x61);
  const limits = { maxCount: TOPICS + 1000, maxBytes: (TOPICS + 1000) * PAYLOAD_BYTES };

  // --- fill (one put per topic, each its own SQLite transaction, as the adapter does) ----------
  const heapBefore = process.memoryUsage().heapUsed;
  let store: IndexedRetainedStore = openSqliteRetainedStore({ dir, ...limits, log });
  let start = performance.now();
  for (const topic of topics) store.putNow(VHOST, topic, payload, 1);
  for (let i = 0; i < 100; i++) store.putNow(VHOST, `$SYS/broker/stat${i}`, payload, 0);
  const fillMs = performance.now() - start;
  store.close();

  // --- reopen: read every key back and rebuild the index (adapter start) ------------------------
  Bun.gc(true);
  start = performance.now();
  store = openSqliteRetainedStore({ dir, ...limits, log });
  const reopenMs = performance.now() - start;
  Bun.gc(true);
  const indexHeapBytes = process.memoryUsage().heapUsed - heapBefore;

  // --- match ----------------------------------------------------------------------------------
  const cases: Array<[kind: string, filter: string]> = [
    ["exact", "site42/building3/device17/temp"],
    ["exact, no match", "site42/building3/device17/pressure"],
    ["`+` one level", "site42/building3/+/temp"],
    ["`+` two levels", "site42/+/+/temp"],
    ["`+` first level", "+/building3/device17/temp"],
    ["`#` subtree", "site42/#"],
    ["`#` subtree", "site42/building3/#"],
    ["`#` in the middle", "site42/#/temp"],
    ["`#` first (AMQP style)", "#/device17/temp"],
    ["`#` everything", "#"],
    ["`$SYS/#`", "$SYS/#"],
  ];
  const rows: string[] = [];
  for (const [kind, filter] of cases) {
    const found = store.matchNow(VHOST, filter).length;
    const match = time(SAMPLES, () => store.matchNow(VHOST, filter));
    const getSamples = found > 10_000 ? 3 : found > 1000 ? 11 : 31;
    const withGet = time(getSamples, () => {
      for (const ref of store.matchNow(VHOST, filter)) void store.get(VHOST, ref.topic);
    });
    rows.push(`| ${kind} | \`${filter}\` | ${found} | ${fmt(match.medianUs)} | ${fmt(match.p99Us)} | ${fmt(withGet.medianUs)} |`);
  }
  store.close();

  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(`### Retained store: ${TOPICS.toLocaleString("en")} topics (+100 \`$SYS\`), ${PAYLOAD_BYTES} B payloads\n`);
  console.log(`Machine: ${cpu}, ${availableParallelism()} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}; Bun ${Bun.version}. \`bun bench/retained/match-bench.ts\`\n`);
  console.log("| filter kind | filter | topics found | match, CPU µs (median) | match, wall p99 µs | match + read payloads, CPU µs |");
  console.log("|---|---|---:|---:|---:|---:|");
  for (const row of rows) console.log(row);
  console.log("");
  console.log(`- fill: ${(TOPICS + 100).toLocaleString("en")} puts in ${fillMs.toFixed(0)} ms (${Math.round(((TOPICS + 100) / fillMs) * 1000).toLocaleString("en")} puts/s, one SQLite transaction each, WAL)`);
  console.log(`- reopen + re-index at start: ${reopenMs.toFixed(0)} ms`);
  console.log(`- index heap (trie, topics, entries; no payloads): ${(indexHeapBytes / 1024 / 1024).toFixed(1)} MiB (heapUsed after full GC, before vs after)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
