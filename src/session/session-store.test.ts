import { describe, expect, test } from "bun:test";
import { MemorySessionStore, createSessionState } from "./index.ts";

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
