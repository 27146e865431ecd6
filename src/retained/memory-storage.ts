/**
 * Payloads in a Map, for protocol tests and anything that wants retained messages without a
 * file: the same IndexedRetainedStore (bounds, matching, logging) over memory instead of SQLite.
 */
import type { QoS } from "../codec/index.ts";
import type { Logger } from "../log.ts";
import { IndexedRetainedStore, type PayloadStorage } from "./indexed-store.ts";
import type { RetainedLimits } from "./retained-store.ts";

export class MemoryPayloadStorage implements PayloadStorage {
  private readonly rows = new Map<string, { vhost: string; topic: string; qos: QoS; payload: Uint8Array }>();

  scan(): Iterable<{ vhost: string; topic: string; qos: QoS; bytes: number }> {
    return [...this.rows.values()].map((row) => ({ vhost: row.vhost, topic: row.topic, qos: row.qos, bytes: row.payload.byteLength }));
  }

  write(vhost: string, topic: string, qos: QoS, payload: Uint8Array): void {
    // Copied: the caller's payload may be a view into a buffer that is reused.
    this.rows.set(key(vhost, topic), { vhost, topic, qos, payload: payload.slice() });
  }

  remove(vhost: string, topic: string): void {
    this.rows.delete(key(vhost, topic));
  }

  read(vhost: string, topic: string): { qos: QoS; payload: Uint8Array } | undefined {
    return this.rows.get(key(vhost, topic));
  }

  close(): void {}
}

/** U+0000 cannot occur in an MQTT string [MQTT-1.5.3-2], so two different pairs never share a key. */
function key(vhost: string, topic: string): string {
  return `${vhost}\u0000${topic}`;
}

/** A RetainedStore in memory with the given bounds (and `storage` to share one between "restarts"). */
export function createMemoryRetainedStore(
  limits: RetainedLimits,
  log: Logger,
  storage: MemoryPayloadStorage = new MemoryPayloadStorage(),
  now?: () => number,
): IndexedRetainedStore {
  return new IndexedRetainedStore(storage, limits, log, now);
}
