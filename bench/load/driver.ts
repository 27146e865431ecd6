/**
 * Side-by-side load benchmark: runs each scenario against every endpoint in interleaved rounds
 * (adapter, native, mosquitto, adapter, native, mosquitto, …) because the machine is shared and
 * noisy, then prints per-metric medians and the ratio of each endpoint to the native plugin.
 *
 * Every result carries the generator's own CPU time (this process, user+system) and the
 * endpoint's CPU time (its processes from /proc) over the run, so a reader sees whether the
 * generator was the bottleneck.
 *
 *   bun bench/load/driver.ts [--rounds 3] [--endpoints adapter,native,mosquitto]
 *                            [--scenarios REGEX] [--idle 2000] [--json FILE]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { startEndpoints, type Endpoint, type EndpointName } from "./endpoints.ts";
import { allScenarios, type Scenario, type ScenarioResult } from "./scenarios.ts";

interface RunRecord {
  scenario: string;
  endpoint: EndpointName;
  round: number;
  result?: ScenarioResult;
  error?: string;
  wallMs: number;
  generatorCpuMs: number;
  endpointCpuMs: number;
  /** The same split by process (adapter and rabbitmq for the adapter endpoint). */
  endpointCpuByProcessMs?: Record<string, number>;
}

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    endpoints: { type: "string", default: "adapter,native,mosquitto" },
    scenarios: { type: "string", default: "." },
    idle: { type: "string", default: "2000" },
    json: { type: "string" },
  },
});

const rounds = Number(values.rounds);
const idleCount = Number(values.idle);
const names = values.endpoints.split(",") as EndpointName[];
for (const name of names) {
  if (!["adapter", "native", "mosquitto"].includes(name)) usage(`unknown endpoint "${name}": expected adapter, native or mosquitto`);
}
if (!Number.isInteger(rounds) || rounds < 1) usage(`--rounds must be a positive integer, got "${values.rounds}"`);
if (!Number.isInteger(idleCount) || idleCount < 1) usage(`--idle must be a positive integer, got "${values.idle}"`);
let pattern: RegExp;
try {
  pattern = new RegExp(values.scenarios);
} catch (error) {
  usage(`--scenarios is not a valid regular expression: ${(error as Error).message}`);
}
const scenarios = allScenarios(idleCount).filter((scenario) => pattern.test(scenario.name));
if (scenarios.length === 0) usage(`--scenarios ${values.scenarios} matches none of: ${allScenarios(idleCount).map((s) => s.name).join(", ")}`);

function usage(message: string): never {
  console.error(`driver: ${message}`);
  process.exit(2);
}

const log = (line: string): void => console.error(line);
const env = await startEndpoints(names, log);
const records: RunRecord[] = [];
const stopOnSignal = (): void => {
  void env.stop().finally(() => process.exit(130));
};
process.once("SIGINT", stopOnSignal);
process.once("SIGTERM", stopOnSignal);
try {
  printMachine();
  for (const scenario of scenarios) {
    log(`\n== ${scenario.name}: ${scenario.describe}`);
    for (let round = 1; round <= rounds; round++) {
      for (const endpoint of env.endpoints) {
        const record = await runOnce(scenario, endpoint, round);
        records.push(record);
        log(`  round ${round} ${endpoint.name.padEnd(9)} ${formatRecord(record)}`);
      }
    }
    printSummary(scenario);
  }
} finally {
  await env.stop();
}
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ versions: env.versions, machine: machine(), records }, null, 2));

async function runOnce(scenario: Scenario, endpoint: Endpoint, round: number): Promise<RunRecord> {
  const runId = `b${Date.now().toString(36)}${round}${endpoint.name.slice(0, 1)}`;
  const cpuBefore = process.cpuUsage();
  const endpointBefore = endpointCpuByProcess(endpoint);
  const start = performance.now();
  const record: RunRecord = { scenario: scenario.name, endpoint: endpoint.name, round, wallMs: 0, generatorCpuMs: 0, endpointCpuMs: 0 };
  try {
    record.result = await scenario.run({ endpoint, runId, log, rabbitErlangMemoryBytes: env.rabbitErlangMemoryBytes });
  } catch (error) {
    record.error = error instanceof Error ? error.message : String(error);
  }
  record.wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  record.generatorCpuMs = (cpu.user + cpu.system) / 1000;
  const endpointAfter = endpointCpuByProcess(endpoint);
  record.endpointCpuByProcessMs = Object.fromEntries(Object.entries(endpointAfter).map(([label, ms]) => [label, ms - (endpointBefore[label] ?? 0)]));
  record.endpointCpuMs = Object.values(record.endpointCpuByProcessMs).reduce((a, b) => a + b, 0);
  return record;
}

/** utime+stime of each of the endpoint's processes by label, ms (clock ticks are 100 Hz on Linux). */
function endpointCpuByProcess(endpoint: Endpoint): Record<string, number> {
  const byLabel: Record<string, number> = {};
  for (const { label, pid } of endpoint.memoryPids()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      byLabel[label] = (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      byLabel[label] = 0; // gone
    }
  }
  return byLabel;
}

function formatRecord(record: RunRecord): string {
  const split = Object.entries(record.endpointCpuByProcessMs ?? {});
  const perProcess = split.length > 1 ? ` (${split.map(([label, ms]) => `${label} ${Math.round(ms)}`).join(", ")})` : "";
  const cpu = `gen cpu ${Math.round(record.generatorCpuMs)} ms/${Math.round(record.wallMs)} ms wall, endpoint cpu ${Math.round(record.endpointCpuMs)} ms${perProcess}`;
  if (record.result === undefined) return `ERROR ${record.error} (${cpu})`;
  const metrics = Object.entries(record.result.metrics).map(([key, value]) => `${key}=${format(value)}`);
  const c = record.result.counts;
  return `${metrics.join(" ")} | lost ${c.lost}/${c.expected} dup ${c.duplicated} ooo ${c.outOfOrder} | ${cpu}`;
}

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function format(value: number): string {
  if (Number.isNaN(value)) return "n/a";
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  return value.toFixed(2);
}

/** One markdown table per scenario: median of each metric per endpoint, and ratio to native. */
function printSummary(scenario: Scenario): void {
  const rows = records.filter((r) => r.scenario === scenario.name);
  const metricNames = [...new Set(rows.flatMap((r) => Object.keys(r.result?.metrics ?? {})))];
  const columns = [...metricNames, "lost", "dup", "ooo", "gen_cpu_%", "endpoint_cpu_%"];
  const lines = [`\n### ${scenario.name} (medians of ${rounds} rounds)`, "", `| endpoint | ${columns.join(" | ")} | errors |`, `|---|${columns.map(() => "---:").join("|")}|---|`];
  const medians = new Map<EndpointName, Record<string, number>>();
  for (const endpoint of env.endpoints) {
    const mine = rows.filter((r) => r.endpoint === endpoint.name);
    const ok = mine.filter((r) => r.result !== undefined);
    const m: Record<string, number> = {};
    for (const name of metricNames) m[name] = median(ok.map((r) => r.result!.metrics[name] ?? Number.NaN));
    m.lost = median(ok.map((r) => r.result!.counts.lost));
    m.dup = median(ok.map((r) => r.result!.counts.duplicated));
    m.ooo = median(ok.map((r) => r.result!.counts.outOfOrder));
    m["gen_cpu_%"] = median(mine.map((r) => (100 * r.generatorCpuMs) / r.wallMs));
    m["endpoint_cpu_%"] = median(mine.map((r) => (100 * r.endpointCpuMs) / r.wallMs));
    medians.set(endpoint.name, m);
    const errors = mine.filter((r) => r.error !== undefined).length;
    lines.push(`| ${endpoint.name} | ${columns.map((c) => format(m[c]!)).join(" | ")} | ${errors} |`);
  }
  const native = medians.get("native");
  if (native !== undefined) {
    for (const [name, m] of medians) {
      if (name === "native") continue;
      lines.push(`| ${name} ÷ native | ${columns.map((c) => (metricNames.includes(c) && native[c] ? `${(m[c]! / native[c]).toFixed(2)}×` : "")).join(" | ")} | |`);
    }
  }
  console.log(lines.join("\n"));
}

function machine(): Record<string, string | number> {
  return { nproc: cpus().length, cpu: cpus()[0]?.model ?? "unknown", loadavg: readFileSync("/proc/loadavg", "utf8").trim() };
}

function printMachine(): void {
  const m = machine();
  console.log(`machine: ${m.nproc} cores, ${m.cpu}, loadavg at start ${m.loadavg}`);
  console.log(`versions: ${Object.entries(env.versions).map(([k, v]) => `${k} ${v}`).join("; ")}`);
}
