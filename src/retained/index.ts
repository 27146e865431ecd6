/**
 * Retained messages: the store interface `protocol/` uses, the embedded SQLite store the server
 * opens, and an in-memory one for tests. Imports nothing above it (codec types and log only).
 *
 *   const store = openSqliteRetainedStore({ dir, maxCount, maxBytes, log });  // server.ts, once
 *   await store.put(vhost, topic, payload, qos);      // after RabbitMQ accepted a retained PUBLISH
 *   for (const ref of await store.match(vhost, filter)) await store.get(vhost, ref.topic);
 *   store.close();                                    // at shutdown, after the connections
 */
/** The interface a shared (multi-instance) store would implement, and its value types. */
export type { RetainedLimits, RetainedMessage, RetainedRef, RetainedStore, RetainOutcome } from "./retained-store.ts";
/** The embedded store: topic index in memory over a PayloadStorage. */
export { IndexedRetainedStore, LOG_INTERVAL_MS } from "./indexed-store.ts";
export type { PayloadStorage } from "./indexed-store.ts";
/** The default store: one SQLite file under `adapter.retained.dir`, surviving restarts. */
export { openSqliteRetainedStore, SqlitePayloadStorage, RETAINED_FILE_NAME } from "./sqlite-storage.ts";
export type { SqliteRetainedStoreOptions } from "./sqlite-storage.ts";
/** The same store over a Map (protocol tests; pass one storage to several stores to "restart"). */
export { createMemoryRetainedStore, MemoryPayloadStorage } from "./memory-storage.ts";
/** The trie behind matching (exported for the benchmark and tests). */
export { RetainedTopicIndex } from "./topic-index.ts";
export type { RetainedEntry } from "./topic-index.ts";
