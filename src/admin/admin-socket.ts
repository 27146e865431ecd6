/**
 * The admin socket of a running adapter: `rabbitmq-mqtt status` and `list_connections` ask it
 * (wire.ts has the format). A Unix socket, not a TCP port, so only local users the file mode
 * lets in (root and the rabbitmq group: mode 0660) can see client ids and users.
 *
 * It is a convenience for operators, not something clients depend on, so a socket that cannot
 * be opened is a warning and the adapter runs on without it: the directory is missing (systemd
 * makes /run/rabbitmq-mqtt through RuntimeDirectory=, a hand-started adapter has none), another
 * running adapter answers on the path (two adapters on one path: the first keeps it), or
 * something that is not a socket is in the way (never removed). A socket file nobody answers
 * on is what a killed adapter leaves behind, and is replaced.
 *
 * Invariants: a request line is answered with exactly one response line, in order; no
 * connection buffers more than MAX_REQUEST_LINE_BYTES of an unfinished line; stop() removes the
 * socket file only if it is still the one this process made (same inode).
 */
import { chmodSync, existsSync, lstatSync, statSync, unlinkSync } from "node:fs";
import net from "node:net";
import { dirname } from "node:path";
import type { Logger } from "../log.ts";
import { MAX_REQUEST_LINE_BYTES, parseAdminRequest, type AdminResponse, type ConnectionRow, type StatusReport } from "./wire.ts";

/** What the socket answers with; called per request, so every answer is current. */
export interface AdminHandlers {
  status(): StatusReport;
  listConnections(): ConnectionRow[];
}

export interface RunningAdminSocket {
  readonly path: string;
  /** Stops listening, closes open admin connections, removes the socket file. */
  stop(): Promise<void>;
}

/** A connection that sends nothing for this long is closed (a stuck `status` must not pin a socket). */
const IDLE_TIMEOUT_MS = 30_000;
/** How long the check for another adapter on the same path waits for it to accept. */
const PROBE_TIMEOUT_MS = 1_000;
const SOCKET_MODE = 0o660;

/**
 * Opens the admin socket at `path`. Resolves undefined (after one warning saying why and what to
 * do) when it cannot be opened; never rejects.
 */
export async function startAdminSocket(options: { path: string; handlers: AdminHandlers; log: Logger }): Promise<RunningAdminSocket | undefined> {
  const { path, handlers, log } = options;
  const notOpened = (why: string): undefined => {
    log.warning(
      `admin socket ${path} not opened: ${why}; \`rabbitmq-mqtt status\` will report this adapter as not running ` +
        `(set adapter.admin_socket to a path in a writable directory, or to none to silence this)`,
    );
    return undefined;
  };
  const dir = dirname(path);
  if (!existsSync(dir)) {
    return notOpened(`directory ${dir} does not exist (under systemd, RuntimeDirectory=rabbitmq-mqtt creates /run/rabbitmq-mqtt)`);
  }
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket()) return notOpened(`${path} exists and is not a socket; it is left alone`);
    const answer = await probe(path);
    if (answer === "answered") return notOpened("another running rabbitmq-mqtt answers on it (each adapter needs its own adapter.admin_socket)");
    try {
      unlinkSync(path);
      log.info(`removed a stale admin socket ${path} (left by an adapter that did not stop cleanly)`);
    } catch (error) {
      return notOpened(`a stale socket is in the way and cannot be removed: ${(error as Error).message}`);
    }
  }

  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => serveConnection(socket, handlers, log, open));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    return notOpened((error as Error).message);
  }
  server.on("error", (error) => log.warning(`admin socket ${path}: ${error.message}`));
  try {
    chmodSync(path, SOCKET_MODE);
  } catch (error) {
    log.warning(`admin socket ${path}: could not set its mode to 0660: ${(error as Error).message}`);
  }
  const inode = statSync(path).ino;
  log.info(`admin socket listening on ${path} (rabbitmq-mqtt status, list_connections)`);

  let stopped: Promise<void> | undefined;
  return {
    path,
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of open) socket.destroy();
        await closed;
        try {
          if (statSync(path).ino === inode) unlinkSync(path);
        } catch {
          // Already gone (the runtime removes it on close): nothing to do.
        }
      })();
      return stopped;
    },
  };
}

function serveConnection(socket: net.Socket, handlers: AdminHandlers, log: Logger, open: Set<net.Socket>): void {
  open.add(socket);
  socket.setEncoding("utf8");
  socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
  socket.on("close", () => open.delete(socket));
  socket.on("error", () => socket.destroy()); // the client went away mid-answer: nothing to tell anyone
  let buffered = "";
  socket.on("data", (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).replace(/\r$/, "");
      buffered = buffered.slice(newline + 1);
      if (line.trim() === "") continue;
      socket.write(JSON.stringify(answer(line, handlers, log)) + "\n");
    }
    if (Buffer.byteLength(buffered) > MAX_REQUEST_LINE_BYTES) {
      const refusal: AdminResponse<never> = { ok: false, error: `request line longer than ${MAX_REQUEST_LINE_BYTES} bytes; closing` };
      socket.end(JSON.stringify(refusal) + "\n");
      buffered = "";
    }
  });
}

function answer(line: string, handlers: AdminHandlers, log: Logger): AdminResponse<unknown> {
  const request = parseAdminRequest(line);
  if ("error" in request) return { ok: false, error: request.error };
  try {
    switch (request.command) {
      case "status":
        return { ok: true, result: handlers.status() };
      case "list_connections":
        return { ok: true, result: handlers.listConnections() };
    }
  } catch (error) {
    log.error(`admin command ${request.command} failed (a bug): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return { ok: false, error: `the adapter failed to answer ${request.command} (see its log)` };
  }
}

/** Whether a process accepts connections on the socket at `path`. */
function probe(path: string): Promise<"answered" | "nobody"> {
  return new Promise((resolve) => {
    const socket = net.createConnection(path);
    const done = (result: "answered" | "nobody") => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    // A listener that does not accept within the timeout is treated as gone (its file is replaced).
    const timer = setTimeout(() => done("nobody"), PROBE_TIMEOUT_MS);
    socket.once("connect", () => done("answered"));
    socket.once("error", () => done("nobody"));
  });
}
