/**
 * The MQTT endpoints the side-by-side benchmark compares, all on 127.0.0.1, all stopped at the end:
 *
 * - `native`: RabbitMQ 3.10's own rabbitmq_mqtt plugin, enabled on a private node (the test
 *   harness's private-node module: own node name, ports, data dir, enabled_plugins file) with its
 *   MQTT listener moved to a free port;
 * - `adapter`: our compiled executable, built from the working tree into the run's temp dir (so a
 *   concurrent `bun run build` by someone else cannot swap it mid-run), against the same node;
 * - `mosquitto`: `mosquitto -c` with a tiny config, as the yardstick of a native C broker.
 *
 * Each endpoint knows the pids whose resident memory counts for it: the adapter's figure is the
 * adapter plus RabbitMQ, because the adapter is nothing without its broker.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as connectTcp, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startPrivateNode, type PrivateNode } from "../../test/support/private-node.ts";

export type EndpointName = "adapter" | "native" | "mosquitto";

export interface Endpoint {
  name: EndpointName;
  port: number;
  /** Processes whose RSS is this endpoint's memory, labelled ("adapter", "rabbitmq", "mosquitto"). */
  memoryPids(): Array<{ label: string; pid: number }>;
}

export interface Endpoints {
  endpoints: Endpoint[];
  node: PrivateNode;
  /** Versions of what runs, for the README. */
  versions: Record<string, string>;
  /** Erlang's own count of bytes it holds (erlang:memory(total)), via rabbitmqctl eval. */
  rabbitErlangMemoryBytes(): number | undefined;
  stop(): Promise<void>;
}

const REPO_ROOT = resolve(import.meta.dir, "../..");

/** Starts the selected endpoints (RabbitMQ always, since two of them need it). */
export async function startEndpoints(names: EndpointName[], log: (line: string) => void): Promise<Endpoints> {
  const baseDir = mkdtempSync(join(tmpdir(), "rmqmqtt-bench-"));
  const children: ChildProcess[] = [];
  let node: PrivateNode | undefined;
  const stop = async (): Promise<void> => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    }
    await Promise.all(children.map((child) => waitExit(child, 5000)));
    await node?.stop();
    rmSync(baseDir, { recursive: true, force: true });
  };
  try {
    log("starting a private RabbitMQ node with rabbitmq_mqtt ...");
    node = await startPrivateNode({
      startTimeoutMs: 120_000,
      log,
      nameSuffix: "bench",
      extraPortCount: 1,
      plugins: ["rabbitmq_mqtt"],
      // `default` replaces 1883 (another key would add a listener beside it); loopback only.
      extraConfig: ([mqttPort]) => [`mqtt.listeners.tcp.default = 127.0.0.1:${mqttPort}`, "mqtt.allow_anonymous = true"],
    });
    const privateNode = node;
    const nativePort = privateNode.extraPorts[0]!;
    await waitForTcp(nativePort, 60_000, "the native plugin's MQTT listener");
    let beamPid: number | undefined;
    const rabbitPids = (): Array<{ label: string; pid: number }> => {
      beamPid ??= findBeamPid(privateNode);
      if (beamPid === undefined) throw new Error(`no beam.smp process found for ${privateNode.nodeName}`);
      return [{ label: "rabbitmq", pid: beamPid }];
    };
    const endpoints: Endpoint[] = [];
    if (names.includes("adapter")) {
      const binary = join(baseDir, "rabbitmq-mqtt");
      log("building the adapter executable ...");
      const build = spawnSync(join(REPO_ROOT, "node_modules/.bin/bun"), ["build", "--compile", "src/cli/main.ts", "--outfile", binary], { cwd: REPO_ROOT, encoding: "utf8" });
      if (build.status !== 0) throw new Error(`bun build failed:\n${build.stdout}\n${build.stderr}`);
      const port = await freePort();
      const retainedDir = join(baseDir, "retained");
      mkdirSync(retainedDir);
      const conf = join(baseDir, "adapter.conf");
      writeFileSync(
        conf,
        [
          `mqtt.listeners.tcp.default = 127.0.0.1:${port}`,
          `adapter.amqp_url = ${privateNode.amqpUrl}`,
          `adapter.retained.dir = ${retainedDir}`,
          "web_mqtt.tcp.listener = none",
          "adapter.admin_socket = none",
          "adapter.log_level = warning",
          "",
        ].join("\n"),
      );
      // BENCH_ADAPTER_CPU_PROF=DIR: run the adapter from source under `bun --cpu-prof` (markdown
      // profile written to DIR when it stops) instead of the compiled binary.
      const profileDir = process.env.BENCH_ADAPTER_CPU_PROF;
      const child =
        profileDir === undefined || profileDir === ""
          ? spawnLogged(binary, ["start", "--config", conf], baseDir, "adapter.log")
          : spawnLogged(
              join(REPO_ROOT, "node_modules/.bin/bun"),
              ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${profileDir}`, join(REPO_ROOT, "src/cli/main.ts"), "start", "--config", conf],
              baseDir,
              "adapter.log",
            );
      children.push(child);
      await waitForTcp(port, 30_000, "the adapter", child);
      const pid = child.pid!;
      endpoints.push({ name: "adapter", port, memoryPids: () => [{ label: "adapter", pid }, ...rabbitPids()] });
    }
    if (names.includes("native")) endpoints.push({ name: "native", port: nativePort, memoryPids: rabbitPids });
    if (names.includes("mosquitto")) {
      const port = await freePort();
      const conf = join(baseDir, "mosquitto.conf");
      // max_queued_messages: the backlog scenario queues 10,000 QoS 1 messages for one offline session.
      writeFileSync(conf, [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "max_queued_messages 20000", "log_dest none", ""].join("\n"));
      const child = spawnLogged("mosquitto", ["-c", conf], baseDir, "mosquitto.log");
      children.push(child);
      await waitForTcp(port, 10_000, "mosquitto", child);
      const pid = child.pid!;
      endpoints.push({ name: "mosquitto", port, memoryPids: () => [{ label: "mosquitto", pid }] });
    }
    const order: EndpointName[] = ["adapter", "native", "mosquitto"];
    endpoints.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    const versions: Record<string, string> = {
      bun: Bun.version,
      rabbitmq: "3.10.8 (Debian package), rabbitmq_mqtt plugin of the same release",
      mosquitto: firstLine(spawnSync("mosquitto", ["-h"], { encoding: "utf8" }).stdout),
      adapter: `git ${firstLine(spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" }).stdout)}`,
    };
    const rabbitErlangMemoryBytes = (): number | undefined => {
      const result = spawnSync(privateNode.rabbitmqctlPath, ["-n", privateNode.nodeName, "eval", "erlang:memory(total)."], {
        env: { ...process.env, ...privateNode.ctlEnv },
        encoding: "utf8",
        timeout: 30_000,
      });
      // The value is the last line; anything else (a warning, an error) means no figure.
      const last = result.stdout.trim().split("\n").pop() ?? "";
      return /^\d+$/.test(last) ? Number(last) : undefined;
    };
    return { endpoints, node: privateNode, versions, rabbitErlangMemoryBytes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Resident set size of a pid in KiB (VmRSS), or undefined if it is gone. */
export function rssKib(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** The beam.smp pid of our node, asked of the node itself (its command line does not name it). */
function findBeamPid(node: PrivateNode): number | undefined {
  const result = spawnSync(node.rabbitmqctlPath, ["-n", node.nodeName, "eval", "list_to_integer(os:getpid())."], {
    env: { ...process.env, ...node.ctlEnv },
    encoding: "utf8",
    timeout: 30_000,
  });
  const pid = Number.parseInt(result.stdout.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function spawnLogged(command: string, args: string[], dir: string, logName: string): ChildProcess {
  const fd = openSync(join(dir, logName), "a");
  return spawn(command, args, { stdio: ["ignore", fd, fd] });
}

function firstLine(text: string | null): string {
  return (text ?? "").split("\n")[0]!.trim();
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function waitForTcp(port: number, timeoutMs: number, what: string, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child !== undefined && child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before listening on ${port}`);
    const ok = await new Promise<boolean>((done) => {
      const socket = connectTcp({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        done(true);
      });
      socket.once("error", () => done(false));
    });
    if (ok) return;
    await Bun.sleep(100);
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      done();
    }, timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      done();
    });
  });
}
