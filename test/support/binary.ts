/**
 * The compiled single-file executable (`dist/rabbitmq-mqtt`) for interop tests: STYLE.md wants
 * real clients to meet the program operators run, not the sources.
 *
 *   const adapter = await startBinary();            // harness broker, free port, waits for the listener
 *   const client = await mqtt.connectAsync(adapter.url, { ... });
 *   const { exitCode, output } = await adapter.stop(); // SIGTERM, then the exit status and every line
 *
 * Which executable: `$RABBITMQ_MQTT_BINARY` (scripts/test.sh builds it and exports it), else
 * `bun run build` once per test process and dist/rabbitmq-mqtt. Every process started here is
 * killed (SIGKILL) after the last test file if a test did not stop it, and every temp config
 * file is removed.
 *
 * `spawnWatched` is the same line-collecting process handle for any other program (mosquitto_sub,
 * a paho script): await a line, await the exit, stop with a signal, all with bounded waits.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { rabbitmqUrl } from "./broker.ts";
import { registerTeardown } from "./teardown.ts";

const REPO = join(import.meta.dir, "..", "..");
/** How long `waitForLine` (and so `startBinary`, for the listener line) waits by default. */
const LINE_TIMEOUT_MS = 15_000;
/** How long `stop()` / `waitForExit()` wait by default before reporting the process as hung (and killing it). */
const STOP_TIMEOUT_MS = 10_000;

let binaryPromise: Promise<string> | undefined;

/**
 * Path of the executable under test: `$RABBITMQ_MQTT_BINARY`, or dist/rabbitmq-mqtt built
 * once per process with `bun run build`. Rejects with the build output when the build fails.
 */
export function adapterBinary(): Promise<string> {
  binaryPromise ??= (async () => {
    const given = process.env.RABBITMQ_MQTT_BINARY;
    if (given !== undefined && given !== "") return given;
    const bun = join(REPO, "node_modules", ".bin", "bun");
    const build = spawnSync(bun, ["run", "build"], { cwd: REPO, encoding: "utf8", timeout: 120_000 });
    if (build.status !== 0) {
      throw new Error(`bun run build failed (exit ${build.status ?? build.signal}):\n${build.stdout}${build.stderr}`);
    }
    return join(REPO, "dist", "rabbitmq-mqtt");
  })();
  return binaryPromise;
}

const tempDirs: string[] = [];
registerTeardown("temp config files of the compiled adapter", () => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes `text` to a fresh temp file named `name` (rabbitmq.conf format) and returns its path. */
export function writeConfigFile(text: string, name = "rabbitmq_mqtt.conf"): string {
  const dir = mkdtempSync(join(tmpdir(), "rmqmqtt-interop-"));
  tempDirs.push(dir);
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/**
 * A TCP port nobody listens on right now (bound on `[::]`, so free on IPv4 and IPv6), then
 * released. Another process could take it before the adapter binds it; on a test machine
 * that is rare enough, and the adapter's bind failure would say so.
 */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "::", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** True when nothing listens on `port` (we could bind it on `[::]`). */
export function isPortFree(port: number): boolean {
  try {
    Bun.listen({ hostname: "::", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

/** The environment for child processes: ours without RABBITMQ_MQTT_* overrides (they would change the config under test), no colours, plus `extra`. */
export function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("RABBITMQ_MQTT_")) env[key] = value;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

function describePattern(pattern: LinePattern): string {
  return typeof pattern === "function" ? "the awaited line" : typeof pattern === "string" ? JSON.stringify(pattern) : String(pattern);
}

/** Removes ANSI colour codes (citty colours its help even without a terminal). */
export function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/** A finished run of the executable. */
export interface BinaryRun {
  exitCode: number | null;
  /** Set when a signal ended the process (e.g. our timeout's SIGKILL). */
  signalCode: string | null;
  stdout: string;
  stderr: string;
}

/** Runs the executable with `args` to completion (stdin closed), killing it after `timeoutMs`. */
export async function runBinary(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<BinaryRun> {
  const binary = await adapterBinary();
  const child = Bun.spawn([binary, ...args], {
    env: childEnv(options.env ?? {}),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs ?? 20_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode: child.signalCode === null ? exitCode : null, signalCode: child.signalCode === null ? null : String(child.signalCode), stdout, stderr };
}

/** How a watched process ended. */
export interface StopResult {
  exitCode: number | null;
  signalCode: string | null;
  /** Every line it wrote, stdout and stderr interleaved in arrival order. */
  output: string;
  /** Wall time from the signal to the exit (for failure messages; never asserted tightly). */
  stoppedInMs: number;
}

/** A substring, a regular expression, or a predicate (called once per line, in order). */
export type LinePattern = string | RegExp | ((line: string) => boolean);

/** A child process whose output lines are collected as they arrive, so tests can await a line. */
export interface WatchedProcess {
  readonly process: Subprocess<"ignore", "pipe", "pipe">;
  /** Every line so far (stdout and stderr), in arrival order. */
  readonly lines: readonly string[];
  /**
   * Resolves with the first line (already written or still to come) matching `pattern`; rejects
   * after `timeoutMs` or when the process exits first. Lines are tested once each, in order.
   */
  waitForLine(pattern: LinePattern, timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited and its output is read; rejects (after killing it) if that takes longer than `timeoutMs`. */
  waitForExit(timeoutMs?: number): Promise<StopResult>;
  /** True while the process runs. */
  running(): boolean;
  /** Sends `signal` (SIGTERM) and waits for the exit; a process still alive after the timeout is killed and reported as such. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<StopResult>;
}

const watched = new Set<WatchedProcess>();
registerTeardown("child processes left running by interop tests", async () => {
  for (const child of watched) child.process.kill("SIGKILL");
  await Promise.all([...watched].map((child) => child.process.exited));
  watched.clear();
});

/**
 * Spawns `argv` (stdin closed) and collects its output lines. `name` labels failure messages.
 * The process is SIGKILLed after the last test file if nobody stopped it.
 */
export function spawnWatched(argv: string[], options: { name?: string; env?: Record<string, string>; cwd?: string } = {}): WatchedProcess {
  const name = options.name ?? argv[0]!;
  const child = Bun.spawn(argv, {
    env: options.env ?? childEnv({}),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      partial += decoder.decode(chunk, { stream: true });
      const complete = partial.split("\n");
      partial = complete.pop() ?? "";
      if (complete.length === 0) continue;
      lines.push(...complete);
      for (const wake of waiters) wake();
    }
    if (partial !== "") lines.push(partial);
  };
  const drained = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  let signalledAt: number | undefined;
  const exit = child.exited.then(async (): Promise<StopResult> => {
    await drained; // the last lines before the exit count
    exited = true;
    watched.delete(handle);
    for (const wake of waiters) wake();
    return {
      exitCode: child.signalCode === null ? child.exitCode : null,
      signalCode: child.signalCode === null ? null : String(child.signalCode),
      output: lines.join("\n"),
      stoppedInMs: signalledAt === undefined ? 0 : Math.round(performance.now() - signalledAt),
    };
  });
  const describeOutput = () => (lines.length === 0 ? "(no output)" : lines.join("\n"));

  const waitForLine = (pattern: LinePattern, timeoutMs = LINE_TIMEOUT_MS): Promise<string> => {
    const matches = (line: string) =>
      typeof pattern === "string" ? line.includes(pattern) : typeof pattern === "function" ? pattern(line) : pattern.test(line);
    return new Promise<string>((resolve, reject) => {
      let checked = 0;
      const finish = (result: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        result();
      };
      const check = () => {
        for (; checked < lines.length; checked++) {
          const line = lines[checked]!;
          if (matches(line)) return finish(() => resolve(line));
        }
        if (exited) {
          finish(() => reject(new Error(`${name} exited (code ${child.exitCode}, signal ${child.signalCode}) before printing ${describePattern(pattern)}; its output:\n${describeOutput()}`)));
        }
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${name} did not print ${describePattern(pattern)} within ${timeoutMs} ms; its output:\n${describeOutput()}`))),
        timeoutMs,
      );
      waiters.add(check);
      check();
    });
  };

  const waitForExit = async (timeoutMs = STOP_TIMEOUT_MS, after = ""): Promise<StopResult> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = await Promise.race([
      exit.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (hung) {
      child.kill("SIGKILL");
      await exit;
      throw new Error(`${name} was still running ${timeoutMs} ms${after} (killed); its output:\n${describeOutput()}`);
    }
    return await exit;
  };

  let stopping: Promise<StopResult> | undefined;
  const handle: WatchedProcess = {
    process: child,
    lines,
    waitForLine,
    waitForExit: (timeoutMs) => waitForExit(timeoutMs),
    running: () => !exited,
    stop(signal = "SIGTERM", timeoutMs = STOP_TIMEOUT_MS) {
      stopping ??= (() => {
        if (!exited) {
          signalledAt = performance.now();
          child.kill(signal);
        }
        return waitForExit(timeoutMs, ` after ${signal}`);
      })();
      return stopping;
    },
  };
  watched.add(handle);
  return handle;
}

/** The compiled adapter started by {@link startBinary}. */
export interface BinaryAdapter extends WatchedProcess {
  /** `mqtt://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly configFile: string;
  /** Its adapter.admin_socket: by default a socket in a temp directory of its own; null when the test set none. */
  readonly adminSocket: string | null;
}

export interface StartBinaryOptions {
  /** `adapter.amqp_url`; default the harness broker as guest. */
  amqpUrl?: string;
  /** More rabbitmq.conf lines, appended to the listener and URL lines. */
  extraConfig?: string;
  /** Listener port; default a free one. */
  port?: number;
  /** Wait for `started MQTT TCP Listener on [::]:PORT` (default true). */
  waitForListener?: boolean;
}

/**
 * Writes a config file (`mqtt.listeners.tcp.default = PORT`, `adapter.amqp_url = URL`,
 * `extraConfig`), runs `rabbitmq-mqtt start --config FILE` and waits for its listener line.
 * Rejects with everything the process printed if it exits or stays silent instead.
 */
export async function startBinary(options: StartBinaryOptions = {}): Promise<BinaryAdapter> {
  const binary = await adapterBinary();
  const amqpUrl = options.amqpUrl ?? (await rabbitmqUrl());
  const port = options.port ?? freePort();
  // Each adapter its own admin socket: the default, /run/rabbitmq-mqtt/admin.sock, is the system's.
  const socketSet = /^\s*adapter\.admin_socket\s*=\s*(\S+)/m.exec(options.extraConfig ?? "");
  let adminSocket: string | null = socketSet === null ? null : socketSet[1] === "none" ? null : socketSet[1]!;
  let adminLine = "";
  if (socketSet === null) {
    const dir = mkdtempSync(join(tmpdir(), "rmqmqtt-admin-"));
    tempDirs.push(dir);
    adminSocket = join(dir, "admin.sock");
    adminLine = `adapter.admin_socket = ${adminSocket}`;
  }
  // The WebSocket listener is on by default (15675): off unless the test configures it.
  const webLine = /^\s*web_mqtt\.tcp\./m.test(options.extraConfig ?? "") ? "" : "web_mqtt.tcp.listener = none";
  // Each adapter its own retained store (its SQLite file is locked by the process; the default is a system path).
  let retainedLine = "";
  if (!/^\s*adapter\.retained\.dir\s*=/m.test(options.extraConfig ?? "")) {
    const retainedDir = mkdtempSync(join(tmpdir(), "rmqmqtt-retained-"));
    tempDirs.push(retainedDir);
    retainedLine = `adapter.retained.dir = ${retainedDir}`;
  }
  const configFile = writeConfigFile(
    [`mqtt.listeners.tcp.default = ${port}`, `adapter.amqp_url = ${amqpUrl}`, retainedLine, webLine, adminLine, options.extraConfig ?? ""].join("\n") + "\n",
  );
  const child = spawnWatched([binary, "start", "--config", configFile], { name: "rabbitmq-mqtt start" });
  const adapter: BinaryAdapter = Object.assign(child, { url: `mqtt://127.0.0.1:${port}`, port, configFile, adminSocket });
  if (options.waitForListener ?? true) {
    try {
      await child.waitForLine(`started MQTT TCP Listener on [::]:${port}`);
    } catch (error) {
      await child.stop("SIGKILL").catch(() => {});
      throw error;
    }
  }
  return adapter;
}
