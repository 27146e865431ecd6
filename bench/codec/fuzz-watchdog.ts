/**
 * Watchdog worker for fuzz.ts: the fuzz loop is synchronous, so a decoder that looped forever
 * would hang it silently. The main thread stores the index of the input it is working on in a
 * shared Int32Array; if that index stays the same for longer than `hangMs`, this worker names the
 * input (with the seed, so `--only INDEX` replays it) straight on fd 2 and kills the process.
 */
import { writeSync } from "node:fs";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ shared: SharedArrayBuffer; hangMs: number; seed: number }>) => {
  const { shared, hangMs, seed } = event.data;
  const current = new Int32Array(shared);
  let last = -1;
  let since = Date.now();
  setInterval(() => {
    const index = Atomics.load(current, 0);
    if (index !== last) {
      last = index;
      since = Date.now();
      return;
    }
    if (index >= 0 && Date.now() - since > hangMs) {
      // stdout/stderr of a worker go through the (busy) main thread: write to fd 2 directly.
      writeSync(2, `\nFAIL: input ${index} has run for over ${hangMs} ms: a hang. Replay: bun bench/codec/fuzz.ts --seed ${seed} --only ${index}\n`);
      process.kill(process.pid, "SIGKILL");
    }
  }, 250);
};
