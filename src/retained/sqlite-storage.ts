/**
 * Retained payloads in one SQLite file (`bun:sqlite`) under `adapter.retained.dir`: the embedded
 * default store, which survives adapter restarts.
 *
 * - WAL journal with `synchronous = NORMAL`: a write is one short transaction without an fsync,
 *   and the file is never corrupted by a crash of the adapter. A power loss may roll back the
 *   last writes before a checkpoint (a retained message may come back one version older), which
 *   is what the native plugin's DETS/ETS stores allow too.
 * - `locking_mode = EXCLUSIVE`: the file is locked for as long as this process has it open, so a
 *   second adapter pointed at the same directory fails at start with a clear message instead of
 *   two processes each indexing a file the other changes.
 * - Statements are prepared once. Payloads are bound as Uint8Array: SQLite copies them, so a
 *   view into the decoder's buffer is fine; a read returns a fresh Uint8Array the caller owns.
 * - Not a WITHOUT ROWID table: payloads may be large, and SQLite recommends rowid tables for rows
 *   bigger than a few hundred bytes.
 */
import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { QoS } from "../codec/index.ts";
import type { Logger } from "../log.ts";
import { IndexedRetainedStore, type PayloadStorage } from "./indexed-store.ts";
import type { RetainedLimits } from "./retained-store.ts";

/** The file inside `adapter.retained.dir`. */
export const RETAINED_FILE_NAME = "retained.sqlite";
/** `PRAGMA user_version` of the layout below; a file with another version is refused. */
const SCHEMA_VERSION = 1;

type ScanRow = { vhost: string; topic: string; qos: number; bytes: number };

export class SqlitePayloadStorage implements PayloadStorage {
  private readonly db: Database;
  private readonly upsert: Statement;
  private readonly deleteOne: Statement;
  private readonly selectOne: Statement<{ qos: number; payload: Uint8Array }>;
  private readonly selectAll: Statement<ScanRow>;

  /** Opens (creating if needed) `file`; throws an Error saying what is wrong and where. */
  constructor(readonly file: string) {
    try {
      this.db = new Database(file, { create: true, strict: true });
    } catch (error) {
      throw new Error(`cannot open the retained message store ${file}: ${describe(error)}`);
    }
    try {
      this.db.exec("PRAGMA locking_mode = EXCLUSIVE");
      this.db.exec("PRAGMA journal_mode = WAL");
      this.db.exec("PRAGMA synchronous = NORMAL");
      const version = (this.db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
      if (version === 0) {
        this.db.exec(
          "CREATE TABLE IF NOT EXISTS retained (" +
            "vhost TEXT NOT NULL, topic TEXT NOT NULL, qos INTEGER NOT NULL, payload BLOB NOT NULL, " +
            "PRIMARY KEY (vhost, topic))",
        );
        this.db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      } else if (version !== SCHEMA_VERSION) {
        throw new Error(`its layout version is ${version}, this adapter knows version ${SCHEMA_VERSION} (written by a newer adapter?)`);
      }
      this.upsert = this.db.prepare(
        "INSERT INTO retained (vhost, topic, qos, payload) VALUES (?, ?, ?, ?) " +
          "ON CONFLICT (vhost, topic) DO UPDATE SET qos = excluded.qos, payload = excluded.payload",
      );
      this.deleteOne = this.db.prepare("DELETE FROM retained WHERE vhost = ? AND topic = ?");
      this.selectOne = this.db.prepare("SELECT qos, payload FROM retained WHERE vhost = ? AND topic = ?");
      this.selectAll = this.db.prepare("SELECT vhost, topic, qos, length(payload) AS bytes FROM retained");
    } catch (error) {
      this.db.close();
      const text = describe(error);
      const hint = /locked|busy/i.test(text) ? " (is another rabbitmq-mqtt process using this adapter.retained.dir?)" : "";
      throw new Error(`cannot use the retained message store ${file}: ${text}${hint}`);
    }
  }

  scan(): Iterable<{ vhost: string; topic: string; qos: QoS; bytes: number }> {
    return this.selectAll.all().map((row) => ({ vhost: row.vhost, topic: row.topic, qos: clampQos(row.qos), bytes: row.bytes }));
  }

  write(vhost: string, topic: string, qos: QoS, payload: Uint8Array): void {
    this.upsert.run(vhost, topic, qos, payload);
  }

  remove(vhost: string, topic: string): void {
    this.deleteOne.run(vhost, topic);
  }

  read(vhost: string, topic: string): { qos: QoS; payload: Uint8Array } | undefined {
    const row = this.selectOne.get(vhost, topic);
    return row === null ? undefined : { qos: clampQos(row.qos), payload: row.payload };
  }

  close(): void {
    this.upsert.finalize();
    this.deleteOne.finalize();
    this.selectOne.finalize();
    this.selectAll.finalize();
    this.db.close();
  }
}

/** Options of {@link openSqliteRetainedStore}: `adapter.retained.*`. */
export interface SqliteRetainedStoreOptions extends RetainedLimits {
  /** `adapter.retained.dir`; created if missing. */
  dir: string;
  log: Logger;
  /** The clock of the "store full" log rate limit, ms; Date.now by default (tests pass their own). */
  now?: () => number;
}

/**
 * Opens the embedded store in `options.dir` and indexes what it holds; throws an Error with a
 * message for the operator when the directory or file cannot be used (a fatal startup problem).
 */
export function openSqliteRetainedStore(options: SqliteRetainedStoreOptions): IndexedRetainedStore {
  try {
    mkdirSync(options.dir, { recursive: true });
  } catch (error) {
    throw new Error(`cannot create adapter.retained.dir ${options.dir}: ${describe(error)}`);
  }
  const startedMs = performance.now();
  const storage = new SqlitePayloadStorage(join(options.dir, RETAINED_FILE_NAME));
  let store: IndexedRetainedStore;
  try {
    store = new IndexedRetainedStore(storage, { maxCount: options.maxCount, maxBytes: options.maxBytes }, options.log, options.now);
  } catch (error) {
    storage.close();
    throw new Error(`cannot read the retained message store ${storage.file}: ${describe(error)}`);
  }
  options.log.info(
    `retained message store ${storage.file}: ${store.count} messages, ${store.bytes} payload bytes ` +
      `(limits ${options.maxCount} messages, ${options.maxBytes} bytes), indexed in ${Math.round(performance.now() - startedMs)} ms`,
  );
  if (store.count > options.maxCount || store.bytes > options.maxBytes) {
    options.log.warning(
      `the retained message store holds more than its limits allow (limits lowered since it was written?): ` +
        `all ${store.count} messages are kept and served, new topics are refused until it is below the limits again`,
    );
  }
  return store;
}

/** A stored QoS outside 0..2 can only come from a file edited by hand: deliver at most QoS 2. */
function clampQos(qos: number): QoS {
  return (qos <= 0 ? 0 : qos >= 2 ? 2 : 1) as QoS;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
