/**
 * Child process of codec-bench.ts that measures bytes allocated per packet, run with
 * BUN_JSC_logGC=1 so JavaScriptCore logs every collection it starts because the bytes allocated
 * since the last one (GC-heap cells plus reported extra memory such as ArrayBuffer contents)
 * exceeded its eden budget: "Requesting GC because bytes allocated this cycle: N exceed bytes
 * allowed: B". For each operation of one case it warms up, runs a full GC (which starts a new
 * cycle at 0), writes a start marker, runs the operation for about `--ms`, and writes an end
 * marker with the packet count. The parent sums N between the markers: a lower bound of what was
 * allocated, short of the last, unlogged, partial cycle (less than one budget B).
 *
 *   BUN_JSC_logGC=1 bun bench/codec/alloc-child.ts --case 0 [--ms 400]
 */
import { writeSync } from "node:fs";
import { parseArgs } from "node:util";
import { OPS, makeCases, makeOp } from "./ops.ts";

const { values } = parseArgs({ options: { case: { type: "string" }, ms: { type: "string", default: "400" } } });
const c = makeCases()[Number(values.case)];
if (c === undefined) throw new Error(`--case must be 0..${makeCases().length - 1}`);
const budgetMs = Number(values.ms);

for (const op of OPS) {
  const made = makeOp(c, op);
  if (made === undefined) continue;
  const { run } = made;
  run();
  run();
  Bun.gc(true);
  writeSync(2, `ALLOC-START ${op}\n`);
  let packets = 0;
  const started = performance.now();
  do packets += run();
  while (performance.now() - started < budgetMs);
  writeSync(2, `ALLOC-END ${op} ${packets}\n`);
  Bun.gc(true);
}
