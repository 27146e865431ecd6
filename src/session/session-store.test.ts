import { describe, expect, test } from "bun:test";
import { MemorySessionStore, createSessionState, resumeSession, resumeSessionState } from "./index.ts";

describe("MemorySessionStore", () => {
  test("keeps state per (vhost, client id) and hands out the live object", () => {
    const store = new MemorySessionStore();
    const state = createSessionState();
    store.set("/", "c1", state);
    state.subscriptions.set("a/+", 1);
    expect(store.get("/", "c1")?.subscriptions.get("a/+")).toBe(1);
    expect(store.get("other", "c1")).toBeUndefined();
    expect(store.size).toBe(1);
  });

  test("the same client id in two vhosts are two sessions", () => {
    const store = new MemorySessionStore();
    store.set("a", "b:c", createSessionState());
    store.set("a:b", "c", createSessionState());
    expect(store.size).toBe(2);
    store.delete("a", "b:c");
    expect(store.get("a", "b:c")).toBeUndefined();
    expect(store.get("a:b", "c")).toBeDefined();
  });

  test("deleting an unknown session is not an error", () => {
    const store = new MemorySessionStore();
    store.delete("/", "nobody");
    expect(store.size).toBe(0);
  });
});

describe("MemorySessionStore.sweep", () => {
  test("forgets sessions idle for the TTL, keeps connected and recently seen ones", () => {
    let nowMs = 0;
    const store = new MemorySessionStore(() => nowMs);
    store.set("/", "gone", createSessionState());
    store.set("/", "online", createSessionState());
    nowMs = 500;
    store.set("/", "recent", createSessionState());
    nowMs = 1000;
    const connected = (vhost: string, clientId: string) => vhost === "/" && clientId === "online";
    expect(store.sweep(1000, connected)).toBe(1);
    expect(store.get("/", "gone")).toBeUndefined();
    expect(store.get("/", "recent")).toBeDefined();
    expect(store.size).toBe(2);
    // "online" disconnects now: its clock restarted at the last sweep, so it lives one more TTL.
    nowMs = 1999;
    expect(store.sweep(1000, () => false)).toBe(0);
    nowMs = 2000;
    expect(store.sweep(1000, () => false)).toBe(2);
    expect(store.size).toBe(0);
  });
});

describe("resumeSessionState", () => {
  test("a clean session starts empty, is not stored, and drops a stored leftover", () => {
    const store = new MemorySessionStore();
    store.set("/", "c", createSessionState());
    const state = resumeSessionState(store, "/", "c", true, false);
    expect(state.subscriptions.size).toBe(0);
    expect(store.size).toBe(0);
  });

  test("a persistent session present at the broker continues the stored state", () => {
    const store = new MemorySessionStore();
    const stored = createSessionState();
    stored.subscriptions.set("a", 0);
    store.set("/", "c", stored);
    expect(resumeSessionState(store, "/", "c", false, true)).toBe(stored);
  });

  test("a stored state whose broker session is gone is replaced by an empty one", () => {
    const store = new MemorySessionStore();
    const stale = createSessionState();
    stale.subscriptions.set("a", 1);
    store.set("/", "c", stale);
    const state = resumeSessionState(store, "/", "c", false, false);
    expect(state).not.toBe(stale);
    expect(state.subscriptions.size).toBe(0);
    expect(store.get("/", "c")).toBe(state);
  });
});

describe("resumeSession: session present and half-done QoS 2 flows", () => {
  test("a persistent publisher (no queue at the broker) with a PUBREC'd id continues its state, reported present [MQTT-4.4.0-1]", () => {
    const store = new MemorySessionStore();
    const stored = createSessionState();
    stored.awaitingPubrel.add(7);
    store.set("/", "pub", stored);
    expect(resumeSession(store, "/", "pub", false, false)).toEqual({ state: stored, sessionPresent: true });
  });

  test("a persistent publisher without half-done flows starts afresh, not present", () => {
    const store = new MemorySessionStore();
    store.set("/", "pub", createSessionState());
    const { state, sessionPresent } = resumeSession(store, "/", "pub", false, false);
    expect(sessionPresent).toBe(false);
    expect(store.get("/", "pub")).toBe(state);
  });

  test("a subscriber whose queue is gone (expired) starts afresh even with ids in flight: the whole session expired", () => {
    const store = new MemorySessionStore();
    const stale = createSessionState();
    stale.subscriptions.set("a", 2);
    stale.awaitingPubcomp.add(3);
    store.set("/", "sub", stale);
    const { state, sessionPresent } = resumeSession(store, "/", "sub", false, false);
    expect(sessionPresent).toBe(false);
    expect(state.awaitingPubcomp.size).toBe(0);
  });

  test("a clean session is never present and drops the stored ids", () => {
    const store = new MemorySessionStore();
    const stored = createSessionState();
    stored.awaitingPubrel.add(1);
    store.set("/", "c", stored);
    expect(resumeSession(store, "/", "c", true, false).sessionPresent).toBe(false);
    expect(store.size).toBe(0);
  });
});
