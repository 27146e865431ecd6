/**
 * Small helpers for the interop tests: bounded waits, draining an AMQP queue, and the
 * command-line MQTT clients (mosquitto_pub / mosquitto_sub) and the paho script
 * (paho-client.py) as processes with parsed output.
 */
import type { Channel, GetMessage } from "amqplib";
import type { Socket } from "bun";
import type { IClientOptions } from "mqtt";
import { join } from "node:path";
import { spawnWatched, type WatchedProcess } from "../support/binary.ts";

/** `mqttv31` = MQTT 3.1 (MQIsdp, level 3), `mqttv311` = MQTT 3.1.1 (MQTT, level 4): mosquitto's names. */
export type MqttVersion = "mqttv31" | "mqttv311";
export const MQTT_VERSIONS: readonly MqttVersion[] = ["mqttv31", "mqttv311"];

/** MQTT.js options for a protocol version in mosquitto's naming. */
export function mqttjsVersion(version: MqttVersion): Pick<IClientOptions, "protocolVersion" | "protocolId"> {
  return version === "mqttv31" ? { protocolVersion: 3, protocolId: "MQIsdp" } : { protocolVersion: 4, protocolId: "MQTT" };
}

/** Resolves like `promise`, or rejects after `timeoutMs` with "timed out after N ms waiting for <what>". */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Takes (and acks) every message now in `queue`, in order. */
export async function collectQueue(channel: Channel, queue: string): Promise<GetMessage[]> {
  const messages: GetMessage[] = [];
  for (;;) {
    const message = await channel.get(queue, { noAck: true });
    if (message === false) return messages;
    messages.push(message);
  }
}

/** Waits (bounded) until `queue` holds a message, then takes it. */
export async function getOne(channel: Channel, queue: string, timeoutMs = 5000): Promise<GetMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const message = await channel.get(queue, { noAck: true });
    if (message !== false) return message;
    if (Date.now() > deadline) throw new Error(`no message arrived in AMQP queue ${queue} within ${timeoutMs} ms`);
    await Bun.sleep(20); // basic.get has no "wait": poll, briefly
  }
}

/** A finished command-line run. */
export interface ToolRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (stdin closed); a run over `timeoutMs` is killed and fails with its output. */
export async function runTool(argv: string[], timeoutMs = 15_000): Promise<ToolRun> {
  const child = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (child.signalCode !== null) {
    throw new Error(`${argv.join(" ")} was killed after ${timeoutMs} ms (${child.signalCode}); stdout:\n${stdout}\nstderr:\n${stderr}`);
  }
  return { exitCode, stdout, stderr };
}

export interface MosquittoPubOptions {
  port: number;
  version: MqttVersion;
  topic: string;
  message: string;
  qos?: 0 | 1;
  clientId?: string;
  retain?: boolean;
  username?: string;
  password?: string;
}

/** `mosquitto_pub … -m MESSAGE`; exits 0 once sent (QoS 0) or PUBACKed (QoS 1). */
export function mosquittoPub(options: MosquittoPubOptions): Promise<ToolRun> {
  const argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", String(options.port), "-V", options.version, "-t", options.topic, "-m", options.message];
  argv.push("-q", String(options.qos ?? 0));
  if (options.clientId !== undefined) argv.push("-i", options.clientId);
  if (options.retain === true) argv.push("-r");
  if (options.username !== undefined) argv.push("-u", options.username);
  if (options.password !== undefined) argv.push("-P", options.password);
  return runTool(argv);
}

export interface MosquittoSubOptions {
  port: number;
  version: MqttVersion;
  topics: string[];
  qos?: 0 | 1;
  clientId?: string;
  /** `-c`: persistent session (clean session = 0). */
  persistent?: boolean;
  /** `-C N`: exit after N messages. */
  count?: number;
  /** `-E`: exit once the subscriptions are acknowledged. */
  exitAfterSubscribe?: boolean;
  username?: string;
  password?: string;
}

/** A message as mosquitto_sub printed it (see SUB_FORMAT). */
export interface SubMessage {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/** One line per message: a marker, QoS, retain flag, topic, payload (topics and payloads in these tests have no spaces). */
const SUB_FORMAT = "MSG %q %r %t %p";
const SUB_LINE = /^MSG (\d) (\d) (\S+) (.*)$/;
/** `-d`: `Client x received PUBLISH (d1, q1, r0, m3, 'a/b', ... (2 bytes))`. */
const PUBLISH_DEBUG_LINE = /received PUBLISH \(d(\d), q(\d), r(\d), m\d+, '([^']*)'/;

/** A running mosquitto_sub with `-d` (debug lines tell us when the SUBACK came) and parsed messages. */
export interface MosquittoSub extends WatchedProcess {
  /** Resolves with the granted QoS list of the SUBACK (`Subscribed (mid: 1): 1, 0`). */
  subscribed(timeoutMs?: number): Promise<number[]>;
  /** Every message printed so far. */
  messages(): SubMessage[];
  /** The PUBLISH packets as its debug lines show them, with the DUP flag `-F` cannot print. */
  publishPackets(): { dup: boolean; qos: number; retain: boolean; topic: string }[];
  /** Waits until at least `count` messages were printed, then returns all of them. */
  waitForMessages(count: number, timeoutMs?: number): Promise<SubMessage[]>;
}

export function mosquittoSub(options: MosquittoSubOptions): MosquittoSub {
  // stdbuf: mosquitto_sub's debug lines go through stdio, which holds them back in a pipe.
  const argv = ["stdbuf", "-oL", "mosquitto_sub", "-d", "-h", "127.0.0.1", "-p", String(options.port), "-V", options.version, "-F", SUB_FORMAT];
  argv.push("-q", String(options.qos ?? 0));
  for (const topic of options.topics) argv.push("-t", topic);
  if (options.clientId !== undefined) argv.push("-i", options.clientId);
  if (options.persistent === true) argv.push("-c");
  if (options.count !== undefined) argv.push("-C", String(options.count));
  if (options.exitAfterSubscribe === true) argv.push("-E");
  if (options.username !== undefined) argv.push("-u", options.username);
  if (options.password !== undefined) argv.push("-P", options.password);
  const child = spawnWatched(argv, { name: "mosquitto_sub" });
  const messages = (): SubMessage[] =>
    child.lines.flatMap((line) => {
      const match = SUB_LINE.exec(line);
      return match === null ? [] : [{ qos: Number(match[1]), retain: match[2] === "1", topic: match[3]!, payload: match[4]! }];
    });
  return Object.assign(child, {
    async subscribed(timeoutMs = 10_000) {
      const line = await child.waitForLine(/^Subscribed \(mid: \d+\): /, timeoutMs);
      return line.replace(/^Subscribed \(mid: \d+\): /, "").split(",").map((qos) => Number(qos.trim()));
    },
    messages,
    publishPackets: () =>
      child.lines.flatMap((line) => {
        const match = PUBLISH_DEBUG_LINE.exec(line);
        return match === null ? [] : [{ dup: match[1] === "1", qos: Number(match[2]), retain: match[3] === "1", topic: match[4]! }];
      }),
    async waitForMessages(count: number, timeoutMs = 10_000) {
      let seen = 0;
      try {
        await child.waitForLine((line) => SUB_LINE.test(line) && ++seen >= count, timeoutMs);
      } catch (error) {
        throw new Error(`mosquitto_sub printed ${messages().length} of ${count} messages: ${(error as Error).message}`);
      }
      return messages();
    },
  });
}

/** The paho script (paho-mqtt 1.6.1 under /usr/bin/python3; see paho-client.py for the events it prints). */
export const PAHO_SCRIPT = join(import.meta.dir, "paho-client.py");

/** One JSON line printed by paho-client.py. */
export type PahoEvent =
  | { event: "connack"; rc: number; session_present: number }
  | { event: "suback"; granted: number[] }
  | { event: "puback"; mid: number }
  | { event: "message"; topic: string; payload: string; qos: number; retain: boolean; dup: boolean }
  | { event: "ready" }
  | { event: "done" }
  | { event: "error"; message: string };

export interface PahoOptions {
  port: number;
  version: MqttVersion;
  clientId: string;
  subscribe?: { topic: string; qos: 0 | 1 }[];
  publish?: { topic: string; qos: 0 | 1; payload: string }[];
  will?: { topic: string; qos: 0 | 1; payload: string };
  /** Messages to wait for before disconnecting. */
  expect?: number;
  /** Stay connected (print `ready`) until killed, instead of disconnecting. */
  hold?: boolean;
  /** The script's own limit, so a lost message fails with its output rather than a hang. */
  timeoutSeconds?: number;
}

export interface PahoClient extends WatchedProcess {
  events(): PahoEvent[];
  waitForEvent(kind: PahoEvent["event"], timeoutMs?: number): Promise<PahoEvent>;
}

/** Starts paho-client.py with `options` (as JSON in argv[1]). */
export function paho(options: PahoOptions): PahoClient {
  const { clientId, timeoutSeconds, ...rest } = options;
  const config = { host: "127.0.0.1", client_id: clientId, timeout_seconds: timeoutSeconds ?? 15, ...rest };
  const child = spawnWatched(["/usr/bin/python3", PAHO_SCRIPT, JSON.stringify(config)], { name: "paho-client.py" });
  const events = (): PahoEvent[] =>
    child.lines.flatMap((line) => {
      if (!line.startsWith("{")) return [];
      try {
        return [JSON.parse(line) as PahoEvent];
      } catch {
        return [];
      }
    });
  return Object.assign(child, {
    events,
    async waitForEvent(kind: PahoEvent["event"], timeoutMs = 10_000) {
      const line = await child.waitForLine(new RegExp(`^\\{"event": "${kind}"`), timeoutMs);
      return JSON.parse(line) as PahoEvent;
    },
  });
}

/** A TCP forwarder started by {@link forwardTcp}. */
export interface TcpForwarder {
  readonly port: number;
  /** Stops listening and closes every forwarded connection. */
  stop(): void;
}

/**
 * Listens on `[::]:listenPort` and forwards each connection to `target` (a stand-in for a broker
 * that comes up later: the adapter's URL points at `listenPort` from the start). Bytes that
 * arrive before the upstream connection is open are held, in order; traffic here is tiny.
 */
export function forwardTcp(listenPort: number, target: { host: string; port: number }): TcpForwarder {
  type Pair = { upstream?: Socket<undefined>; held: Uint8Array[]; closed: boolean };
  const pairs = new Set<Socket<Pair>>();
  const listener = Bun.listen<Pair>({
    hostname: "::",
    port: listenPort,
    socket: {
      open(client) {
        client.data = { held: [], closed: false };
        pairs.add(client);
        void Bun.connect({
          hostname: target.host,
          port: target.port,
          socket: {
            open(upstream) {
              if (client.data.closed) return void upstream.end();
              client.data.upstream = upstream;
              for (const chunk of client.data.held.splice(0)) upstream.write(chunk);
            },
            data(_upstream, chunk) {
              client.write(chunk);
            },
            close() {
              client.end();
            },
            connectError() {
              client.end();
            },
          },
        });
      },
      data(client, chunk) {
        if (client.data.upstream === undefined) client.data.held.push(new Uint8Array(chunk));
        else client.data.upstream.write(chunk);
      },
      close(client) {
        client.data.closed = true;
        client.data.upstream?.end();
        pairs.delete(client);
      },
    },
  });
  return {
    port: listener.port,
    stop() {
      listener.stop(true);
      for (const client of pairs) client.end();
    },
  };
}
