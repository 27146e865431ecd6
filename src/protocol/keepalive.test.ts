import { describe, expect, test } from "bun:test";
import { KeepaliveClock, keepaliveLimitMs, loginTimedOut } from "./keepalive.ts";

describe("keepalive", () => {
  test("the limit is 1.5 × Keep Alive [MQTT-3.1.2-24]", () => {
    expect(keepaliveLimitMs(10)).toBe(15_000);
    expect(keepaliveLimitMs(0)).toBeUndefined();
  });

  test("expires only after more than 1.5 × Keep Alive without a packet [MQTT-3.1.2-24]", () => {
    const clock = new KeepaliveClock(2, 1000);
    expect(clock.isExpired(4000)).toBe(false);
    expect(clock.isExpired(4001)).toBe(true);
    clock.packetReceived(3500);
    expect(clock.isExpired(4001)).toBe(false);
    expect(clock.isExpired(6501)).toBe(true);
  });

  test("Keep Alive 0 never expires", () => {
    expect(new KeepaliveClock(0, 0).isExpired(Number.MAX_SAFE_INTEGER)).toBe(false);
  });

  test("login timeout counts from the connection's opening", () => {
    expect(loginTimedOut(1000, 10_999, 10_000)).toBe(false);
    expect(loginTimedOut(1000, 11_000, 10_000)).toBe(true);
  });
});
