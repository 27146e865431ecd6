import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../log.ts";
import { askAdmin } from "./admin-client.ts";
import { startAdminSocket, type AdminHandlers, type RunningAdminSocket } from "./admin-socket.ts";
import type { ConnectionRow, StatusReport } from "./wire.ts";

const dirs: string[] = [];
const sockets: RunningAdminSocket[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "admin-test-"));
  dirs.push(dir);
  return join(dir, "admin.sock");
}

const ROW: ConnectionRow = { client_id: "c1", user: "guest", vhost: "/", protocol: "MQTT 3.1.1", peer: "127.0.0.1:5000", connected_at: "2026-01-01T00:00:00.000Z" };
const HANDLERS: AdminHandlers = {
  status: () => ({ pid: 42 }) as unknown as StatusReport,
  listConnections: () => [ROW],
};

async function start(path: string, handlers = HANDLERS, log = createMemoryLogger()): Promise<RunningAdminSocket | undefined> {
  const socket = await startAdminSocket({ path, handlers, log });
  if (socket !== undefined) sockets.push(socket);
  return socket;
}

/** Sends raw `text` and collects what comes back until the server closes or `lines` lines arrived. */
function exchange(path: string, text: string, lines: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    let received = "";
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(text));
    const done = () => {
      socket.destroy();
      resolve(received.split("\n").filter((l) => l !== ""));
    };
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (received.split("\n").length > lines) done();
    });
    socket.on("end", done);
    socket.on("error", reject);
  });
}

describe("admin socket", () => {
  test("answers status and list_connections, one JSON line per request, in order, on one connection", async () => {
    const path = tempPath();
    const log = createMemoryLogger();
    await start(path, HANDLERS, log);
    expect(log.lines.some((l) => l.includes(`admin socket listening on ${path}`))).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o660);
    const answers = await exchange(path, '{"command":"list_connections"}\n{"command":"status"}\n', 2);
    expect(answers.map((a) => JSON.parse(a))).toEqual([
      { ok: true, result: [ROW] },
      { ok: true, result: { pid: 42 } },
    ]);
  });

  test("askAdmin returns the result", async () => {
    const path = tempPath();
    await start(path);
    expect(await askAdmin<ConnectionRow[]>(path, "list_connections")).toEqual({ kind: "ok", result: [ROW] });
  });

  test.each<[string, string]>([
    ["not json\n", "the request is not JSON"],
    ["[1,2]\n", "the request must be a JSON object"],
    ['{"command":"stop_app"}\n', 'unknown command "stop_app"; known: status, list_connections'],
    ["{}\n", "unknown command undefined"],
  ])("a bad request %p is answered with an error, and the connection stays usable", async (request, error) => {
    const path = tempPath();
    await start(path);
    const answers = await exchange(path, request + '{"command":"status"}\n', 2);
    expect(JSON.parse(answers[0]!)).toEqual({ ok: false, error: expect.stringContaining(error) });
    expect(JSON.parse(answers[1]!)).toEqual({ ok: true, result: { pid: 42 } });
  });

  test("a request line over 4096 bytes is refused and the connection closed", async () => {
    const path = tempPath();
    await start(path);
    const answers = await exchange(path, "x".repeat(5000), 5);
    expect(answers.map((a) => JSON.parse(a))).toEqual([{ ok: false, error: "request line longer than 4096 bytes; closing" }]);
  });

  test("a handler that throws is answered with an error and logged as a bug; the socket keeps serving", async () => {
    const path = tempPath();
    const log = createMemoryLogger();
    await start(path, { ...HANDLERS, status: () => { throw new Error("boom"); } }, log);
    expect(await askAdmin(path, "status")).toEqual({ kind: "refused", error: "the adapter failed to answer status (see its log)" });
    expect(log.lines.some((l) => l.includes("[error] admin command status failed (a bug): Error: boom"))).toBe(true);
    expect((await askAdmin(path, "list_connections")).kind).toBe("ok");
  });

  test("stop() removes the socket file; askAdmin then says not running", async () => {
    const path = tempPath();
    const socket = (await start(path))!;
    await socket.stop();
    expect(existsSync(path)).toBe(false);
    expect(await askAdmin(path, "status")).toEqual({
      kind: "unreachable",
      notRunning: true,
      reason: `no admin socket at ${path}: the adapter is not running, or its adapter.admin_socket is another path`,
    });
  });

  test("a stale socket file (left by a killed process) is replaced, with a line saying so", async () => {
    const path = tempPath();
    // What SIGKILL leaves behind: the socket file of a listener that no longer exists.
    const child = Bun.spawn(
      [process.execPath, "-e", `require("node:net").createServer().listen(${JSON.stringify(path)}, () => console.log("ready"))`],
      { stdout: "pipe", stderr: "inherit" },
    );
    const reader = child.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("ready");
    child.kill("SIGKILL");
    await child.exited;
    expect(statSync(path).isSocket()).toBe(true);
    expect(await askAdmin(path, "status")).toMatchObject({ kind: "unreachable", notRunning: true, reason: expect.stringContaining("nobody answers on") });
    const log = createMemoryLogger();
    expect(await start(path, HANDLERS, log)).toBeDefined();
    expect(log.lines.join("\n")).toContain(`removed a stale admin socket ${path}`);
    expect((await askAdmin(path, "status")).kind).toBe("ok");
  });

  test("another adapter answering on the path keeps it: the second logs a warning and runs without a socket", async () => {
    const path = tempPath();
    await start(path);
    const log = createMemoryLogger();
    expect(await start(path, HANDLERS, log)).toBeUndefined();
    expect(log.lines.join("\n")).toContain(`admin socket ${path} not opened: another running rabbitmq-mqtt answers on it`);
    expect((await askAdmin(path, "status")).kind).toBe("ok");
  });

  test.each<[string, (path: string) => string, string]>([
    ["a missing directory", (path) => join(path, "nope", "admin.sock"), "does not exist (under systemd, RuntimeDirectory=rabbitmq-mqtt creates /run/rabbitmq-mqtt)"],
    ["a regular file in the way", (path) => {
      writeFileSync(path, "keep me");
      return path;
    }, "exists and is not a socket; it is left alone"],
  ])("%s: a warning that says why and what to set, and no socket", async (_name, prepare, why) => {
    const path = prepare(tempPath());
    const log = createMemoryLogger();
    expect(await start(path, HANDLERS, log)).toBeUndefined();
    const warning = log.lines.find((l) => l.includes("[warning]"))!;
    expect(warning).toContain(why);
    expect(warning).toContain("set adapter.admin_socket to a path in a writable directory, or to none");
  });

  test("askAdmin: a socket that never answers times out as unknown, not as 'not running'", async () => {
    const path = tempPath();
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(path, resolve));
    try {
      expect(await askAdmin(path, "status", 200)).toEqual({ kind: "unreachable", notRunning: false, reason: `no answer on ${path} within 200 ms` });
    } finally {
      silent.close();
    }
  });

  test("askAdmin: an answer that is not ours is reported, not trusted", async () => {
    const path = tempPath();
    const other = net.createServer((s) => s.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    await new Promise<void>((resolve) => other.listen(path, resolve));
    try {
      const reply = await askAdmin(path, "status");
      expect(reply).toMatchObject({ kind: "unreachable", notRunning: false });
      expect((reply as { reason: string }).reason).toContain("is not JSON");
    } finally {
      other.close();
    }
  });
});
