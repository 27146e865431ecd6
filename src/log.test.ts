import { describe, expect, test } from "bun:test";
import { createLogger, createMemoryLogger, type LogLevel } from "./log.ts";

describe("log levels", () => {
  test.each<[LogLevel, string[]]>([
    ["debug", ["debug", "info", "warning", "error"]],
    ["info", ["info", "warning", "error"]],
    ["warning", ["warning", "error"]],
    ["error", ["error"]],
  ])("at %s, these levels are written: %p", (level, written) => {
    const log = createMemoryLogger(level);
    log.debug("d");
    log.info("i");
    log.warning("w");
    log.error("e");
    expect(log.lines.map((line) => /\[(\w+)\]/.exec(line)?.[1])).toEqual(written);
  });

  test("setLevel on the root changes children made before and after it (SIGHUP reload)", () => {
    const log = createMemoryLogger("info");
    const before = log.child("conn 1");
    expect(before.debugEnabled).toBe(false);
    before.debug("hidden");
    log.setLevel("debug");
    expect(log.level).toBe("debug");
    expect(before.debugEnabled).toBe(true);
    before.debug("shown");
    log.child("conn 2").child("client c").debug("nested");
    log.setLevel("error");
    before.warning("hidden too");
    expect(log.lines).toHaveLength(2);
    expect(log.lines[0]).toMatch(/\[debug\] <conn 1> shown$/);
    expect(log.lines[1]).toMatch(/\[debug\] <conn 2 client c> nested$/);
  });

  test("lines carry RabbitMQ's timestamp shape and the level in brackets", () => {
    const lines: string[] = [];
    createLogger("info", (_level, line) => lines.push(line)).info("started MQTT TCP Listener on [::]:1883");
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00 \[info\] started MQTT TCP Listener on \[::\]:1883$/);
  });
});
