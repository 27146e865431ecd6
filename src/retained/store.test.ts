import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../log.ts";
import {
  createMemoryRetainedStore,
  IndexedRetainedStore,
  LOG_INTERVAL_MS,
  MemoryPayloadStorage,
  openSqliteRetainedStore,
  RETAINED_FILE_NAME,
  type PayloadStorage,
  type RetainedLimits,
} from "./index.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const LIMITS: RetainedLimits = { maxCount: 1000, maxBytes: 1 << 20 };

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "retained-test-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

type Opened = { store: IndexedRetainedStore; log: ReturnType<typeof createMemoryLogger>; reopen(): IndexedRetainedStore };

/** The same behaviour table runs against both payload storages. */
const STORAGES: Array<[name: string, open: (limits?: RetainedLimits, now?: () => number) => Opened]> = [
  [
    "memory",
    (limits = LIMITS, now) => {
      const log = createMemoryLogger("debug");
      const storage = new MemoryPayloadStorage();
      return { store: createMemoryRetainedStore(limits, log, storage, now), log, reopen: () => createMemoryRetainedStore(limits, log, storage, now) };
    },
  ],
  [
    "sqlite",
    (limits = LIMITS, now) => {
      const log = createMemoryLogger("debug");
      const dir = tempDir();
      const open = () => openSqliteRetainedStore({ dir, ...limits, log, now });
      let store = open();
      return {
        store,
        log,
        reopen: () => {
          store.close();
          store = open();
          return store;
        },
      };
    },
  ],
];

for (const [name, open] of STORAGES) {
  describe(`IndexedRetainedStore over ${name} storage`, () => {
    test("stores the last message per topic and per vhost; get returns it with its QoS", async () => {
      const { store } = open();
      expect(await store.put("/", "a/b", enc.encode("one"), 1)).toEqual({ kind: "stored" });
      expect(await store.put("/", "a/b", enc.encode("two"), 2)).toEqual({ kind: "stored" });
      expect(await store.put("iot", "a/b", enc.encode("other vhost"), 0)).toEqual({ kind: "stored" });
      const got = await store.get("/", "a/b");
      expect({ ...got, payload: dec.decode(got!.payload) }).toEqual({ topic: "a/b", qos: 2, payload: "two" });
      expect(dec.decode((await store.get("iot", "a/b"))!.payload)).toBe("other vhost");
      expect([store.count, store.bytes]).toEqual([2, 14]);
      expect(await store.get("/", "a/c")).toBeUndefined();
    });

    test("an empty payload deletes the topic's message [MQTT-3.3.1-10] [MQTT-3.3.1-11]", async () => {
      const { store } = open();
      await store.put("/", "a/b", enc.encode("x"), 1);
      expect(await store.put("/", "a/b", new Uint8Array(0), 1)).toEqual({ kind: "deleted" });
      expect(await store.get("/", "a/b")).toBeUndefined();
      expect(await store.match("/", "#")).toEqual([]);
      expect(await store.put("/", "never/there", new Uint8Array(0), 0)).toEqual({ kind: "deleted" });
      expect(store.count).toBe(0);
    });

    test("copies the payload at put: changing the caller's bytes afterwards changes nothing", async () => {
      const { store } = open();
      const buffer = enc.encode("xxhelloxx");
      await store.put("/", "t", buffer.subarray(2, 7), 0);
      buffer.fill(0);
      expect(dec.decode((await store.get("/", "t"))!.payload)).toBe("hello");
    });

    test("match finds wildcard matches with their stored QoS, `$` topics only for `$` filters", async () => {
      const { store } = open();
      await store.put("/", "home/kitchen/temp", enc.encode("21"), 1);
      await store.put("/", "home/hall/temp", enc.encode("19"), 0);
      await store.put("/", "$SYS/uptime", enc.encode("5"), 0);
      const refs = (await store.match("/", "home/+/temp")).map((r) => ({ topic: r.topic, qos: r.qos })).sort((x, y) => x.topic.localeCompare(y.topic));
      expect(refs).toEqual([
        { topic: "home/hall/temp", qos: 0 },
        { topic: "home/kitchen/temp", qos: 1 },
      ]);
      expect((await store.match("/", "#")).length).toBe(2);
      expect((await store.match("/", "$SYS/#")).map((r) => r.topic)).toEqual(["$SYS/uptime"]);
    });

    test("a reopened store has every message (survives a restart)", async () => {
      const opened = open();
      await opened.store.put("/", "keep/me", enc.encode("kept"), 2);
      await opened.store.put("/", "gone", enc.encode("x"), 1);
      await opened.store.put("/", "gone", new Uint8Array(0), 1);
      const store = opened.reopen();
      expect([store.count, store.bytes]).toEqual([1, 4]);
      expect((await store.match("/", "keep/#")).map((r) => [r.topic, r.qos])).toEqual([["keep/me", 2]]);
      expect(dec.decode((await store.get("/", "keep/me"))!.payload)).toBe("kept");
    });

    test("max_count: a new topic is refused, a stored one may still be replaced, nothing stored is lost", async () => {
      const { store, log } = open({ maxCount: 2, maxBytes: 1000 });
      await store.put("/", "a", enc.encode("1"), 0);
      await store.put("/", "b", enc.encode("2"), 0);
      const refused = await store.put("/", "c", enc.encode("3"), 0);
      expect(refused).toMatchObject({ kind: "refused", droppedPrevious: false });
      expect(await store.put("/", "a", enc.encode("1 again"), 1)).toEqual({ kind: "stored" });
      expect((await store.match("/", "#")).map((r) => r.topic).sort()).toEqual(["a", "b"]);
      expect(log.lines.filter((l) => l.includes("[warning]"))).toEqual([
        expect.stringContaining(
          'retained message store is full (adapter.retained.max_count = 2 messages reached): not retaining the message for topic "c" in vhost "/"; stored messages are kept, new topics are refused',
        ),
      ]);
    });

    test("max_bytes: a replacement that does not fit deletes the stale previous message (and says so)", async () => {
      const { store, log } = open({ maxCount: 10, maxBytes: 10 });
      await store.put("/", "a", enc.encode("12345"), 0);
      await store.put("/", "b", enc.encode("123"), 0);
      expect(await store.put("/", "a", enc.encode("1234567"), 0)).toEqual({ kind: "stored" }); // 7 + 3 = 10 fits
      const refused = await store.put("/", "a", enc.encode("12345678"), 0);
      expect(refused).toMatchObject({ kind: "refused", droppedPrevious: true });
      expect(await store.get("/", "a")).toBeUndefined();
      expect([store.count, store.bytes]).toEqual([1, 3]);
      expect(log.lines.some((l) => l.includes("max_bytes = 10 bytes would be exceeded") && l.includes("deleted rather than kept stale"))).toBe(true);
    });

    test("refusals are logged at once, then at most once per interval with a count", async () => {
      let nowMs = 0;
      const { store, log } = open({ maxCount: 1, maxBytes: 1000 }, () => nowMs);
      await store.put("/", "first", enc.encode("x"), 0);
      for (let i = 0; i < 5; i++) await store.put("/", `t${i}`, enc.encode("x"), 0);
      nowMs += LOG_INTERVAL_MS;
      await store.put("/", "later", enc.encode("x"), 0);
      const warnings = log.lines.filter((l) => l.includes("[warning]"));
      expect(warnings.length).toBe(2);
      expect(warnings[0]).toContain('topic "t0"');
      expect(warnings[1]).toContain('topic "later"');
      expect(warnings[1]).toContain("(4 more refused since the last such line)");
    });
  });
}

describe("the SQLite store on disk", () => {
  test("a second process-level open of the same directory is refused with a clear message", () => {
    const dir = tempDir();
    const log = createMemoryLogger("debug");
    const first = openSqliteRetainedStore({ dir, ...LIMITS, log });
    try {
      expect(() => openSqliteRetainedStore({ dir, ...LIMITS, log })).toThrow(/another rabbitmq-mqtt process using this adapter.retained.dir/);
    } finally {
      first.close();
    }
  });

  test("an unusable directory or file is a clear startup error, not a crash", () => {
    const dir = tempDir();
    const notADir = join(dir, "file");
    writeFileSync(notADir, "x");
    const log = createMemoryLogger("debug");
    expect(() => openSqliteRetainedStore({ dir: join(notADir, "sub"), ...LIMITS, log })).toThrow(/cannot create adapter.retained.dir .*file\/sub/);
    const garbage = tempDir();
    writeFileSync(join(garbage, RETAINED_FILE_NAME), "this is not an SQLite database, just text long enough to look like one".repeat(20));
    expect(() => openSqliteRetainedStore({ dir: garbage, ...LIMITS, log })).toThrow(/retained message store .*retained.sqlite/);
  });

  test("logs what it loaded at start, and warns when it holds more than lowered limits allow", async () => {
    const dir = tempDir();
    const log = createMemoryLogger("debug");
    const store = openSqliteRetainedStore({ dir, ...LIMITS, log });
    await store.put("/", "a", enc.encode("1"), 0);
    await store.put("/", "b", enc.encode("2"), 0);
    store.close();
    openSqliteRetainedStore({ dir, maxCount: 1, maxBytes: 100, log }).close();
    expect(log.lines.some((l) => l.includes(`retained message store ${join(dir, RETAINED_FILE_NAME)}: 2 messages, 2 payload bytes`))).toBe(true);
    expect(log.lines.some((l) => l.includes("[warning]") && l.includes("all 2 messages are kept and served, new topics are refused"))).toBe(true);
  });

  test("a storage failure (disk full, I/O error) refuses as a value with an error line; nothing changes", async () => {
    const rows = new MemoryPayloadStorage();
    let failing = false;
    const flaky: PayloadStorage = {
      scan: () => rows.scan(),
      write: (...args) => {
        if (failing) throw new Error("disk I/O error");
        rows.write(...args);
      },
      remove: (...args) => {
        if (failing) throw new Error("disk I/O error");
        rows.remove(...args);
      },
      read: (...args) => rows.read(...args),
      close: () => {},
    };
    const log = createMemoryLogger("debug");
    const store = new IndexedRetainedStore(flaky, LIMITS, log);
    await store.put("/", "kept", enc.encode("old"), 1);
    failing = true;
    expect(await store.put("/", "a", enc.encode("x"), 1)).toMatchObject({ kind: "refused", reason: expect.stringContaining("disk I/O error") });
    expect(await store.put("/", "kept", new Uint8Array(0), 1)).toMatchObject({ kind: "refused" });
    expect(store.count).toBe(1);
    expect(dec.decode((await store.get("/", "kept"))!.payload)).toBe("old");
    expect(log.lines.some((l) => l.includes("[error]") && l.includes('could not store it: disk I/O error (topic "a" in vhost "/")'))).toBe(true);
  });
});

test("a closed store refuses, finds and returns nothing, and never throws (a connection outliving shutdown)", async () => {
  const store = createMemoryRetainedStore(LIMITS, createMemoryLogger("debug"));
  await store.put("/", "a", enc.encode("x"), 1);
  store.close();
  expect(await store.put("/", "b", enc.encode("x"), 1)).toMatchObject({ kind: "refused", reason: expect.stringContaining("closed") });
  expect(await store.match("/", "#")).toEqual([]);
  expect(await store.get("/", "a")).toBeUndefined();
  store.close();
});
