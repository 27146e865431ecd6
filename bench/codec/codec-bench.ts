/**
 * Codec benchmark: our decoder and encoders against mqtt-packet (the codec inside MQTT.js), in the
 * same run, on the packets of ops.ts (PUBLISH QoS 0 / 1 with 16 B, 1 KiB and 64 KiB payloads, one
 * with a new topic per packet, an MQTT 5 PUBLISH with properties, SUBSCRIBE, CONNECT).
 *
 *   bun bench/codec/codec-bench.ts [--rounds 9] [--alloc-ms 400] [--no-alloc] [--cases REGEX]
 *
 * Throughput: one case at a time (only its buffers alive); after a warm-up, every round runs each
 * operation once, ours and theirs alternating and the order reversed each round (so drift and GC
 * debt fall on both). The tables show the median over the rounds of packets per CPU-second
 * (process user + system time, GC threads included: the machine may be shared, and waiting for a
 * core is not codec work), and the ratios ours / theirs.
 * Allocation: one child process per case (alloc-child.ts) under BUN_JSC_logGC=1; the tables show
 * bytes allocated per packet as JavaScriptCore's own accounting reports them: a lower bound, plus
 * at most the uncertainty shown (one unlogged eden cycle spread over the packets measured).
 * Prints markdown for bench/README.md. The 3x target applies to PUBLISH decode and encode.
 */
import { unlink } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { parseArgs } from "node:util";
import * as mqtt from "mqtt-packet";
import { OPS, makeCases, makeOp, type Op, type OpName } from "./ops.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "9" },
    "alloc-ms": { type: "string", default: "400" },
    "no-alloc": { type: "boolean", default: false },
    cases: { type: "string" },
  },
});
const ROUNDS = Number(values.rounds);
/** Each timed sample covers at least this much work. */
const MIN_SAMPLE_MS = 25;
/** --cases REGEX keeps the cases whose name matches (allocation children are told their index). */
const caseFilter = values.cases === undefined ? undefined : new RegExp(values.cases);
const allCases = makeCases();
const cases = allCases.filter((c) => caseFilter === undefined || caseFilter.test(c.name));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---------------------------------------------------------------- sanity: both sides do the same work

for (const c of cases) {
  const ours = makeOp(c, "decode-ours")!;
  const theirs = makeOp(c, "decode-theirs")!;
  const [a, b] = [ours.run(), theirs.run()];
  if (a !== ours.count || b !== theirs.count || ours.checksum() !== theirs.checksum()) {
    throw new Error(`${c.name}: decoders disagree (ours ${a} packets / ${ours.checksum()}, theirs ${b} / ${theirs.checksum()})`);
  }
  c.shapes.forEach((shape, i) => {
    const generated = mqtt.generate(shape as mqtt.Packet, { protocolVersion: c.version });
    if (generated.length !== c.encoded[i]!.length) throw new Error(`${c.name}: mqtt-packet generates ${generated.length} bytes, we ${c.encoded[i]!.length}`);
  });
}

// ---------------------------------------------------------------- throughput

const loadBefore = loadavg()[0]!;
// Ours and theirs alternate: ours, theirs, ours, theirs ... and the order flips every round.
const ORDER: OpName[] = [
  "decode-ours",
  "decode-theirs",
  "encode-ours-Encoder",
  "encode-theirs-generate",
  "encode-ours-encodePacket",
  "encode-theirs-writeToStream",
  "encode-ours-publishHeaders",
  "encode-ours-Encoder-1MiB",
];
const perSecond = cases.map((c, i) => {
  const ops = new Map<OpName, Op>();
  for (const op of OPS) {
    const made = makeOp(c, op);
    if (made !== undefined) ops.set(op, made);
  }
  const samples = new Map<OpName, number[]>([...ops.keys()].map((op) => [op, []]));
  // Warm up, and size each timed sample to about MIN_SAMPLE_MS of work (runs repeated), so the
  // clock's resolution is not what is measured (64 headers of 64 KiB PUBLISHes take microseconds).
  const repeats = new Map<OpName, number>();
  for (const [name, op] of ops) {
    for (let w = 0; w < 3; w++) op.run();
    const started = performance.now();
    op.run();
    repeats.set(name, Math.max(1, Math.ceil(MIN_SAMPLE_MS / Math.max(performance.now() - started, 0.001))));
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? ORDER : [...ORDER].reverse()) {
      const op = ops.get(name);
      if (op === undefined) continue;
      const times = repeats.get(name)!;
      const started = process.cpuUsage();
      let packets = 0;
      for (let r = 0; r < times; r++) packets += op.run();
      const used = process.cpuUsage(started);
      samples.get(name)!.push(packets / ((used.user + used.system) / 1e6));
    }
  }
  ops.clear();
  Bun.gc(true);
  process.stderr.write(`  throughput: ${c.name} done (${i + 1}/${cases.length})\n`);
  return Object.fromEntries([...samples].map(([op, xs]) => [op, median(xs)])) as Partial<Record<OpName, number>>;
});
const loadAfter = loadavg()[0]!;

// ---------------------------------------------------------------- allocation (child processes)

type Alloc = { bytes: number; plus: number };
const alloc: Array<Partial<Record<OpName, Alloc>>> = cases.map(() => ({}));
if (!values["no-alloc"]) {
  for (let i = 0; i < cases.length; i++) {
    // The GC log goes to a file: it can outrun a pipe, and the child writes it synchronously.
    const logPath = `${tmpdir()}/codec-bench-alloc-${process.pid}-${i}.log`;
    const index = allCases.indexOf(cases[i]!);
    const child = Bun.spawn([process.execPath, `${import.meta.dir}/alloc-child.ts`, "--case", String(index), "--ms", values["alloc-ms"]!], {
      env: { ...process.env, BUN_JSC_logGC: "1" },
      stdout: "ignore",
      stderr: Bun.file(logPath),
    });
    const status = await child.exited;
    const log = await Bun.file(logPath).text();
    await unlink(logPath);
    if (status !== 0) throw new Error(`alloc-child --case ${i} failed:\n${log.slice(-2000)}`);
    let op: OpName | undefined;
    let sum = 0;
    let budget = 0;
    for (const line of log.split("\n")) {
      const start = /^ALLOC-START (\S+)/.exec(line);
      const end = /^ALLOC-END (\S+) (\d+)/.exec(line);
      const gc = /^Requesting GC because bytes allocated this cycle: (\d+) exceed bytes allowed: (\d+)/.exec(line);
      if (start) [op, sum, budget] = [start[1] as OpName, 0, 8 * 1024 * 1024];
      else if (gc && op) [sum, budget] = [sum + Number(gc[1]), Math.max(budget, Number(gc[2]))];
      else if (end && op) {
        alloc[i]![op] = { bytes: sum / Number(end[2]), plus: budget / Number(end[2]) };
        op = undefined;
      }
    }
    process.stderr.write(`  allocation: ${cases[i]!.name} done\n`);
  }
}

// ---------------------------------------------------------------- report

const rate = (x: number | undefined): string =>
  x === undefined ? "-" : x >= 1e6 ? `${(x / 1e6).toFixed(2)} M/s` : x >= 1e3 ? `${(x / 1e3).toFixed(0)} k/s` : `${x.toFixed(0)}/s`;
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? "-" : `**${(a / b).toFixed(1)}x**`);
const bytesPer = (a: Alloc | undefined): string => {
  if (a === undefined) return "-";
  const fmt = (n: number): string => (n >= 10_000 ? `${(n / 1024).toFixed(0)} KiB` : n >= 100 ? n.toFixed(0) : n.toFixed(1));
  return `${fmt(a.bytes)} (+${fmt(a.plus)})`;
};

const cpuinfo = await Bun.file("/proc/cpuinfo").text().catch(() => "");
const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown CPU";
const mqttPacketVersion = (require("mqtt-packet/package.json") as { version: string }).version;
const lines: string[] = [
  `Machine: ${availableParallelism()} cores (nproc), ${model}; Bun ${Bun.version}; mqtt-packet ${mqttPacketVersion}. ` +
    `${ROUNDS} rounds, median packets per CPU-second; 1-minute load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after.`,
  "",
  "Decode: each library's streaming parser over a buffer of many packets, fed in 64 KiB reads (512 KiB where the row says so).",
  "",
  "| packet | bytes | ours | mqtt-packet | ours / theirs | ours B/packet | theirs B/packet |",
  "|---|---:|---:|---:|---:|---:|---:|",
];
cases.forEach((c, i) => {
  const p = perSecond[i]!;
  const a = alloc[i]!;
  lines.push(`| ${c.name} | ${c.encoded[0]!.length} | ${rate(p["decode-ours"])} | ${rate(p["decode-theirs"])} | ${ratio(p["decode-ours"], p["decode-theirs"])} | ${bytesPer(a["decode-ours"])} | ${bytesPer(a["decode-theirs"])} |`);
});
lines.push(
  "",
  "Encode to wire bytes: ours Encoder.encode (reused buffer; keeps at most 64 KiB by default, 1 MiB in the second column) and encodePacket (new buffer); theirs generate (new Buffer).",
  "",
  "| packet | Encoder | Encoder, 1 MiB kept | encodePacket | generate | best of ours / generate | B/packet: Encoder, 1 MiB kept, encodePacket, generate |",
  "|---|---:|---:|---:|---:|---:|---|",
);
const bestOurs = (p: Partial<Record<OpName, number>>): number => Math.max(p["encode-ours-Encoder"]!, p["encode-ours-Encoder-1MiB"]!, p["encode-ours-encodePacket"]!);
cases.forEach((c, i) => {
  if (c.decodeOnly) return;
  const p = perSecond[i]!;
  const a = alloc[i]!;
  lines.push(
    `| ${c.name} | ${rate(p["encode-ours-Encoder"])} | ${rate(p["encode-ours-Encoder-1MiB"])} | ${rate(p["encode-ours-encodePacket"])} | ${rate(p["encode-theirs-generate"])} | ` +
      `${ratio(bestOurs(p), p["encode-theirs-generate"])} | ` +
      `${bytesPer(a["encode-ours-Encoder"])}, ${bytesPer(a["encode-ours-Encoder-1MiB"])}, ${bytesPer(a["encode-ours-encodePacket"])}, ${bytesPer(a["encode-theirs-generate"])} |`,
  );
});
lines.push(
  "",
  "Encode without copying the payload (PUBLISH): ours Encoder.encodePublishHeaders, then the payload as it is; theirs writeToStream (its chunks, the payload among them, handed to a stream that counts them).",
  "",
  "| packet | encodePublishHeaders | writeToStream | ours / theirs | B/packet: ours, theirs |",
  "|---|---:|---:|---:|---|",
);
cases.forEach((c, i) => {
  if (!c.isPublish || c.decodeOnly) return;
  const p = perSecond[i]!;
  const a = alloc[i]!;
  lines.push(
    `| ${c.name} | ${rate(p["encode-ours-publishHeaders"])} | ${rate(p["encode-theirs-writeToStream"])} | ${ratio(p["encode-ours-publishHeaders"], p["encode-theirs-writeToStream"])} | ` +
      `${bytesPer(a["encode-ours-publishHeaders"])}, ${bytesPer(a["encode-theirs-writeToStream"])} |`,
  );
});
const below: string[] = [];
cases.forEach((c, i) => {
  if (!c.isPublish) return;
  const p = perSecond[i]!;
  const checks: Array<[string, number]> = [["decode", p["decode-ours"]! / p["decode-theirs"]!]];
  if (!c.decodeOnly) {
    checks.push(["encode to wire bytes (best of ours / generate)", bestOurs(p) / p["encode-theirs-generate"]!]);
    checks.push(["encode without copying the payload", p["encode-ours-publishHeaders"]! / p["encode-theirs-writeToStream"]!]);
  }
  for (const [what, r] of checks) if (r < 3) below.push(`${c.name}, ${what}: ${r.toFixed(2)}x`);
});
lines.push("", below.length === 0 ? "Target (>= 3x mqtt-packet on PUBLISH decode and encode): met in every PUBLISH row." : `Below the 3x target: ${below.join("; ")}.`);
console.log(lines.join("\n"));
