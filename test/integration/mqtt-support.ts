/**
 * Helpers for the behaviour tests with real clients (`test/integration/mqtt-*.test.ts`):
 * bounded waits, RabbitMQ users/vhosts made per test file and removed afterwards, MQTT.js
 * clients that never reconnect on their own, and a message inbox that fails with a clear
 * message instead of hanging. The raw-socket client is in mqtt-raw-client.ts, the command-line
 * clients (mosquitto, paho) in mqtt-cli-clients.ts.
 *
 * Why "a marker" instead of "wait N ms and check nothing came": to show a message was NOT
 * delivered, a test publishes it, then a marker message that must travel the same path (same
 * publisher, same session queue, so RabbitMQ keeps their order); once the marker arrives the
 * unwanted message would have arrived before it. No fixed sleeps, no flaky "long enough".
 */
import mqtt, { type IClientOptions, type MqttClient, type IPublishPacket } from "mqtt";
import { openAmqp, rabbitmqctl, rabbitmqctlJson, uniqueName, type AmqpSession } from "../support/broker.ts";

/**
 * Timeout for beforeAll/afterAll hooks: they create users and vhosts with rabbitmqctl (an Erlang
 * VM per call, slower when the machine is busy) and bun's default hook timeout is 5 s.
 */
export const HOOK_TIMEOUT_MS = 60_000;

/**
 * Per-test timeout (`setDefaultTimeout`): every wait inside a test has its own, shorter bound
 * with a message; this one only has to be longer than a test that polls rabbitmqctl a few times.
 */
export const TEST_TIMEOUT_MS = 30_000;

/** Rejects with `what` (and the elapsed bound) when `promise` has not settled within `timeoutMs`. */
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

/**
 * Polls `check` until it returns something other than undefined/false, for state that has no
 * event to wait on (rabbitmqctl listings, log lines). Fails after `timeoutMs` naming `what`.
 */
export async function waitUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  { timeoutMs = 10_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(intervalMs);
  }
}

/** Log lines of the adapter that belong to `clientId`'s connection(s). */
export function clientLogLines(logLines: readonly string[], clientId: string): string[] {
  return logLines.filter((line) => line.includes(` client ${clientId}>`));
}

/** Waits until a line of `logLines` matches `pattern` (and, if given, mentions `clientId`'s connection). */
export function waitForLogLine(logLines: readonly string[], pattern: RegExp, what: string, clientId?: string): Promise<string> {
  return waitUntil(
    () => (clientId === undefined ? logLines : clientLogLines(logLines, clientId)).find((line) => pattern.test(line)),
    `a log line ${what} (${pattern})`,
  );
}

// --- RabbitMQ users and vhosts ---------------------------------------------------------------

/** A RabbitMQ user made for a test: its login and the vhost its permissions are in. */
export interface TestUser {
  username: string;
  password: string;
  vhost: string;
}

export interface UserSpec {
  /** Default: "/". */
  vhost?: string;
  /** configure / write / read regexes, as `rabbitmqctl set_permissions` takes them; default ".*" each. */
  configure?: string;
  write?: string;
  read?: string;
  /** Topic permissions on amq.topic (write / read regexes over routing keys); none when absent. */
  topic?: { write: string; read: string };
  /** No set_permissions at all: the user has no access to the vhost. */
  noPermissions?: boolean;
}

/**
 * Users and vhosts created through rabbitmqctl for one test file, deleted by `cleanup()`
 * (call it from `afterAll`). Names come from `uniqueName`, so concurrent runs never collide.
 */
export class BrokerFixtures {
  private readonly users: string[] = [];
  private readonly vhosts: string[] = [];

  async addVhost(prefix = "vh"): Promise<string> {
    const vhost = uniqueName(prefix);
    this.vhosts.push(vhost);
    await rabbitmqctl("add_vhost", vhost);
    return vhost;
  }

  async addUser(spec: UserSpec = {}, prefix = "u"): Promise<TestUser> {
    const username = uniqueName(prefix);
    const password = `pw-${uniqueName("p")}`;
    const vhost = spec.vhost ?? "/";
    this.users.push(username);
    await rabbitmqctl("add_user", username, password);
    if (spec.noPermissions !== true) {
      await rabbitmqctl("set_permissions", "-p", vhost, username, spec.configure ?? ".*", spec.write ?? ".*", spec.read ?? ".*");
    }
    if (spec.topic !== undefined) {
      await rabbitmqctl("set_topic_permissions", "-p", vhost, username, "amq.topic", spec.topic.write, spec.topic.read);
    }
    return { username, password, vhost };
  }

  /** Deletes every user and vhost made here (vhosts take their queues with them). */
  async cleanup(): Promise<void> {
    const users = this.users.splice(0);
    const vhosts = this.vhosts.splice(0);
    await Promise.all([
      ...users.map((user) => rabbitmqctl("delete_user", user).catch(() => {})),
      ...vhosts.map((vhost) => rabbitmqctl("delete_vhost", vhost).catch(() => {})),
    ]);
  }
}

/** One row of `rabbitmqctl list_queues` with the columns {@link listQueues} asks for. */
export interface QueueRow {
  name: string;
  durable: boolean;
  auto_delete: boolean;
  arguments: Record<string, unknown>;
  messages: number;
  messages_ready: number;
  messages_unacknowledged: number;
  consumers: number;
}

/** The queues of `vhost` whose name contains `fragment`. */
export async function listQueues(vhost: string, fragment: string): Promise<QueueRow[]> {
  const rows = await rabbitmqctlJson<QueueRow[]>(
    "list_queues",
    "-p",
    vhost,
    "name",
    "durable",
    "auto_delete",
    "arguments",
    "messages",
    "messages_ready",
    "messages_unacknowledged",
    "consumers",
  );
  return rows.filter((row) => row.name.includes(fragment));
}

/** The session queue name of the compatibility contract. */
export function sessionQueue(clientId: string): string {
  return `mqtt-subscription-${clientId}qos1`;
}

/**
 * Waits until the listing of `vhost` shows (or, with `present` false, no longer shows) the queue
 * `name`. rabbitmqctl starts an Erlang VM per call: prefer {@link waitForQueue} unless the check
 * must not touch the queue (a passive declare counts as use for x-expires).
 */
export function waitForQueueListed(vhost: string, name: string, present: boolean): Promise<true> {
  return waitUntil(
    async () => (await listQueues(vhost, name)).some((row) => row.name === name) === present,
    `queue ${name} in vhost ${vhost} to be ${present ? "listed" : "gone from the listing"}`,
    { intervalMs: 100 },
  );
}

let probe: Promise<AmqpSession> | undefined;

/** The shared probe connection; forgotten when it closes (another test file may restart the broker). */
function openProbe(): Promise<AmqpSession> {
  const opening = openAmqp();
  void opening.then(
    (session) => session.connection.once("close", () => {
      if (probe === opening) probe = undefined;
    }),
    () => {
      if (probe === opening) probe = undefined;
    },
  );
  return opening;
}

/**
 * Ready messages in queue `name` of vhost "/" by a passive queue.declare over AMQP (fast, unlike
 * rabbitmqctl), or undefined when the queue does not exist. One channel per call: a 404 closes it.
 */
export async function readyCount(name: string): Promise<number | undefined> {
  probe ??= openProbe(); // closed by the harness after the last test file
  const { connection } = await probe;
  const channel = await connection.createChannel();
  channel.on("error", () => {});
  try {
    return (await channel.checkQueue(name)).messageCount;
  } catch (error) {
    if (/404|NOT_FOUND/.test(String(error))) return undefined;
    throw error;
  } finally {
    await channel.close().catch(() => {});
  }
}

/** Waits until queue `name` in vhost "/" exists (or, with `present` false, is gone). */
export function waitForQueue(name: string, present: boolean): Promise<true> {
  return waitUntil(
    async () => ((await readyCount(name)) !== undefined) === present,
    `queue ${name} to be ${present ? "declared" : "deleted"}`,
    { intervalMs: 25 },
  );
}

/** Waits until queue `name` in vhost "/" has exactly `ready` ready messages. */
export function waitForReady(name: string, ready: number): Promise<true> {
  return waitUntil(async () => (await readyCount(name)) === ready, `queue ${name} to hold ${ready} ready message(s)`, { intervalMs: 25 });
}

// --- MQTT.js ------------------------------------------------------------------------------------

/** MQTT.js options for MQTT 3.1 (MQIsdp, level 3) or 3.1.1 (MQTT, level 4). */
export function protocolOptions(version: "3.1" | "3.1.1"): Pick<IClientOptions, "protocolId" | "protocolVersion"> {
  return version === "3.1" ? { protocolId: "MQIsdp", protocolVersion: 3 } : { protocolId: "MQTT", protocolVersion: 4 };
}

/**
 * Connects MQTT.js (3.1.1 unless `options` say otherwise) with automatic reconnection off, so a
 * refused or closed connection stays closed and shows in the test. Rejects on a refused CONNACK.
 */
export async function connectMqttJs(url: string, options: IClientOptions): Promise<MqttClient> {
  return (await connectMqttJsWithConnack(url, options)).client;
}

/** Like {@link connectMqttJs}, also returning the CONNACK's Session Present flag. */
export async function connectMqttJsWithConnack(
  url: string,
  options: IClientOptions,
): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000, ...options });
  try {
    const sessionPresent = await withTimeout(
      new Promise<boolean>((resolve, reject) => {
        client.once("connect", (connack) => resolve(connack.sessionPresent));
        client.once("error", reject);
        client.once("close", () => reject(new Error("connection closed before CONNACK")));
      }),
      8_000,
      `MQTT.js CONNACK for client ${String(options.clientId)}`,
    );
    return { client, sessionPresent };
  } catch (error) {
    client.end(true);
    throw error;
  }
}

/**
 * What a CONNECT gets: `{ connack: returnCode, sessionPresent }` from an MQTT.js client that
 * does not reconnect; the client is closed afterwards. For CONNACK codes 1..5 MQTT.js emits an
 * error carrying the code.
 */
export async function connackOf(url: string, options: IClientOptions): Promise<{ returnCode: number; sessionPresent: boolean }> {
  const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000, ...options });
  try {
    return await withTimeout(
      new Promise<{ returnCode: number; sessionPresent: boolean }>((resolve, reject) => {
        client.once("connect", (packet) => resolve({ returnCode: packet.returnCode ?? 0, sessionPresent: packet.sessionPresent }));
        client.once("error", (error) => {
          const code = (error as { code?: unknown }).code;
          if (typeof code === "number") resolve({ returnCode: code, sessionPresent: false });
          else reject(error);
        });
        client.once("close", () => reject(new Error("connection closed before any CONNACK")));
      }),
      8_000,
      `a CONNACK for client ${String(options.clientId)}`,
    );
  } finally {
    client.end(true);
  }
}

/** A message as a test compares it. */
export interface ReceivedMessage {
  topic: string;
  payload: string;
  qos: number;
  dup: boolean;
  retain: boolean;
}

/** Collects an MQTT.js client's messages in arrival order; `next()` waits for the next one. */
export class Inbox {
  readonly messages: ReceivedMessage[] = [];
  private readIndex = 0;
  private waiter: (() => void) | undefined;

  constructor(client: MqttClient) {
    client.on("message", (topic: string, payload: Buffer, packet: IPublishPacket) => {
      this.messages.push({ topic, payload: payload.toString(), qos: packet.qos, dup: packet.dup, retain: packet.retain });
      this.waiter?.();
    });
  }

  /** The next message not yet returned by next(), waiting up to `timeoutMs`. */
  async next(what = "the next message", timeoutMs = 5_000): Promise<ReceivedMessage> {
    if (this.readIndex < this.messages.length) return this.messages[this.readIndex++]!;
    await withTimeout(new Promise<void>((resolve) => (this.waiter = resolve)), timeoutMs, what).finally(() => {
      this.waiter = undefined;
    });
    return this.messages[this.readIndex++]!;
  }

  /** Waits for `count` more messages and returns them. */
  async take(count: number, what: string, timeoutMs = 5_000): Promise<ReceivedMessage[]> {
    const out: ReceivedMessage[] = [];
    for (let i = 0; i < count; i++) out.push(await this.next(`${what} (${i + 1} of ${count})`, timeoutMs));
    return out;
  }
}

/** Resolves when `client`'s connection closes (however it happened); bounded by `timeoutMs`. */
export function closedPromise(client: MqttClient, what: string, timeoutMs = 8_000): Promise<void> {
  if (!client.connected && client.disconnected) return Promise.resolve();
  return withTimeout(new Promise<void>((resolve) => client.once("close", () => resolve())), timeoutMs, what);
}

/** Ends every client, ignoring ones already closed; for `finally` blocks. */
export async function endAll(...clients: Array<MqttClient | undefined>): Promise<void> {
  await Promise.all(clients.map((client) => (client === undefined ? undefined : client.endAsync(true).catch(() => {}))));
}

/** A topic no other test uses, starting with `prefix`. */
export function uniqueTopic(prefix: string): string {
  return uniqueName(prefix);
}
