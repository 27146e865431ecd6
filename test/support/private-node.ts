/**
 * A private, throw-away RabbitMQ node for one `bun test` process, run from Debian's
 * rabbitmq-server package without touching the system's own node.
 *
 * Isolation (so tests never see, or disturb, the host's RabbitMQ or another test run):
 * - node name `rmqmqtt-test-<pid>@localhost`, its own free ports on 127.0.0.1: AMQP,
 *   Erlang distribution (RABBITMQ_DIST_PORT), a private epmd (ERL_EPMD_PORT) and a range
 *   for rabbitmqctl's own distribution listener (RABBITMQ_CTL_DIST_PORT_MIN/MAX);
 * - everything on disk under one temp dir: HOME (so the Erlang cookie is ours, not
 *   ~/.erlang.cookie), mnesia, logs, rabbitmq.conf, and an EMPTY enabled_plugins file: the
 *   native rabbitmq_mqtt plugin must never listen on ports our adapter tests use;
 * - /etc/rabbitmq is never read: config, conf.d, advanced.config and rabbitmq-env.conf all
 *   point into the temp dir, and inherited RABBITMQ_* / ERL_* variables are dropped.
 *
 * We run /usr/lib/rabbitmq/bin/rabbitmq-server directly: the /usr/sbin wrapper `su`s to the
 * rabbitmq user when run as root, which would put the cookie and files out of our reach.
 *
 * Why a private epmd: a node starts epmd on demand as a daemon that outlives it. Starting
 * our own on a private port means we know its pid and can stop it, so nothing is left over.
 *
 * Cleanup: `stop()` (called from the preload's afterAll) stops the node gracefully, stops
 * epmd and deletes the temp dir. A detached watchdog shell does the same if the test
 * process dies without running it (crash, SIGKILL, Ctrl-C).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { probeAmqp } from "./amqp-probe.ts";

/** Where Debian's rabbitmq-server package puts the unwrapped scripts. */
const DEBIAN_SBIN_DIR = "/usr/lib/rabbitmq/bin";

/** Directory holding rabbitmq-server and rabbitmqctl; `RABBITMQ_SBIN_DIR` overrides (e.g. a generic-unix tarball's sbin/). */
export const RABBITMQ_SBIN_DIR = process.env.RABBITMQ_SBIN_DIR || DEBIAN_SBIN_DIR;

/** A running private node. `ctlEnv` is the environment rabbitmqctl needs to reach it. */
export type PrivateNode = {
  amqpUrl: string;
  nodeName: string;
  rabbitmqctlPath: string;
  ctlEnv: Record<string, string>;
  baseDir: string;
  /** The ports reserved by `StartOptions.extraPortCount`, in order. */
  extraPorts: number[];
  stop(): Promise<void>;
};

/** Options for {@link startPrivateNode}; `startTimeoutMs` bounds boot (Erlang is slow on 2 cores). */
export type StartOptions = {
  startTimeoutMs: number;
  log: (line: string) => void;
  /**
   * Opt-in, for a test that needs a node of its own next to the harness node (e.g. an AMQPS
   * listener with EXTERNAL logins). None of these change the default node.
   * `nameSuffix`: node name `rmqmqtt-test-<pid>-<suffix>@localhost` (two nodes of one process need different names).
   */
  nameSuffix?: string;
  /** How many more free ports to reserve (see `PrivateNode.extraPorts`), e.g. for `listeners.ssl.1`. */
  extraPortCount?: number;
  /** More rabbitmq.conf lines, given the reserved extra ports. */
  extraConfig?: (extraPorts: number[]) => string[];
  /** Plugins to enable (the default node enables none). */
  plugins?: string[];
};

// Ports come from below Linux's default ephemeral range (32768+), so outgoing connections
// opened meanwhile cannot take them, and rabbitmqctl's range stays below 65536.
const PORT_RANGE_START = 20000;
const PORT_RANGE_END = 32000;
const CTL_PORT_COUNT = 10;

/** Starts a private node and waits until it completes an AMQP handshake. Throws with the node's log tail on failure. */
export async function startPrivateNode(options: StartOptions): Promise<PrivateNode> {
  ensureRabbitmqInstalled(options.log);
  // A port picked as free can be taken by a concurrent run before the node binds it:
  // that shows up as eaddrinuse in the log, and a fresh set of ports fixes it.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (attempt >= 3 || !/eaddrinuse/i.test(message)) throw error;
      options.log(`private RabbitMQ: port clash on attempt ${attempt}, retrying with other ports`);
    }
  }
}

async function startOnce(options: StartOptions): Promise<PrivateNode> {
  const extraPortCount = options.extraPortCount ?? 0;
  const ports = await findFreePortBlock(3 + CTL_PORT_COUNT + extraPortCount);
  const [amqpPort, distPort, epmdPort] = ports as [number, number, number];
  const ctlPortMin = ports[3]!;
  const ctlPortMax = ports[3 + CTL_PORT_COUNT - 1]!;
  const extraPorts = ports.slice(3 + CTL_PORT_COUNT);
  const suffix = options.nameSuffix === undefined ? "" : `-${options.nameSuffix}`;
  const nodeName = `rmqmqtt-test-${process.pid}${suffix}@localhost`;
  const baseDir = mkdtempSync(join(tmpdir(), `rmqmqtt-test-${process.pid}-`));
  const homeDir = join(baseDir, "home");
  const logDir = join(baseDir, "log");
  for (const dir of [homeDir, logDir, join(baseDir, "mnesia")]) mkdirSync(dir, { recursive: true });

  // Erlang refuses a cookie file readable by others; 20 random uppercase letters like its own.
  const cookie = Array.from(randomBytes(20), (byte) => String.fromCharCode(65 + (byte % 26))).join("");
  writeFileSync(join(homeDir, ".erlang.cookie"), cookie, { mode: 0o400 });
  writeFileSync(join(baseDir, "enabled_plugins"), `[${(options.plugins ?? []).join(",")}].\n`);
  writeFileSync(
    join(baseDir, "rabbitmq.conf"),
    [
      `listeners.tcp.1 = 127.0.0.1:${amqpPort}`,
      "log.console = false",
      "log.file.level = info",
      // Default 50 MB free on /tmp would block publishers on a small CI disk: tests would hang, not fail.
      "disk_free_limit.absolute = 10MB",
      ...(options.extraConfig?.(extraPorts) ?? []),
      "",
    ].join("\n"),
  );

  const erlangEnv = {
    HOME: homeDir,
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: "127.0.0.1",
    RABBITMQ_CONF_ENV_FILE: join(baseDir, "rabbitmq-env.conf"), // absent on purpose: skip /etc's
    RABBITMQ_CTL_DIST_PORT_MIN: String(ctlPortMin),
    RABBITMQ_CTL_DIST_PORT_MAX: String(ctlPortMax),
  };
  const serverEnv = {
    ...inheritedEnv(),
    ...erlangEnv,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: join(baseDir, "rabbitmq.conf"),
    RABBITMQ_CONFIG_FILES: join(baseDir, "conf.d"), // absent: no /etc/rabbitmq/conf.d
    RABBITMQ_ADVANCED_CONFIG_FILE: join(baseDir, "advanced.config"), // absent
    RABBITMQ_ENABLED_PLUGINS_FILE: join(baseDir, "enabled_plugins"),
    RABBITMQ_MNESIA_BASE: join(baseDir, "mnesia"),
    RABBITMQ_LOG_BASE: logDir,
    // The distribution listener would otherwise listen on every interface.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
  };

  let epmd: ChildProcess | undefined;
  let server: ChildProcess;
  let watchdog: ChildProcess;
  try {
    epmd = spawnLogged("epmd", ["-port", String(epmdPort), "-address", "127.0.0.1"], serverEnv, baseDir, "epmd.out");
    // If ours were not listening yet, the node would start a daemon epmd we could not stop.
    await waitForTcp(epmdPort, 10_000, epmd, "epmd");
    server = spawnLogged(join(RABBITMQ_SBIN_DIR, "rabbitmq-server"), [], serverEnv, baseDir, "server.out");
    watchdog = spawnWatchdog(server.pid!, epmd.pid!, baseDir);
  } catch (error) {
    if (epmd !== undefined) await signalAndWait(epmd, "SIGKILL", 5_000);
    rmSync(baseDir, { recursive: true, force: true });
    throw error;
  }

  let stopped: Promise<void> | undefined;
  const node: PrivateNode = {
    amqpUrl: `amqp://guest:guest@127.0.0.1:${amqpPort}`,
    nodeName,
    rabbitmqctlPath: join(RABBITMQ_SBIN_DIR, "rabbitmqctl"),
    ctlEnv: erlangEnv,
    baseDir,
    extraPorts,
    stop: () => (stopped ??= stopNode(server, epmd, watchdog, baseDir)),
  };

  options.log(`private RabbitMQ: starting ${nodeName} (AMQP 127.0.0.1:${amqpPort}, files in ${baseDir})`);
  const startedAtMs = Date.now();
  const failure = await waitForAmqp(node.amqpUrl, server, options.startTimeoutMs);
  if (failure !== undefined) {
    const logs = logTail(baseDir, nodeName);
    await node.stop();
    throw new Error(`private RabbitMQ node ${nodeName} did not start: ${failure}\n${logs}`);
  }
  options.log(`private RabbitMQ: ${nodeName} ready in ${Date.now() - startedAtMs} ms`);
  return node;
}

/** Installs rabbitmq-server with apt when it is missing and we are root; otherwise explains what to do. */
function ensureRabbitmqInstalled(log: (line: string) => void): void {
  const serverPath = join(RABBITMQ_SBIN_DIR, "rabbitmq-server");
  if (existsSync(serverPath)) return;
  const howTo =
    "install it (`sudo apt-get install rabbitmq-server`, or run ./scripts/test.sh which does), " +
    "or set RABBITMQ_URL (and RABBITMQ_NODENAME) to use a broker you already have";
  if (RABBITMQ_SBIN_DIR !== DEBIAN_SBIN_DIR) {
    throw new Error(`RABBITMQ_SBIN_DIR=${RABBITMQ_SBIN_DIR} has no rabbitmq-server: point it at the sbin/ directory of a RabbitMQ install`);
  }
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) {
    throw new Error(`rabbitmq-server is not installed (no ${serverPath}) and we are not root with apt-get: ${howTo}`);
  }
  log("private RabbitMQ: rabbitmq-server is missing; installing it with apt-get (as root)");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", "rabbitmq-server"]]) {
    const result = spawnSync("apt-get", args, { env, stdio: ["ignore", "inherit", "inherit"] });
    if (result.status !== 0) {
      throw new Error(`apt-get ${args.join(" ")} failed (exit ${result.status ?? result.signal}); ${howTo}`);
    }
  }
  if (!existsSync(serverPath)) throw new Error(`apt-get installed rabbitmq-server but ${serverPath} is missing`);
}

/** The parent environment minus anything that would point the node at another node's settings. */
function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith("RABBITMQ_") || key.startsWith("ERL_")) continue;
    env[key] = value;
  }
  return env;
}

/**
 * Spawns `command` in its own session (so Ctrl-C on the test run does not hit it and a
 * group kill reaches all of it), output appended to a file in `dir`, never to a pipe: a
 * daemon holding our stdout open would keep `bun test | tee` from ever finishing.
 */
function spawnLogged(command: string, args: string[], env: Record<string, string>, dir: string, logName: string): ChildProcess {
  const fd = openSync(join(dir, logName), "a");
  try {
    const child = spawn(command, args, { cwd: dir, env, detached: true, stdio: ["ignore", fd, fd] });
    child.on("error", () => {}); // reported by the pid check below or as an early exit in the wait loops
    if (child.pid === undefined) throw new Error(`could not run ${command} (is it installed and on PATH?)`);
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/**
 * A detached shell that waits for this test process to disappear (or turn zombie), then
 * stops the node, epmd, and deletes the temp dir. Killed by `stop()` on the normal path.
 */
function spawnWatchdog(serverPid: number, epmdPid: number, baseDir: string): ChildProcess {
  const script = `
alive() { s=$(cat /proc/$1/stat 2>/dev/null) || return 1; s=\${s##*) }; [ "\${s%% *}" != Z ]; }
while alive "$1"; do sleep 1; done
kill -TERM "$2" 2>/dev/null
i=0; while alive "$2" && [ $i -lt 40 ]; do sleep 0.5; i=$((i+1)); done
kill -KILL -- "-$2" 2>/dev/null
kill -TERM "$3" 2>/dev/null
rm -rf -- "$4"`;
  const child = spawn("/bin/sh", ["-c", script, "rmqmqtt-watchdog", String(process.pid), String(serverPid), String(epmdPid), baseDir], {
    detached: true,
    stdio: "ignore",
  });
  child.unref();
  return child;
}

async function stopNode(server: ChildProcess, epmd: ChildProcess, watchdog: ChildProcess, baseDir: string): Promise<void> {
  watchdog.kill("SIGKILL");
  // SIGTERM to the rabbitmq-server script: it forwards TERM to the VM, which shuts down cleanly.
  if (!(await signalAndWait(server, "SIGTERM", 30_000))) {
    killGroup(server);
    await signalAndWait(server, "SIGKILL", 5_000);
  }
  killGroup(server); // stragglers of the VM's process group, if any
  await signalAndWait(epmd, "SIGTERM", 5_000);
  rmSync(baseDir, { recursive: true, force: true });
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // ESRCH: the group is already gone, which is the goal.
  }
}

/** Sends `signal` unless the child already exited; resolves true once it has exited, false on timeout. */
async function signalAndWait(child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return true;
  const exited = new Promise<true>((resolve) => child.once("exit", () => resolve(true)));
  child.kill(signal);
  return Promise.race([exited, sleep(timeoutMs).then(() => hasExited(child))]);
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Polls until `url` completes an AMQP handshake; returns why not, or undefined when ready. */
async function waitForAmqp(url: string, server: ChildProcess, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let lastReason = "not tried";
  while (Date.now() < deadline) {
    if (hasExited(server)) return `rabbitmq-server exited early (${exitDescription(server)})`;
    const probe = await probeAmqp(url, 5_000);
    if (probe.ok) return undefined;
    lastReason = probe.reason;
    await sleep(250);
  }
  return `no AMQP handshake within ${timeoutMs} ms (set RABBITMQ_TEST_START_TIMEOUT_MS to wait longer); last error: ${lastReason}`;
}

async function waitForTcp(port: number, timeoutMs: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (hasExited(child)) throw new Error(`${what} exited early (${exitDescription(child)})`);
    if (await canConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

function exitDescription(child: ChildProcess): string {
  return child.exitCode !== null ? `exit code ${child.exitCode}` : `signal ${child.signalCode}`;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** `count` consecutive ports, all free on 127.0.0.1 right now, starting at a random base. */
async function findFreePortBlock(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = PORT_RANGE_START + Math.floor(Math.random() * (PORT_RANGE_END - PORT_RANGE_START - count));
    const ports = Array.from({ length: count }, (_, index) => base + index);
    const free = await Promise.all(ports.map(isPortFree));
    if (free.every(Boolean)) return ports;
  }
  throw new Error(`no block of ${count} free ports found in ${PORT_RANGE_START}-${PORT_RANGE_END} after 50 tries`);
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The last lines of the node's console output and log file, for failure messages. */
function logTail(baseDir: string, nodeName: string, lineCount = 40): string {
  const sections: string[] = [];
  for (const file of [join(baseDir, "server.out"), join(baseDir, "log", `${nodeName}.log`), join(baseDir, "epmd.out")]) {
    if (!existsSync(file)) continue;
    const lines = readFileSync(file, "utf8").trimEnd().split("\n").slice(-lineCount);
    sections.push(`--- last ${lines.length} lines of ${file} ---\n${lines.join("\n")}`);
  }
  return sections.join("\n") || "(the node wrote no output)";
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
