import { describe, expect, test } from "bun:test";
import { ECHO_LEDGER_MAX, ECHO_LEDGER_MAX_BYTES, ECHO_TIMEOUT_MS, EchoLedger } from "./echo-ledger.ts";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A ledger on a clock the test moves. */
function ledgerAt(start = 1_000): { ledger: EchoLedger; advance(ms: number): void } {
  let now = start;
  return { ledger: new EchoLedger(() => now), advance: (ms) => (now += ms) };
}

describe("EchoLedger", () => {
  test("an echo is recognised by routing key, payload bytes and QoS, once", () => {
    const { ledger } = ledgerAt();
    expect(ledger.expect("a.b", bytes("one"), 0, undefined)).toBeDefined();
    expect(ledger.take("a.c", bytes("one"), 0)).toBeUndefined();
    expect(ledger.take("a.b", bytes("two"), 0)).toBeUndefined();
    expect(ledger.take("a.b", bytes("one"), 1)).toBeUndefined();
    expect(ledger.take("a.b", bytes("one"), 0)).toBeDefined();
    expect(ledger.take("a.b", bytes("one"), 0)).toBeUndefined();
    expect(ledger.size).toBe(0);
  });

  test("the payload is copied: the caller's buffer may be reused at once", () => {
    const { ledger } = ledgerAt();
    const decoderMemory = bytes("first");
    ledger.expect("k", decoderMemory, 0, undefined);
    decoderMemory.set(bytes("xxxxx"));
    expect(ledger.take("k", bytes("xxxxx"), 0)).toBeUndefined();
    expect(ledger.take("k", bytes("first"), 0)).toBeDefined();
  });

  test("equal messages are taken one per echo, whichever arrives first", () => {
    const { ledger } = ledgerAt();
    let seen = 0;
    ledger.expect("k", bytes("same"), 0, () => seen++);
    ledger.expect("k", bytes("other"), 0, undefined);
    ledger.expect("k", bytes("same"), 0, () => seen++);
    expect(ledger.take("k", bytes("other"), 0)?.onSeen).toBeUndefined();
    ledger.take("k", bytes("same"), 0)?.onSeen?.(true);
    ledger.take("k", bytes("same"), 0)?.onSeen?.(true);
    expect(seen).toBe(2);
    expect(ledger.take("k", bytes("same"), 0)).toBeUndefined();
  });

  test("an echo that does not come is forgotten after the timeout, its onSeen(false) called", () => {
    const { ledger, advance } = ledgerAt();
    let seen = 0;
    ledger.expect("k", bytes("lost"), 0, (arrived) => {
      expect(arrived).toBe(false);
      seen++;
    });
    advance(ECHO_TIMEOUT_MS - 1);
    ledger.expect("k", bytes("later"), 0, undefined);
    ledger.sweep();
    expect(ledger.size).toBe(2);
    advance(1);
    ledger.sweep();
    expect(seen).toBe(1);
    expect(ledger.size).toBe(1);
    // take() forgets expired entries of its key as it goes.
    advance(ECHO_TIMEOUT_MS);
    expect(ledger.take("k", bytes("later"), 0)).toBeUndefined();
    expect(ledger.size).toBe(0);
  });

  test("a withdrawn echo is forgotten at once (onSeen(false)); withdrawing twice or after its arrival does nothing", () => {
    const { ledger } = ledgerAt();
    const calls: boolean[] = [];
    const discarded = ledger.expect("k", bytes("same"), 0, (arrived) => calls.push(arrived))!;
    const arrives = ledger.expect("k", bytes("same"), 0, (arrived) => calls.push(arrived))!;
    ledger.withdraw(discarded);
    ledger.withdraw(discarded);
    expect(calls).toEqual([false]);
    expect(ledger.take("k", bytes("same"), 0)).toBe(arrives);
    ledger.withdraw(arrives);
    expect(calls).toEqual([false]);
    // A later equal message is not taken for the withdrawn one.
    expect(ledger.take("k", bytes("same"), 0)).toBeUndefined();
    expect(ledger.size).toBe(0);
  });

  test("thousands in flight on one key, taken mostly from the front: each found once, out-of-order ones too", () => {
    const { ledger } = ledgerAt();
    const entries = Array.from({ length: 5000 }, (_, i) => ledger.expect("k", bytes(String(i)), 0, undefined)!);
    expect(ledger.take("k", bytes("2500"), 0)).toBe(entries[2500]!); // from the middle
    ledger.withdraw(entries[4000]!);
    for (let i = 0; i < 5000; i++) {
      if (i === 2500 || i === 4000) continue;
      expect(ledger.take("k", bytes(String(i)), 0)).toBe(entries[i]!);
    }
    expect(ledger.size).toBe(0);
    expect(ledger.take("k", bytes("4000"), 0)).toBeUndefined();
    expect(ledger.expect("k", bytes("again"), 0, undefined)).toBeDefined();
    expect(ledger.take("k", bytes("again"), 0)).toBeDefined();
  });

  test("clear() forgets everything and calls every onSeen(false) once", () => {
    const { ledger } = ledgerAt();
    let seen = 0;
    ledger.expect("a", bytes("1"), 0, (arrived) => (seen += arrived ? 100 : 1));
    ledger.expect("b", bytes("2"), 0, (arrived) => (seen += arrived ? 100 : 1));
    ledger.expect("b", bytes("3"), 0, undefined);
    ledger.clear();
    expect(seen).toBe(2);
    expect(ledger.size).toBe(0);
    expect(ledger.take("b", bytes("3"), 0)).toBeUndefined();
  });

  test("full at its payload byte bound: a message that would pass it is refused, smaller ones still fit, taking frees the bytes", () => {
    const { ledger } = ledgerAt();
    const big = new Uint8Array(ECHO_LEDGER_MAX_BYTES - 10);
    expect(ledger.expect("k", big, 0, undefined)).toBeDefined();
    expect(ledger.expect("k", new Uint8Array(11), 0, undefined)).toBeUndefined();
    expect(ledger.expect("k", new Uint8Array(10), 0, undefined)).toBeDefined();
    expect(ledger.take("k", big, 0)).toBeDefined();
    expect(ledger.expect("k", new Uint8Array(1024 * 1024), 0, undefined)).toBeDefined();
    ledger.clear();
    expect(ledger.expect("k", big, 0, undefined)).toBeDefined();
    ledger.clear();
  });

  test(`full at ${ECHO_LEDGER_MAX} entries: expect() refuses instead of growing`, () => {
    const { ledger } = ledgerAt();
    for (let i = 0; i < ECHO_LEDGER_MAX; i++) expect(ledger.expect("k", bytes(String(i)), 0, undefined)).toBeDefined();
    expect(ledger.expect("k", bytes("one more"), 0, undefined)).toBeUndefined();
    expect(ledger.size).toBe(ECHO_LEDGER_MAX);
    expect(ledger.take("k", bytes("0"), 0)).toBeDefined();
    expect(ledger.expect("k", bytes("one more"), 0, undefined)).toBeDefined();
    ledger.clear();
  });
});
