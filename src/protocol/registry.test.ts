import { describe, expect, test } from "bun:test";
import { ClientRegistry, type RegisteredClient } from "./registry.ts";

const client = (): RegisteredClient => ({ takeOver: async () => {} });

describe("ClientRegistry", () => {
  test("a second claim of the same id in the same vhost returns the first holder [MQTT-3.1.4-2]", () => {
    const registry = new ClientRegistry();
    const first = client();
    const second = client();
    expect(registry.claim("/", "c", first)).toBeUndefined();
    expect(registry.claim("/", "c", second)).toBe(first);
    expect(registry.lookup("/", "c")).toBe(second);
  });

  test("the same id in another vhost is another client", () => {
    const registry = new ClientRegistry();
    registry.claim("/", "c", client());
    expect(registry.claim("other", "c", client())).toBeUndefined();
    expect(registry.size).toBe(2);
  });

  test("release by a displaced connection leaves its successor registered", () => {
    const registry = new ClientRegistry();
    const first = client();
    const second = client();
    registry.claim("/", "c", first);
    registry.claim("/", "c", second);
    registry.release("/", "c", first);
    expect(registry.lookup("/", "c")).toBe(second);
    registry.release("/", "c", second);
    expect(registry.size).toBe(0);
  });

  test("claiming again by the holder displaces nobody", () => {
    const registry = new ClientRegistry();
    const first = client();
    registry.claim("/", "c", first);
    expect(registry.claim("/", "c", first)).toBeUndefined();
  });
});
