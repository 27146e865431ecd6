/**
 * Helpers for the shared QoS 0 fan-out tests (`qos0-fanout*.test.ts`, issue 8): what RabbitMQ
 * holds for a vhost (fan-out queues and whose connection owns them, bindings by routing key),
 * SUBACK codes from MQTT.js, collecting messages until markers arrive, and what the adapter
 * holds unsent for a client during a burst.
 *
 * Why markers and not "wait and see nothing came" (mqtt-support.ts says it for one path): in
 * shared mode one client is fed by two paths, its session queue (QoS 1/2, clean=false) and its
 * user's fan-out queue (clean QoS 0). RabbitMQ keeps order only within one queue, so a test that
 * must show "no duplicate, no stray message" publishes a trailing marker down EVERY path the
 * client has; once all markers arrived, anything unwanted on any path arrived before them.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import type { TestAdapter } from "../support/adapter.ts";
import { rabbitmqctlJson } from "../support/broker.ts";
import type { Inbox, ReceivedMessage, TestUser } from "./mqtt-support.ts";

/** The prefix the adapter gives its per-(vhost, user) fan-out queues (the plugin's `mqtt-subscription-` first). */
export const FANOUT_PREFIX = "mqtt-subscription-adapter-fanout-";

/** A fan-out queue name: the prefix, then hex digits / digits (a process token and a counter). */
export const FANOUT_NAME = /^mqtt-subscription-adapter-fanout-[0-9a-f]+(?:-[0-9a-f]+)*$/;

/** One queue of a vhost as the fan-out tests look at it. */
export interface QueueShape {
  name: string;
  durable: boolean;
  exclusive: boolean;
  /** RabbitMQ user of the connection that owns the (exclusive) queue; undefined for a shared queue. */
  ownerUser: string | undefined;
}

/** Every queue of `vhost`, with the user whose connection owns it (exclusive queues only). */
export async function queuesOf(vhost: string): Promise<QueueShape[]> {
  type QueueRow = { name: string; durable: boolean; exclusive: boolean; owner_pid: string };
  type ConnectionRow = { pid: string; user: string };
  const [queues, connections] = await Promise.all([
    rabbitmqctlJson<QueueRow[]>("list_queues", "-p", vhost, "name", "durable", "exclusive", "owner_pid"),
    rabbitmqctlJson<ConnectionRow[]>("list_connections", "pid", "user"),
  ]);
  const userOf = new Map(connections.map((row) => [String(row.pid), row.user]));
  return queues.map((row) => ({
    name: row.name,
    durable: row.durable,
    exclusive: row.exclusive,
    ownerUser: userOf.get(String(row.owner_pid)),
  }));
}

/** The fan-out queues of `vhost` (by name prefix). */
export async function fanoutQueuesOf(vhost: string): Promise<QueueShape[]> {
  return (await queuesOf(vhost)).filter((queue) => queue.name.startsWith(FANOUT_PREFIX));
}

/** One binding from amq.topic in a vhost. */
export interface BindingRow {
  source_name: string;
  destination_name: string;
  routing_key: string;
}

/** The bindings from amq.topic in `vhost`, optionally only those with `routingKey`. */
export async function topicBindingsOf(vhost: string, routingKey?: string): Promise<BindingRow[]> {
  const rows = await rabbitmqctlJson<BindingRow[]>("list_bindings", "-p", vhost, "source_name", "destination_name", "routing_key");
  return rows.filter((row) => row.source_name === "amq.topic" && (routingKey === undefined || row.routing_key === routingKey));
}

/** MQTT.js options that log `user` into its vhost (`vhost:user`, as the plugin takes it). */
export function loginOf(user: TestUser): { username: string; password: string } {
  return { username: `${user.vhost}:${user.username}`, password: user.password };
}

/** The SUBACK return codes for `filters` in one SUBSCRIBE; MQTT.js rejects on 0x80 but keeps the packet on the error. */
export async function subackOf(client: MqttClient, filters: Record<string, 0 | 1 | 2>): Promise<number[]> {
  const request = Object.fromEntries(Object.entries(filters).map(([filter, qos]) => [filter, { qos }]));
  try {
    return (await client.subscribeAsync(request)).map((grant) => grant.qos);
  } catch (error) {
    const granted = (error as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted === undefined) throw error;
    return granted;
  }
}

/**
 * Messages from `inbox` until every payload in `markers` has been seen (the markers included).
 * Fails naming what did arrive when a marker is missing after `timeoutMs` per message.
 */
export async function collectUntilMarkers(inbox: Inbox, markers: readonly string[], timeoutMs = 5_000): Promise<ReceivedMessage[]> {
  const seen: ReceivedMessage[] = [];
  const missing = new Set(markers);
  while (missing.size > 0) {
    const what = `markers ${JSON.stringify([...missing])} (got ${JSON.stringify(summarise(seen))} so far)`;
    const message = await inbox.next(what, timeoutMs);
    seen.push(message);
    missing.delete(message.payload);
  }
  return seen;
}

/** `topic payload@qos` per message, for comparing what arrived in one readable line. */
export function summarise(messages: readonly ReceivedMessage[]): string[] {
  return messages.map((m) => `${m.topic} ${m.payload}@${m.qos}`);
}

/** {@link summarise}, sorted: for messages that travel different paths (no order between them). */
export function summariseUnordered(messages: readonly ReceivedMessage[]): string[] {
  return summarise(messages).sort();
}

/** A mosquitto_sub child whose output goes to a file (see {@link startFileSubscriber}). */
export interface FileSubscriber {
  /** Resolves once its SUBACK arrived (from its `-d` output). */
  started: Promise<void>;
  /** Resolves when it exits (after `count` messages or its `-W` timeout) with the payloads it printed, in order. */
  done: Promise<string[]>;
  kill(): void;
}

const FILE_MESSAGE_PREFIX = "MSG\t";

/**
 * mosquitto_sub (a separate process, C, fast) subscribed to `filter` at `qos`, printing payloads
 * to a file rather than a pipe. Why: the adapter under test runs inside the test process, so a
 * subscriber reading there (an MQTT.js client, or a pipe this process drains) competes with the
 * adapter and the publisher for one event loop and lags behind a burst; to show that a stuck
 * client does not starve a healthy one, the healthy one must be able to keep up on its own.
 */
export function startFileSubscriber(options: {
  port: number;
  clientId: string;
  username: string;
  password: string;
  filter: string;
  qos: 0 | 1 | 2;
  /** -C: exit after this many messages. */
  count: number;
  /** -W: exit after this long in any case. */
  timeoutSeconds: number;
}): FileSubscriber {
  const dir = mkdtempSync(join(tmpdir(), "qos0-fanout-sub-"));
  const outPath = join(dir, "out.txt");
  const argv = [
    "stdbuf", "-oL", // line-buffered, so the SUBACK line is in the file when it happens
    "mosquitto_sub", "-h", "127.0.0.1", "-p", String(options.port), "-V", "mqttv311", "-i", options.clientId,
    "-u", options.username, "-P", options.password, "-t", options.filter, "-q", String(options.qos),
    "-C", String(options.count), "-W", String(options.timeoutSeconds), "-d", "-F", `${FILE_MESSAGE_PREFIX}%p`,
  ];
  const child = Bun.spawn(argv, { stdin: "ignore", stdout: Bun.file(outPath), stderr: "pipe", timeout: (options.timeoutSeconds + 10) * 1000 });
  const output = () => (existsSync(outPath) ? readFileSync(outPath, "utf8") : "");
  const exited = child.exited;
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const started = (async () => {
    const deadline = Date.now() + 8_000;
    while (!output().includes("received SUBACK")) {
      if (hasExited) throw new Error(`mosquitto_sub ${options.clientId} exited before its SUBACK:\n${output()}\n${await new Response(child.stderr).text()}`);
      if (Date.now() > deadline) throw new Error(`timed out after 8000 ms waiting for the SUBACK of mosquitto_sub ${options.clientId}:\n${output()}`);
      await Bun.sleep(25);
    }
  })();
  started.catch(() => {}); // a test that fails earlier must not see an unhandled rejection
  const done = exited.then(() => {
    const payloads = output()
      .split("\n")
      .filter((line) => line.startsWith(FILE_MESSAGE_PREFIX))
      .map((line) => line.slice(FILE_MESSAGE_PREFIX.length));
    rmSync(dir, { recursive: true, force: true });
    return payloads;
  });
  return { started, done, kill: () => child.kill("SIGKILL") };
}

/** The private side of a connection's transport that these tests read (as websocket-listener.test.ts does). */
interface TransportInternals {
  write(bytes: Uint8Array): boolean;
  readonly bufferedBytes: number;
}

function transportOf(adapter: TestAdapter, clientId: string): TransportInternals | undefined {
  const connection = [...adapter.server.connections].find((c) => c.info.clientId === clientId);
  return (connection as unknown as { transport: TransportInternals } | undefined)?.transport;
}

/**
 * How many bytes the adapter has accepted for `clientId`'s socket but not yet handed to the
 * kernel (its transport's `bufferedBytes`). Undefined while no connection of that client id is open.
 */
export function adapterBufferedBytes(adapter: TestAdapter, clientId: string): number | undefined {
  return transportOf(adapter, clientId)?.bufferedBytes;
}

/** The most a connection's transport held unsent (see {@link trackBufferedPeak}). */
export interface BufferedPeak {
  bytes: number;
  /** Writes to the transport up to the peak (one per PUBLISH). */
  writes: number;
  /** What `snapshot` returned at the peak. */
  snapshot: number;
}

/**
 * Follows the most bytes the adapter holds unsent for `clientId`, checked after every write to
 * its transport (the private `write`, wrapped for this diagnosis only). A timer cannot see the
 * peak: in a burst the adapter fills the buffer within event-loop turns no timer runs between.
 * `snapshot` is called at each new peak, e.g. to note how many messages the client had by then.
 */
export function trackBufferedPeak(adapter: TestAdapter, clientId: string, snapshot: () => number): BufferedPeak {
  const transport = transportOf(adapter, clientId);
  if (transport === undefined) throw new Error(`no adapter connection of client ${clientId} to follow`);
  const peak: BufferedPeak = { bytes: 0, writes: 0, snapshot: 0 };
  const write = transport.write.bind(transport);
  let writes = 0;
  transport.write = (bytes) => {
    const accepted = write(bytes);
    writes++;
    if (transport.bufferedBytes > peak.bytes) Object.assign(peak, { bytes: transport.bufferedBytes, writes, snapshot: snapshot() });
    return accepted;
  };
  return peak;
}

/**
 * Waits until `count()` reaches `target`, or until it has not grown for `idleMs` (then returns
 * anyway, so the caller's assertion says how many arrived instead of a bare timeout). Suits a
 * burst whose arrival time depends on the machine: no deadline while messages keep coming.
 */
export async function waitWhileGrowing(count: () => number, target: number, idleMs = 5_000): Promise<void> {
  let last = count();
  let lastGrowthMs = Date.now();
  while (count() < target && Date.now() - lastGrowthMs < idleMs) {
    await Bun.sleep(20);
    if (count() !== last) [last, lastGrowthMs] = [count(), Date.now()];
  }
}
