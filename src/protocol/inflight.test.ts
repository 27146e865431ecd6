import { describe, expect, test } from "bun:test";
import { InboundInflight, OutboundInflight, type OutboundEntry } from "./inflight.ts";

/** Delivery tags are opaque objects (or numbers) to the protocol layer. */
const t1 = { tag: 1 };
const t2 = { tag: 2 };
const t3 = { tag: 3 };

/** An outbound entry for a live delivery awaiting PUBACK. */
const live = (tag: object | number): OutboundEntry => ({ state: "awaiting-puback", tag, retained: false });

describe("OutboundInflight", () => {
  test("allocates packet ids from 1 and never hands out an id in use [MQTT-2.3.1-2]", () => {
    const table = new OutboundInflight();
    expect(table.add(live(t1))).toBe(1);
    expect(table.add(live(t2))).toBe(2);
    expect(table.get(1)?.tag).toBe(t1);
    table.delete(1);
    // Round robin: the freed id 1 is not reused at once.
    expect(table.add(live(t3))).toBe(3);
    expect(table.size).toBe(2);
  });

  test("wraps from 65535 to 1, skipping ids still in flight", () => {
    const table = new OutboundInflight();
    expect(table.add(live(t1))).toBe(1);
    for (let i = 2; i <= 65535; i++) table.add(live(i));
    expect(table.add(live(t2))).toBeUndefined();
    table.delete(3);
    expect(table.add(live(t3))).toBe(3);
  });

  test("an unknown packet id yields no entry", () => {
    const table = new OutboundInflight();
    table.add(live(t1));
    expect(table.get(42)).toBeUndefined();
    expect(table.size).toBe(1);
  });

  test("a reserved id (a PUBREL resent after reconnect) is skipped by allocation [MQTT-4.4.0-1]", () => {
    const table = new OutboundInflight();
    table.reserve(1, { state: "awaiting-pubcomp", tag: undefined, retained: false });
    expect(table.add(live(t1))).toBe(2);
    expect([...table.all()].map(([id, entry]) => [id, entry.state])).toEqual([
      [1, "awaiting-pubcomp"],
      [2, "awaiting-puback"],
    ]);
  });
});

describe("InboundInflight", () => {
  test("answers leave in arrival order even when the broker confirms out of order [MQTT-4.6.0-2]", () => {
    const table = new InboundInflight();
    const a = table.add(1, 1, "t");
    const b = table.add(2, 1, "t");
    b.outcome = null;
    expect(table.shiftAnswered()).toBeUndefined();
    a.outcome = null;
    expect(table.shiftAnswered()).toBe(a);
    expect(table.shiftAnswered()).toBe(b);
    expect(table.size).toBe(0);
  });

  test("remembers QoS 2 packet ids until their answer leaves", () => {
    const table = new InboundInflight();
    const entry = table.add(7, 2, "t");
    expect(table.hasPendingQos2(7)).toBe(true);
    entry.outcome = null;
    table.shiftAnswered();
    expect(table.hasPendingQos2(7)).toBe(false);
  });

  test("whenAnswered waits for every pending publish", async () => {
    const table = new InboundInflight();
    let resolve!: () => void;
    const entry = table.add(1, 1, "t");
    entry.done = new Promise<void>((r) => (resolve = r));
    let answered = false;
    const waiting = table.whenAnswered().then(() => (answered = true));
    await Promise.resolve();
    expect(answered).toBe(false);
    resolve();
    await waiting;
    expect(answered).toBe(true);
  });
});
