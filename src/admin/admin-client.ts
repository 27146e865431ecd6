/**
 * The CLI side of the admin socket: one request, one answer, then close. Every way it can fail
 * is a value with a message for the operator (no socket file, nobody listening, no permission,
 * no answer in time, an answer that is not what we expect).
 */
import net from "node:net";
import type { AdminCommand, AdminResponse } from "./wire.ts";

export type AdminReply<T> =
  /** The adapter answered. */
  | { kind: "ok"; result: T }
  /** The adapter answered with an error. */
  | { kind: "refused"; error: string }
  /**
   * No adapter could be asked. `notRunning` is true when that means no adapter is running on
   * this socket (no file, or a stale file nobody listens on); false when it is unknown
   * (permission denied, no answer in time, a garbled answer).
   */
  | { kind: "unreachable"; reason: string; notRunning: boolean };

/** Largest answer accepted (a listing of every connection of a busy adapter fits easily). */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

/** Sends `{"command": command}` to the socket at `path` and returns the answer. */
export function askAdmin<T>(path: string, command: AdminCommand, timeoutMs = 5_000): Promise<AdminReply<T>> {
  return new Promise((resolve) => {
    const socket = net.createConnection(path);
    let received = "";
    let settled = false;
    const finish = (reply: AdminReply<T>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(
      () => finish({ kind: "unreachable", reason: `no answer on ${path} within ${timeoutMs} ms`, notRunning: false }),
      timeoutMs,
    );
    socket.setEncoding("utf8");
    socket.once("connect", () => socket.write(JSON.stringify({ command }) + "\n"));
    socket.on("data", (chunk: string) => {
      received += chunk;
      const newline = received.indexOf("\n");
      if (newline >= 0) finish(parseAnswer<T>(received.slice(0, newline), path));
      else if (received.length > MAX_ANSWER_BYTES) finish({ kind: "unreachable", reason: `the answer on ${path} exceeds ${MAX_ANSWER_BYTES} bytes`, notRunning: false });
    });
    socket.once("end", () => finish({ kind: "unreachable", reason: `${path} closed the connection without an answer`, notRunning: false }));
    socket.once("error", (error: NodeJS.ErrnoException) => finish(unreachable(path, error)));
  });
}

function parseAnswer<T>(line: string, path: string): AdminReply<T> {
  let value: AdminResponse<T>;
  try {
    value = JSON.parse(line) as AdminResponse<T>;
  } catch {
    return { kind: "unreachable", reason: `the answer on ${path} is not JSON: ${JSON.stringify(line.slice(0, 80))}; is this a rabbitmq-mqtt admin socket?`, notRunning: false };
  }
  if (typeof value === "object" && value !== null && value.ok === true && "result" in value) return { kind: "ok", result: value.result };
  if (typeof value === "object" && value !== null && value.ok === false && typeof value.error === "string") return { kind: "refused", error: value.error };
  return { kind: "unreachable", reason: `the answer on ${path} has an unexpected shape: ${line.slice(0, 80)}`, notRunning: false };
}

function unreachable(path: string, error: NodeJS.ErrnoException): AdminReply<never> {
  switch (error.code) {
    case "ENOENT":
      return { kind: "unreachable", reason: `no admin socket at ${path}: the adapter is not running, or its adapter.admin_socket is another path`, notRunning: true };
    case "ECONNREFUSED":
      return { kind: "unreachable", reason: `nobody answers on ${path}: a socket left by an adapter that is not running any more`, notRunning: true };
    case "EACCES":
    case "EPERM":
      return { kind: "unreachable", reason: `permission denied on ${path}: run as root or as a member of the rabbitmq group`, notRunning: false };
    case "ENOTSOCK":
      return { kind: "unreachable", reason: `${path} is not a socket`, notRunning: true };
    default:
      return { kind: "unreachable", reason: `cannot connect to ${path}: ${error.message}`, notRunning: false };
  }
}
