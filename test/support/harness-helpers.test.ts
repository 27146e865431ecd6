/**
 * The harness's own pure and socket-level pieces, without a broker: URL redaction, unique
 * names, the AMQP probe's failure reasons, and teardown ordering.
 */
import { describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { probeAmqp, redactUrl } from "./amqp-probe.ts";
import { uniqueName } from "./broker.ts";
import { TeardownRegistry } from "./teardown.ts";

describe("redactUrl", () => {
  test.each([
    ["amqp://guest:guest@127.0.0.1:5672", "amqp://guest:***@127.0.0.1:5672"],
    ["amqp://user:p%40ss@host/vh", "amqp://user:***@host/vh"],
    ["amqp://127.0.0.1:5672", "amqp://127.0.0.1:5672"],
    ["not a url", "<unparseable URL>"],
  ])("%s -> %s", (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});

describe("uniqueName", () => {
  test("never repeats and uses only characters safe in queue names, vhosts, topics and client ids", () => {
    const names = Array.from({ length: 2000 }, () => uniqueName("c"));
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^c-[a-z0-9]+$/);
  });

  test("with a one-letter prefix fits MQTT 3.1's 23-character client id limit", () => {
    expect(uniqueName("c").length).toBeLessThanOrEqual(23);
  });
});

/** A loopback TCP server running `onConnection`; closed by the returned function. */
async function withServer(onConnection: ((socket: Socket) => void) | undefined, run: (port: number) => Promise<void>): Promise<void> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    onConnection?.(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await run((server.address() as { port: number }).port);
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
  }
}

describe("probeAmqp reports why a URL is not a working AMQP broker", () => {
  test("nothing listening: connection refused", async () => {
    let port = 0;
    await withServer(() => {}, async (freePort) => {
      port = freePort;
    });
    const result = await probeAmqp(`amqp://guest:guest@127.0.0.1:${port}`, 2_000);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain("ECONNREFUSED");
  });

  test("a server that answers something else and hangs up", async () => {
    await withServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"), async (port) => {
      const result = await probeAmqp(`amqp://guest:guest@127.0.0.1:${port}`, 2_000);
      expect(result.ok).toBe(false);
    });
  });

  test("a server that accepts and never speaks: gives up after the timeout", async () => {
    await withServer(() => {}, async (port) => {
      const result = await probeAmqp(`amqp://guest:guest@127.0.0.1:${port}`, 300);
      expect(result).toEqual({ ok: false, reason: "no AMQP handshake within 300 ms" });
    });
  });
});

describe("TeardownRegistry", () => {
  test("runs teardowns newest first, keeps going past failures, then reports every failure", async () => {
    const registry = new TeardownRegistry();
    const ran: string[] = [];
    registry.register("broker", () => void ran.push("broker"));
    registry.register("bad one", () => {
      ran.push("bad one");
      throw new Error("boom");
    });
    registry.register("connection", async () => void ran.push("connection"));
    await expect(registry.runAll()).rejects.toThrow("bad one: boom");
    expect(ran).toEqual(["connection", "bad one", "broker"]);
    await registry.runAll(); // already ran: nothing left, no error
    expect(ran).toHaveLength(3);
  });
});
