import { afterEach, describe, expect, test } from "bun:test";
import { createMemoryLogger } from "../log.ts";
import { startMetricsEndpoint, type RunningMetricsEndpoint } from "./endpoint.ts";

let running: RunningMetricsEndpoint | undefined;
afterEach(() => {
  running?.stop();
  running = undefined;
});

describe("metrics endpoint (loopback HTTP)", () => {
  test("GET /metrics answers the freshly rendered text with Prometheus' content type; the URL is logged", async () => {
    const log = createMemoryLogger();
    let scrapes = 0;
    running = startMetricsEndpoint({ host: "127.0.0.1", port: 0, log, render: () => `x_total ${++scrapes}\n` });
    expect(running.url).toBe(`http://127.0.0.1:${running.port}/metrics`);
    expect(log.lines.some((line) => line.endsWith(`started Prometheus metrics endpoint on ${running!.url}`))).toBe(true);
    const first = await fetch(running.url);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await first.text()).toBe("x_total 1\n");
    expect(await (await fetch(running.url)).text()).toBe("x_total 2\n");
  });

  test.each<[string, string, number, string]>([
    ["GET", "/", 404, "metrics are at /metrics"],
    ["GET", "/metrics/extra", 404, "nothing at /metrics/extra"],
    ["POST", "/metrics", 405, "POST is not allowed on /metrics"],
  ])("%s %s answers %d", async (method, path, status, text) => {
    running = startMetricsEndpoint({ host: "127.0.0.1", port: 0, log: createMemoryLogger(), render: () => "" });
    const response = await fetch(`http://127.0.0.1:${running.port}${path}`, { method });
    expect(response.status).toBe(status);
    expect(await response.text()).toContain(text);
  });

  test("a render that throws answers 500 and logs the bug, and the endpoint keeps serving", async () => {
    const log = createMemoryLogger();
    let fail = true;
    running = startMetricsEndpoint({ host: "127.0.0.1", port: 0, log, render: () => {
      if (fail) throw new Error("boom");
      return "ok 1\n";
    } });
    expect((await fetch(running.url)).status).toBe(500);
    expect(log.lines.some((line) => line.includes("[error] rendering metrics failed (a bug): Error: boom"))).toBe(true);
    fail = false;
    expect(await (await fetch(running.url)).text()).toBe("ok 1\n");
  });

  test("a port already in use is a startup error naming the keys", () => {
    running = startMetricsEndpoint({ host: "127.0.0.1", port: 0, log: createMemoryLogger(), render: () => "" });
    expect(() => startMetricsEndpoint({ host: "127.0.0.1", port: running!.port, log: createMemoryLogger(), render: () => "" })).toThrow(
      `cannot start the metrics endpoint on 127.0.0.1:${running.port} (adapter.metrics.ip / adapter.metrics.port)`,
    );
  });
});
