/**
 * amqplib writes every AMQP frame (or method+header frame pair, and each body frame) with its own
 * `socket.write`, and under Bun each of those is a native write call of its own: a CPU profile of
 * the adapter under the QoS 0 load benchmark (`BENCH_ADAPTER_CPU_PROF`, bench/README.md) put 36 %
 * of its time in the socket's `writeBuffered`. `coalesceWrites` makes the socket collect what is
 * written during one turn of the event loop and hand it to the real `write` once, when the turn's
 * microtasks run (or at once when 64 KiB are pending), so a burst of publishes and acks costs one
 * write instead of hundreds.
 *
 * Invariants: bytes reach the socket in `write()` order (every writer, amqplib's muxer and its
 * direct channel-0 writes alike, goes through the patched `write`); nothing pending is lost on
 * `end()` (flushed first); `write()` returns false only while the socket itself has refused bytes
 * and therefore will emit 'drain' (amqplib's muxer stops on false and waits for that 'drain').
 */
import type { Duplex } from "node:stream";

/** Pending bytes at which a write goes out at once instead of at the end of the turn. */
export const COALESCE_FLUSH_BYTES = 64 * 1024;

export function coalesceWrites(socket: Duplex): void {
  const original = socket.write as (...args: unknown[]) => boolean;
  const rawWrite = (chunk: Uint8Array): boolean => original.call(socket, chunk);
  const rawEnd = socket.end.bind(socket) as (...args: unknown[]) => Duplex;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let flushQueued = false;
  /** False from a refused raw write until the socket's 'drain' (ours runs before amqplib's). */
  let accepting = true;

  const flush = (): void => {
    flushQueued = false;
    if (pending.length === 0) return;
    const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    if (!rawWrite(chunk)) accepting = false;
  };

  socket.prependListener("drain", () => {
    accepting = true;
  });

  const write = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    if (!(chunk instanceof Uint8Array) || encoding !== undefined || callback !== undefined) {
      // Not amqplib's frame path (it writes Buffers without callbacks): keep the order, write now.
      flush();
      const ok = original.call(socket, chunk, encoding, callback);
      if (!ok) accepting = false;
      return ok;
    }
    pending.push(chunk);
    pendingBytes += chunk.byteLength;
    if (pendingBytes >= COALESCE_FLUSH_BYTES) flush();
    else if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flush);
    }
    return accepting;
  };

  socket.write = write as Duplex["write"];
  socket.end = ((...args: unknown[]) => {
    flush();
    return rawEnd(...args);
  }) as Duplex["end"];
}
