/**
 * The embedded RetainedStore: an in-memory topic index (topic-index.ts) for matching and bounds,
 * over a PayloadStorage that keeps the payloads (SQLite on disk by default, a Map in tests).
 *
 * Bounds (`adapter.retained.max_count`, `adapter.retained.max_bytes`, all vhosts together), and
 * what we chose when one is hit:
 * - a message for a NEW topic that would exceed a bound is refused; every stored message stays;
 * - a message REPLACING a topic's message that would exceed max_bytes is refused, and the topic's
 *   previous message is deleted as well: keeping it would hand later subscribers a stale value
 *   as the topic's last one [MQTT-3.3.1-5]. (Replacing never changes the count.)
 * The PUBLISH itself still goes to RabbitMQ and is acknowledged: MQTT 3.1.1 has no way to refuse
 * only the retain part. Each refusal is logged as a warning, the first at once and then at most
 * one line per LOG_INTERVAL_MS with how many were refused meanwhile, so a device stuck in a loop
 * cannot flood the log. A storage error (disk full, I/O) is handled the same way, at error level.
 *
 * Invariants: the index holds exactly the (vhost, topic) pairs the storage holds, with their QoS
 * and payload size; the index is only changed after the storage call for it succeeded.
 */
import type { QoS } from "../codec/index.ts";
import type { Logger } from "../log.ts";
import type { RetainedLimits, RetainedMessage, RetainedRef, RetainedStore, RetainOutcome } from "./retained-store.ts";
import { RetainedTopicIndex } from "./topic-index.ts";

/** Where the payloads live. Synchronous: the embedded storages answer at once. */
export interface PayloadStorage {
  /** Every stored message's key, QoS and payload size, to build the index at start. */
  scan(): Iterable<{ vhost: string; topic: string; qos: QoS; bytes: number }>;
  /** Stores a copy of `payload` (the argument may be a view); throws on an I/O failure. */
  write(vhost: string, topic: string, qos: QoS, payload: Uint8Array): void;
  /** Deletes the message of (vhost, topic); unknown keys are not an error. */
  remove(vhost: string, topic: string): void;
  /** The stored message; the returned payload is never modified by the storage afterwards. */
  read(vhost: string, topic: string): { qos: QoS; payload: Uint8Array } | undefined;
  close(): void;
}

/** At most one "store full" warning per this interval; the refusals in between are counted. */
export const LOG_INTERVAL_MS = 60_000;

/**
 * What a closed store answers: the server closes it after the connections, but one that outlived
 * the shutdown grace period may still try (nothing is stored, nothing throws).
 */
const CLOSED: RetainOutcome = { kind: "refused", reason: "the retained message store is closed (the adapter is stopping)", droppedPrevious: false };

export class IndexedRetainedStore implements RetainedStore {
  private readonly index = new RetainedTopicIndex();
  /** When the last refusal line was written (ms, `now()`), and refusals since then. */
  private lastRefusalLogMs = Number.NEGATIVE_INFINITY;
  private refusedSinceLog = 0;
  private closed = false;

  constructor(
    private readonly storage: PayloadStorage,
    private readonly limits: RetainedLimits,
    private readonly log: Logger,
    /** For the log rate limit; Date.now by default (tests pass their own). */
    private readonly now: () => number = Date.now,
  ) {
    for (const row of storage.scan()) this.index.set(row.vhost, row.topic, row.qos, row.bytes);
  }

  get count(): number {
    return this.index.count;
  }

  get bytes(): number {
    return this.index.bytes;
  }

  put(vhost: string, topic: string, payload: Uint8Array, qos: QoS): Promise<RetainOutcome> {
    return Promise.resolve(this.putNow(vhost, topic, payload, qos));
  }

  /** `put` without the promise (the benchmark and the loader use it). */
  putNow(vhost: string, topic: string, payload: Uint8Array, qos: QoS): RetainOutcome {
    if (this.closed) return CLOSED;
    const existing = this.index.get(vhost, topic);
    if (payload.byteLength === 0) {
      if (existing === undefined) return { kind: "deleted" };
      const failed = this.tryStorage(() => this.storage.remove(vhost, topic), vhost, topic, "delete");
      if (failed !== undefined) return failed;
      this.index.delete(vhost, topic);
      return { kind: "deleted" };
    }
    const count = this.index.count + (existing === undefined ? 1 : 0);
    const bytes = this.index.bytes - (existing?.bytes ?? 0) + payload.byteLength;
    const bound =
      count > this.limits.maxCount
        ? `adapter.retained.max_count = ${this.limits.maxCount} messages reached`
        : bytes > this.limits.maxBytes
          ? `adapter.retained.max_bytes = ${this.limits.maxBytes} bytes would be exceeded (${payload.byteLength} byte payload, ${this.index.bytes} bytes stored)`
          : undefined;
    if (bound !== undefined) {
      let droppedPrevious = false;
      if (existing !== undefined && this.tryStorage(() => this.storage.remove(vhost, topic), vhost, topic, "delete") === undefined) {
        this.index.delete(vhost, topic);
        droppedPrevious = true;
      }
      this.logRefusal(
        `retained message store is full (${bound}): not retaining the message for topic ${JSON.stringify(topic)} in vhost ${JSON.stringify(vhost)}` +
          (droppedPrevious ? "; its previous retained message is deleted rather than kept stale" : "; stored messages are kept, new topics are refused"),
      );
      return { kind: "refused", reason: bound, droppedPrevious };
    }
    const failed = this.tryStorage(() => this.storage.write(vhost, topic, qos, payload), vhost, topic, "store");
    if (failed !== undefined) return failed;
    this.index.set(vhost, topic, qos, payload.byteLength);
    return { kind: "stored" };
  }

  match(vhost: string, filter: string): Promise<RetainedRef[]> {
    if (this.closed) return Promise.resolve([]);
    return Promise.resolve(this.index.match(vhost, filter));
  }

  /** `match` without the promise (the benchmark uses it). */
  matchNow(vhost: string, filter: string): RetainedRef[] {
    return this.index.match(vhost, filter);
  }

  get(vhost: string, topic: string): Promise<RetainedMessage | undefined> {
    if (this.closed || this.index.get(vhost, topic) === undefined) return Promise.resolve(undefined);
    let row: { qos: QoS; payload: Uint8Array } | undefined;
    try {
      row = this.storage.read(vhost, topic);
    } catch (error) {
      this.log.error(`reading the retained message of topic ${JSON.stringify(topic)} in vhost ${JSON.stringify(vhost)} failed: ${describe(error)}`);
      return Promise.resolve(undefined);
    }
    return Promise.resolve(row === undefined ? undefined : { topic, qos: row.qos, payload: row.payload });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.storage.close();
  }

  /** Runs a storage call; on failure logs it and returns the refusal to hand back. */
  private tryStorage(call: () => void, vhost: string, topic: string, what: string): RetainOutcome | undefined {
    try {
      call();
      return undefined;
    } catch (error) {
      const reason = `the retained message store could not ${what} it: ${describe(error)}`;
      this.log.error(`${reason} (topic ${JSON.stringify(topic)} in vhost ${JSON.stringify(vhost)})`);
      return { kind: "refused", reason, droppedPrevious: false };
    }
  }

  private logRefusal(line: string): void {
    const now = this.now();
    if (now - this.lastRefusalLogMs < LOG_INTERVAL_MS) {
      this.refusedSinceLog++;
      return;
    }
    const more = this.refusedSinceLog === 0 ? "" : ` (${this.refusedSinceLog} more refused since the last such line)`;
    this.log.warning(line + more);
    this.lastRefusalLogMs = now;
    this.refusedSinceLog = 0;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
