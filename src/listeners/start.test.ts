import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfSignedCa } from "../auth/test-helpers.ts";
import { buildDefaults, type AdapterConfig } from "../config/index.ts";
import { createMemoryLogger } from "../log.ts";
import { startListeners } from "./start.ts";
import type { RunningListener } from "./tcp.ts";

// A self-signed certificate is enough to bind TLS listeners (no client verifies it here).
const dir = mkdtempSync(join(tmpdir(), "start-test-"));
const { certPem, keyPem } = selfSignedCa("localhost");
writeFileSync(join(dir, "cert.pem"), certPem);
writeFileSync(join(dir, "key.pem"), keyPem);
const tls = { ...buildDefaults().tls, certfile: join(dir, "cert.pem"), keyfile: join(dir, "key.pem") };

function config(overrides: Partial<AdapterConfig["webMqtt"]> = {}): AdapterConfig {
  const defaults = buildDefaults();
  return {
    ...defaults,
    tcpListeners: [{ host: "127.0.0.1", port: 0 }],
    sslListeners: [{ host: "127.0.0.1", port: 0 }],
    tls,
    webMqtt: { ...defaults.webMqtt, tcpListener: { host: "127.0.0.1", port: 0 }, sslListener: { host: "127.0.0.1", port: 0 }, ssl: tls, ...overrides },
  };
}

const never = () => {
  throw new Error("no client connects in these tests");
};

let started: RunningListener[] = [];
afterEach(() => {
  for (const listener of started) listener.stop();
  started = [];
});

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

describe("startListeners", () => {
  test("binds TCP, TLS, WebSocket and secure WebSocket in that order, one start line each", () => {
    const log = createMemoryLogger("info");
    started = startListeners(config(), log, never);
    expect(started.map((l) => l.protocol)).toEqual(["mqtt", "mqtt/ssl", "http/web-mqtt", "https/web-mqtt"]);
    const names = ["TCP", "SSL", "WebSocket", "WebSocket SSL"];
    expect(log.lines.filter((l) => l.includes("started MQTT")).map((l) => l.replace(/^.*started MQTT /, ""))).toEqual(
      started.map((l, i) => `${names[i]} Listener on 127.0.0.1:${l.port}`),
    );
  });

  test("a listener that cannot bind stops the ones already bound, then throws naming it", async () => {
    const blocker = createServer();
    const blockedPort = await new Promise<number>((resolve) => blocker.listen({ port: 0, host: "127.0.0.1" }, () => resolve((blocker.address() as { port: number }).port)));
    try {
      const log = createMemoryLogger("info");
      const attempt = () => startListeners(config({ tcpListener: { host: "127.0.0.1", port: blockedPort } }), log, never);
      expect(attempt).toThrow(`cannot start the MQTT WebSocket listener on 127.0.0.1:${blockedPort}`);
      const bound = log.lines.filter((l) => l.includes("started MQTT")).map((l) => Number(l.split(":").pop()));
      expect(bound).toHaveLength(2);
      for (const port of bound) expect(await portIsFree(port)).toBe(true);
    } finally {
      blocker.close();
    }
  });

  test("web_mqtt.proxy_protocol = true is refused at start (not supported yet)", () => {
    expect(() => startListeners(config({ proxyProtocol: true }), createMemoryLogger("info"), never)).toThrow("web_mqtt.proxy_protocol = true is not supported yet");
  });
});
