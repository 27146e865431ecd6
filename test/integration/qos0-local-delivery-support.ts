/**
 * Helpers for the QoS 0 local-delivery tests (`qos0-local-delivery*.test.ts`): publishing a burst
 * in few reads, comparing what arrived with what was sent in one readable line, waiting for
 * markers, and the fixture every `describe.each` block of those files sets up (two adapters in
 * one mode, two vhosts, users with different permissions, clients and AMQP sessions closed after
 * the block).
 *
 * "Nothing more arrived" is shown with a trailing QoS 1 marker from the same RabbitMQ user:
 * every client of a user publishes on one AMQP channel, QoS 1 is never delivered locally, and
 * RabbitMQ keeps a channel's order into each queue, so once the marker is in, every echo of the
 * messages before it has been through the fan-out queue too (mqtt-support.ts explains markers).
 * A short settle after the marker only catches strays on other paths.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import type { ConfirmChannel, Options } from "amqplib";
import type { IClientOptions, MqttClient } from "mqtt";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { openAmqp, rabbitmqUrlFor, uniqueName, type AmqpSession } from "../support/broker.ts";
import { BrokerFixtures, connectMqttJs, endAll, HOOK_TIMEOUT_MS, Inbox, type ReceivedMessage, type TestUser } from "./mqtt-support.ts";
import { loginOf, subackOf } from "./qos0-fanout-support.ts";

/** After the last marker arrived: time for a stray copy on some other path to show up. */
export const SETTLE_MS = 300;

/** Bound on waiting for a marker; generous because the adapter and all clients share this process. */
const MARKER_TIMEOUT_MS = 20_000;

/** Topic permission of a user who may write only routing keys `<word>.ok` (MQTT `<level>/ok`). */
const WRITE_ONLY_OK = { write: "^[^.]+\\.ok$", read: ".*" };

/** basic.publish options exactly as the adapter publishes an MQTT QoS 0 message (session.ts). */
export const AS_ADAPTER_QOS0: Options.Publish = { deliveryMode: 1, headers: { "x-mqtt-publish-qos": { "!": "byte", value: 0 }, "x-mqtt-dup": false } };

/** Prefix of the adapter's metric names. */
export const P = "rabbitmq_mqtt_adapter_";

/** `${prefix}1` … `${prefix}${count}`. */
export function numbered(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
}

/** One PUBLISH of a burst. */
export interface Outgoing {
  topic: string;
  payload: string;
  qos?: 0 | 1;
  retain?: boolean;
}

/**
 * Publishes `messages` from one synchronous loop (no wait between them, so they reach the adapter
 * in few TCP segments, many PUBLISHes per read) and resolves once MQTT.js has written the last
 * (for QoS 1: once its PUBACK came). The QoS 1 ones in between are not waited for.
 */
export async function publishBurst(client: MqttClient, messages: readonly Outgoing[]): Promise<void> {
  const last = messages.length - 1;
  for (const [i, { topic, payload, qos = 0, retain = false }] of messages.entries()) {
    if (i === last) await client.publishAsync(topic, payload, { qos, retain });
    else client.publish(topic, payload, { qos, retain });
  }
}

/** Each payload to `topic` at QoS 0. */
export function toTopic(topic: string, payloads: readonly string[], qos: 0 | 1 = 0): Outgoing[] {
  return payloads.map((payload) => ({ topic, payload, qos }));
}

/**
 * "as expected", or what is wrong with `got` compared with `expected`, in one line short enough
 * to read in a failure: counts, the first position that differs, duplicates, missing and strays.
 */
export function sequenceReport(got: readonly string[], expected: readonly string[]): string {
  if (got.length === expected.length && got.every((item, i) => item === expected[i])) return "as expected";
  const counts = new Map<string, number>();
  for (const item of got) counts.set(item, (counts.get(item) ?? 0) + 1);
  const expectedSet = new Set(expected);
  const duplicates = [...counts].filter(([item, n]) => n > 1 && expectedSet.has(item)).map(([item, n]) => `${item}×${n}`);
  const missing = expected.filter((item) => !counts.has(item));
  const strays = [...counts.keys()].filter((item) => !expectedSet.has(item));
  const at = got.findIndex((item, i) => item !== expected[i]);
  const first =
    at !== -1
      ? `first difference at #${at}: got ${got[at]}, expected ${expected[at] ?? "(end)"}`
      : got.length < expected.length
        ? `ends early, after #${got.length - 1}`
        : `extra messages from #${expected.length} on`;
  const few = (items: string[]) => (items.length === 0 ? "none" : `${items.length} (${items.slice(0, 5).join(", ")}${items.length > 5 ? ", …" : ""})`);
  return `got ${got.length}, expected ${expected.length}; ${first}; duplicates ${few(duplicates)}; missing ${few(missing)}; strays ${few(strays)}`;
}

/** Waits until `payloads()` holds `marker`; the bound resets while messages keep coming (a burst on a busy machine). */
export async function waitForMarker(payloads: () => readonly string[], marker: string, what: string): Promise<void> {
  let seen = -1;
  let lastGrowthMs = Date.now();
  for (;;) {
    const now = payloads();
    if (now.includes(marker)) return;
    if (now.length !== seen) [seen, lastGrowthMs] = [now.length, Date.now()];
    if (Date.now() - lastGrowthMs > MARKER_TIMEOUT_MS) {
      throw new Error(`timed out waiting for marker ${JSON.stringify(marker)} at ${what}; ${now.length} message(s) so far, last ${JSON.stringify(now.slice(-3))}`);
    }
    await Bun.sleep(10);
  }
}

/** Waits for every marker at its receiver, then {@link SETTLE_MS}. */
export async function waitForMarkers(receivers: ReadonlyArray<{ what: string; payloads: () => readonly string[]; marker: string }>): Promise<void> {
  await Promise.all(receivers.map((r) => waitForMarker(r.payloads, r.marker, r.what)));
  await Bun.sleep(SETTLE_MS);
}

export const payloadsOf = (inbox: Inbox) => () => inbox.messages.map((m) => m.payload);

/** `payload@qos` per message (one topic). */
export const withQos = (messages: readonly ReceivedMessage[]) => messages.map((m) => `${m.payload}@${m.qos}`);

/** An AMQP consumer (auto-ack) of an exclusive queue bound to amq.topic, collecting payloads. */
export interface AmqpTap {
  payloads: string[];
  session: AmqpSession;
}

/** Payload `i` of the byte-exactness test: `#i:` then `size` pseudo-random letters (a different sequence per message). */
export function oddPayload(i: number, size: number): string {
  let state = (i + 1) * 2654435761;
  let body = "";
  for (let k = 0; k < size; k++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    body += String.fromCharCode(97 + (state >>> 16) % 26);
  }
  return `#${i}:${body}`;
}

/**
 * What one `describe.each` block of the local-delivery tests works with. The data fields are set
 * by the block's `beforeAll` (see {@link setUpLocalDeliveryFixture}); read them inside tests only.
 */
export interface LocalDeliveryFixture {
  adapter: TestAdapter;
  /** A second adapter (same mode) on the same RabbitMQ: another source of identical MQTT messages. */
  otherAdapter: TestAdapter;
  vhost: string;
  /** Another vhost, to show that local delivery stays inside its vhost. */
  otherVhost: string;
  alice: TestUser;
  bob: TestUser;
  /** May write only `<level>/ok` (topic permission); reads everything. */
  carol: TestUser;
  /** No write permission at all (not even on amq.topic). */
  dora: TestUser;
  /** Full permissions, in `otherVhost`. */
  eve: TestUser;
  /** An MQTT.js 3.1.1 client of `user` (clean session unless `options` say otherwise), ended after the block at the latest. */
  connect(user: TestUser, prefix: string, options?: IClientOptions, on?: TestAdapter): Promise<MqttClient>;
  /** A connected client of `user` with `filters` subscribed, and its inbox. */
  subscriber(user: TestUser, prefix: string, filters: Record<string, 0 | 1>, options?: IClientOptions): Promise<{ client: MqttClient; inbox: Inbox }>;
  openAmqpTap(user: TestUser, bindingKey: string): Promise<AmqpTap>;
  /** An AMQP session of `user` with publisher confirms, closed after the block. */
  openAmqpPublisher(user: TestUser): Promise<AmqpSession<ConfirmChannel>>;
}

/**
 * Registers, in the calling `describe` block, the `beforeAll` that starts the adapters (with
 * `adapter.qos0_fanout = shared` and `adapter.qos0_local_delivery = localDelivery`) and creates
 * the vhosts and users, and the `afterAll` that closes every client and AMQP session opened
 * through the fixture, stops the adapters and deletes the vhosts and users.
 */
export function setUpLocalDeliveryFixture(localDelivery: boolean): LocalDeliveryFixture {
  const brokerFixtures = new BrokerFixtures();
  const clients: MqttClient[] = [];
  const amqpSessions: AmqpSession[] = [];

  beforeAll(async () => {
    [fixture.adapter, fixture.otherAdapter] = await Promise.all([
      startAdapter({ qos0Fanout: "shared", qos0LocalDelivery: localDelivery }),
      startAdapter({ qos0Fanout: "shared", qos0LocalDelivery: localDelivery }),
    ]);
    const [vhost, otherVhost] = await Promise.all([brokerFixtures.addVhost("local"), brokerFixtures.addVhost("local2")]);
    [fixture.vhost, fixture.otherVhost] = [vhost, otherVhost];
    [fixture.alice, fixture.bob, fixture.carol, fixture.dora, fixture.eve] = await Promise.all([
      brokerFixtures.addUser({ vhost }, "alice"),
      brokerFixtures.addUser({ vhost }, "bob"),
      brokerFixtures.addUser({ vhost, topic: WRITE_ONLY_OK }, "carol"),
      brokerFixtures.addUser({ vhost, write: "^$" }, "dora"),
      brokerFixtures.addUser({ vhost: otherVhost }, "eve"),
    ]);
  }, HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await endAll(...clients.splice(0));
    await Promise.all(amqpSessions.splice(0).map((session) => session.close()));
    await Promise.all([fixture.adapter?.stop(), fixture.otherAdapter?.stop()]);
    await brokerFixtures.cleanup();
  }, HOOK_TIMEOUT_MS);

  async function connect(user: TestUser, prefix: string, options: IClientOptions = {}, on: TestAdapter = fixture.adapter): Promise<MqttClient> {
    const client = await connectMqttJs(on.url, { clientId: uniqueName(prefix), ...loginOf(user), ...options });
    clients.push(client);
    return client;
  }

  async function subscriber(user: TestUser, prefix: string, filters: Record<string, 0 | 1>, options: IClientOptions = {}) {
    const client = await connect(user, prefix, options);
    const inbox = new Inbox(client);
    expect(await subackOf(client, filters)).toEqual(Object.values(filters));
    return { client, inbox };
  }

  async function openAmqpTap(user: TestUser, bindingKey: string): Promise<AmqpTap> {
    const session = await openAmqp({ url: await rabbitmqUrlFor(user) });
    amqpSessions.push(session);
    const { queue } = await session.channel.assertQueue("", { exclusive: true, autoDelete: true });
    await session.channel.bindQueue(queue, "amq.topic", bindingKey);
    const payloads: string[] = [];
    await session.channel.consume(queue, (message) => message && payloads.push(message.content.toString()), { noAck: true });
    return { payloads, session };
  }

  async function openAmqpPublisher(user: TestUser): Promise<AmqpSession<ConfirmChannel>> {
    const session = await openAmqp({ url: await rabbitmqUrlFor(user), confirm: true });
    amqpSessions.push(session);
    return session;
  }

  // The data fields stay unset until beforeAll runs; nothing reads them before a test does.
  const fixture = { connect, subscriber, openAmqpTap, openAmqpPublisher } as LocalDeliveryFixture;
  return fixture;
}
