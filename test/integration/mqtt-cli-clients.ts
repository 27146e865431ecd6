/**
 * Command-line MQTT clients as child processes: mosquitto_pub / mosquitto_sub (libmosquitto
 * 2.0) and paho-mqtt 1.6.1 scripts under test/fixtures/paho/ run by Debian's /usr/bin/python3
 * (not the pyenv `python3` on PATH, which lacks paho). Every run is bounded by a timeout and
 * killed in the end, so a hung client fails the test with its output instead of hanging it.
 */
import { join } from "node:path";
import { withTimeout } from "./mqtt-support.ts";

export const PYTHON = "/usr/bin/python3";
export const PAHO_DIR = join(import.meta.dir, "..", "fixtures", "paho");

export interface ProcessResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `argv` to completion (killed after `timeoutMs`) and returns its exit code and output. */
export async function runProcess(argv: string[], timeoutMs = 15_000): Promise<ProcessResult> {
  const child = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { exitCode, stdout, stderr };
}

/** Common mosquitto_* options: host, port, protocol version, client id, credentials. */
export interface MosquittoOptions {
  port: number;
  version: "mqttv31" | "mqttv311";
  clientId: string;
  username?: string;
  password?: string;
  /** -c: persistent session. */
  persistent?: boolean;
}

function mosquittoArgs(options: MosquittoOptions): string[] {
  const args = ["-h", "127.0.0.1", "-p", String(options.port), "-V", options.version, "-i", options.clientId];
  if (options.username !== undefined) args.push("-u", options.username);
  if (options.password !== undefined) args.push("-P", options.password);
  if (options.persistent === true) args.push("-c");
  return args;
}

/**
 * mosquitto_pub of one message, then DISCONNECT; resolves with the process result (exit 0 =
 * PUBACKed for QoS 1). `will` sets --will-topic / --will-payload / --will-qos.
 */
export function mosquittoPub(
  options: MosquittoOptions & { topic: string; message: string; qos: 0 | 1; will?: { topic: string; payload: string; qos: 0 | 1 } },
): Promise<ProcessResult> {
  const will = options.will === undefined ? [] : ["--will-topic", options.will.topic, "--will-payload", options.will.payload, "--will-qos", String(options.will.qos)];
  return runProcess(["mosquitto_pub", ...mosquittoArgs(options), ...will, "-t", options.topic, "-m", options.message, "-q", String(options.qos)]);
}

/** A message as mosquitto_sub printed it with our format. */
export interface MosquittoMessage {
  topic: string;
  qos: number;
  payload: string;
}

/**
 * A running mosquitto_sub. `started` resolves once its SUBACK arrived (from `-d` output), so a
 * test publishes only after the binding exists; `done` resolves when it exits (after `count`
 * messages, or its `-W` timeout) with the messages it printed.
 */
export interface MosquittoSub {
  started: Promise<void>;
  done: Promise<{ messages: MosquittoMessage[]; result: ProcessResult }>;
  /** Kills it at once (no DISCONNECT): for `finally` blocks. */
  kill(): void;
}

const MESSAGE_PREFIX = "MSG\t";

export function mosquittoSub(
  options: MosquittoOptions & {
    filters: string[];
    qos: 0 | 1 | 2;
    /** -C: exit after this many messages. */
    count: number;
    /** -W: exit after this long in any case; default 10. */
    timeoutSeconds?: number;
    /** -E: exit (with DISCONNECT) as soon as the SUBACK arrived, e.g. to leave a persistent session behind. */
    exitAfterSuback?: boolean;
  },
): MosquittoSub {
  const argv = [
    // stdout is a pipe here, so libc would buffer mosquitto_sub's output until it exits:
    // line buffering lets us see its SUBACK (and messages) as they happen.
    "stdbuf",
    "-oL",
    "mosquitto_sub",
    ...mosquittoArgs(options),
    ...options.filters.flatMap((filter) => ["-t", filter]),
    "-q",
    String(options.qos),
    "-C",
    String(options.count),
    "-W",
    String(options.timeoutSeconds ?? 10),
    ...(options.exitAfterSuback === true ? ["-E"] : []),
    "-d",
    "-F",
    `${MESSAGE_PREFIX}%t\t%q\t%p`,
  ];
  const child = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  let sawSuback: () => void = () => {};
  let failedEarly: (error: Error) => void = () => {};
  const started = new Promise<void>((resolve, reject) => {
    sawSuback = resolve;
    failedEarly = reject;
  });
  let stdout = "";
  const finished = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      stdout += decoder.decode(chunk, { stream: true });
      if (stdout.includes("received SUBACK")) sawSuback();
    }
    const [stderr, exitCode] = await Promise.all([new Response(child.stderr).text(), child.exited]);
    const result = { exitCode, stdout, stderr };
    failedEarly(new Error(`mosquitto_sub exited (code ${exitCode}) before its SUBACK:\n${stdout}\n${stderr}`));
    const messages = stdout
      .split("\n")
      .filter((line) => line.startsWith(MESSAGE_PREFIX))
      .map((line) => {
        const [, topic, qos, payload] = line.split("\t");
        return { topic: topic!, qos: Number(qos), payload: payload ?? "" };
      });
    return { messages, result };
  })();
  // Bounded, with what it printed so far: a hung mosquitto_sub (e.g. reconnecting forever after
  // the adapter closed it) fails the test with its own words.
  const done = withTimeout(finished, ((options.timeoutSeconds ?? 10) + 5) * 1000, "mosquitto_sub to exit").catch((error: Error) => {
    child.kill();
    throw new Error(`${error.message}; it printed:\n${stdout}`);
  });
  const startedBounded = withTimeout(started, 8_000, `mosquitto_sub ${options.clientId} to get its SUBACK`);
  // A test that only awaits `done` (e.g. a stored message may arrive before the SUBACK and end a
  // `-C 1` run) must not see an unhandled rejection of `started`.
  startedBounded.catch(() => {});
  return {
    started: startedBounded,
    done,
    // SIGKILL: mosquitto_sub's SIGTERM handler calls mosquitto_disconnect(), which can deadlock
    // on libmosquitto's mutex when the signal lands while a packet is being handled (seen right
    // after SUBACK). A test that wants a clean DISCONNECT uses `exitAfterSuback` or `count`.
    kill: () => child.kill("SIGKILL"),
  };
}

/**
 * Runs test/fixtures/paho/`script` with a JSON argument and parses the JSON object it prints
 * last on stdout. Fails with the script's output when it exits non-zero or prints no JSON.
 */
export async function runPaho<T>(script: string, args: object, timeoutMs = 15_000): Promise<T> {
  const result = await runProcess([PYTHON, join(PAHO_DIR, script), JSON.stringify(args)], timeoutMs);
  const last = result.stdout.trim().split("\n").at(-1) ?? "";
  if (result.exitCode !== 0 || !last.startsWith("{")) {
    throw new Error(`paho ${script} failed (exit ${result.exitCode}):\n${result.stdout}\n${result.stderr}`);
  }
  return JSON.parse(last) as T;
}
