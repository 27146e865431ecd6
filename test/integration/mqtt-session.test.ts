/**
 * Sessions as RabbitMQ queues: a clean session leaves nothing behind, a persistent one is the
 * durable `mqtt-subscription-<clientid>qos1` with `x-expires` = mqtt.subscription_ttl, stores
 * what arrives while the client is away, redelivers what was never PUBACKed with DUP set, and is
 * deleted by a clean CONNECT with the same client id.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ensureRabbitmq, openAmqp, uniqueName } from "../support/broker.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { mosquittoPub, mosquittoSub, runPaho } from "./mqtt-cli-clients.ts";
import { RawMqttClient, type RawPacket } from "./mqtt-raw-client.ts";
import {
  connackOf,
  connectMqttJs,
  connectMqttJsWithConnack,
  endAll,
  HOOK_TIMEOUT_MS,
  Inbox,
  listQueues,
  protocolOptions,
  sessionQueue,
  TEST_TIMEOUT_MS,
  readyCount,
  waitForQueue,
  waitForQueueListed,
  type QueueRow,
} from "./mqtt-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

/** Not the default, so the test sees the configured value reach RabbitMQ. */
const SUBSCRIPTION_TTL_MS = 3_600_000;
let adapter: TestAdapter;

beforeAll(async () => {
  adapter = await startAdapter({ subscriptionTtlMs: SUBSCRIPTION_TTL_MS });
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
  await adapter?.stop();
}, HOOK_TIMEOUT_MS);

/** `x-expires` from a list_queues row (rabbitmqctl's JSON gives arguments as [name, type, value] triples). */
function xExpires(row: QueueRow): unknown {
  const args = row.arguments as unknown;
  if (Array.isArray(args)) return (args as Array<[string, string, unknown]>).find(([name]) => name === "x-expires")?.[2];
  return (args as Record<string, unknown>)["x-expires"];
}

async function queueRow(clientId: string): Promise<QueueRow | undefined> {
  return (await listQueues("/", sessionQueue(clientId))).find((row) => row.name === sessionQueue(clientId));
}

function publishOf(packet: RawPacket): { payload: string; dup: boolean; qos: number; messageId: number } {
  if (packet.cmd !== "publish") throw new Error(`expected PUBLISH, got ${JSON.stringify(packet)}`);
  return { payload: packet.payload.toString(), dup: packet.dup, qos: packet.qos, messageId: packet.messageId ?? 0 };
}

describe("clean session [MQTT-3.1.2-6]", () => {
  test("leaves no queue after DISCONNECT or after an abrupt close (MQTT.js 3.1.1 and 3.1)", async () => {
    for (const [version, abrupt] of [["3.1.1", false], ["3.1", true]] as const) {
      const clientId = uniqueName("clean");
      const client = await connectMqttJs(adapter.url, { clientId, clean: true, ...protocolOptions(version) });
      await client.subscribeAsync(`${clientId}/t`, { qos: 1 });
      const row = await queueRow(clientId);
      expect(row).toMatchObject({ durable: false, auto_delete: true });
      if (abrupt) await client.endAsync(true);
      else await client.endAsync();
      await waitForQueue(sessionQueue(clientId), false);
    }
  });

  test("a paho client that subscribed and left leaves no queue", async () => {
    const clientId = uniqueName("cpaho");
    const result = await runPaho<{ messages: unknown[] }>("pubsub.py", {
      port: adapter.port,
      version: "3.1.1",
      client_id: clientId,
      subscribe: [[`${clientId}/t`, 1]],
      publish: [[`${clientId}/t`, "one", 1]],
      expect: 1,
    });
    expect(result.messages).toHaveLength(1);
    await waitForQueue(sessionQueue(clientId), false);
  });
});

describe("persistent session", () => {
  test("is a durable, not auto-delete queue mqtt-subscription-<clientid>qos1 with x-expires = mqtt.subscription_ttl", async () => {
    const clientId = uniqueName("dur");
    const client = await connectMqttJs(adapter.url, { clientId, clean: false });
    try {
      await client.subscribeAsync(`${clientId}/t`, { qos: 1 });
      const row = await queueRow(clientId);
      expect(row).toMatchObject({ name: `mqtt-subscription-${clientId}qos1`, durable: true, auto_delete: false });
      expect(xExpires(row!)).toBe(SUBSCRIPTION_TTL_MS);
    } finally {
      await endAll(client);
    }
    // Still there after the client left.
    expect(await readyCount(sessionQueue(clientId))).toBe(0);
    await connackOf(adapter.url, { clientId, clean: true }); // clean CONNECT: removes it
  });

  test("a persistent client that only publishes gets no queue (RabbitMQ resources are allocated lazily)", async () => {
    const clientId = uniqueName("lazy");
    const client = await connectMqttJs(adapter.url, { clientId, clean: false });
    try {
      await client.publishAsync(`${clientId}/t`, "just publishing", { qos: 1 });
      expect(await readyCount(sessionQueue(clientId))).toBeUndefined();
    } finally {
      await endAll(client);
    }
  });

  test("messages published while away arrive on return with session present = 1 (3.1.1) [MQTT-3.2.2-2]", async () => {
    const clientId = uniqueName("away");
    const first = await connectMqttJs(adapter.url, { clientId, clean: false });
    await first.subscribeAsync(`${clientId}/+`, { qos: 1 });
    await first.endAsync();

    const publisher = await connectMqttJs(adapter.url, { clientId: uniqueName("pub") });
    for (let i = 0; i < 3; i++) await publisher.publishAsync(`${clientId}/m`, `stored ${i}`, { qos: 1 });
    await publisher.publishAsync(`${clientId}/m`, "qos0 stored too", { qos: 0 });
    await publisher.endAsync();

    // MQTT.js resubscribes nothing by itself here: what arrives comes from the stored session.
    const { client: again, sessionPresent } = await connectMqttJsWithConnack(adapter.url, { clientId, clean: false, resubscribe: false });
    try {
      expect(sessionPresent).toBe(true);
      const inbox = new Inbox(again);
      const payloads = (await inbox.take(4, "the stored messages")).map((m) => `${m.payload}@${m.qos}`);
      expect(payloads).toEqual(["stored 0@1", "stored 1@1", "stored 2@1", "qos0 stored too@0"]);
    } finally {
      await endAll(again);
    }
    await connackOf(adapter.url, { clientId, clean: true });
  });

  /** Session present of a fresh persistent CONNECT with `clientId` (raw client; closed afterwards). */
  async function connackSessionPresent(clientId: string, version = 4): Promise<boolean> {
    const raw = await RawMqttClient.open(adapter.port, version);
    try {
      raw.sendConnect({ clientId, clean: false });
      const connack = await raw.next("CONNACK");
      if (connack.cmd !== "connack" || connack.returnCode !== 0) throw new Error(`CONNACK refused: ${JSON.stringify(connack)}`);
      return connack.sessionPresent;
    } finally {
      raw.destroy();
      await raw.waitClosed("the raw client to close");
    }
  }

  test("session present is 0 for a new persistent session and always 0 in 3.1 (reserved there)", async () => {
    const clientId = uniqueName("sp");
    expect(await connackSessionPresent(clientId)).toBe(false);
    const client = await connectMqttJs(adapter.url, { clientId, clean: false });
    await client.subscribeAsync(`${clientId}/t`, { qos: 1 });
    await client.endAsync();
    expect(await connackSessionPresent(clientId, 4)).toBe(true);
    expect(await connackSessionPresent(clientId, 3)).toBe(false);
    await connackOf(adapter.url, { clientId, clean: true });
  });

  test("mosquitto_sub -c (3.1): what was published while it was away is delivered when it comes back", async () => {
    const clientId = uniqueName("mc");
    const options = { port: adapter.port, version: "mqttv31" as const, clientId, persistent: true };
    // -E: subscribe, then DISCONNECT; the persistent session stays.
    const first = mosquittoSub({ ...options, filters: [`${clientId}/#`], qos: 1, count: 1, exitAfterSuback: true });
    expect((await first.done).result.exitCode).toBe(0);
    await waitForQueue(sessionQueue(clientId), true);
    expect((await mosquittoPub({ port: adapter.port, version: "mqttv311", clientId: uniqueName("mp"), topic: `${clientId}/x`, message: "kept", qos: 1 })).exitCode).toBe(0);
    const back = mosquittoSub({ ...options, filters: [`${clientId}/#`], qos: 1, count: 1 });
    try {
      const { messages } = await back.done;
      expect(messages).toEqual([{ topic: `${clientId}/x`, qos: 1, payload: "kept" }]);
    } finally {
      back.kill();
    }
    await connackOf(adapter.url, { clientId, clean: true });
  });

  test("QoS 1 deliveries not PUBACKed before the connection dropped come back with DUP = 1 [MQTT-4.4.0-1]", async () => {
    const clientId = uniqueName("dup");
    const topic = `${clientId}/t`;
    const raw = await RawMqttClient.connected(adapter.port, { clientId, clean: false });
    raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    expect(await raw.next("SUBACK")).toMatchObject({ cmd: "suback", granted: [1] });
    const publisher = await connectMqttJs(adapter.url, { clientId: uniqueName("pub") });
    try {
      for (const payload of ["acked", "unacked 1", "unacked 2"]) await publisher.publishAsync(topic, payload, { qos: 1 });
      const delivered = [publishOf(await raw.next("1st")), publishOf(await raw.next("2nd")), publishOf(await raw.next("3rd"))];
      expect(delivered.map((d) => [d.payload, d.dup])).toEqual([["acked", false], ["unacked 1", false], ["unacked 2", false]]);
      raw.send({ cmd: "puback", messageId: delivered[0]!.messageId });
      // PINGREQ/PINGRESP after the PUBACK: the adapter has read (and settled) the PUBACK before we drop.
      raw.send({ cmd: "pingreq" });
      expect(await raw.next("PINGRESP")).toMatchObject({ cmd: "pingresp" });
      raw.destroy();
      await raw.waitClosed("our own close");

      const back = await RawMqttClient.open(adapter.port);
      try {
        back.sendConnect({ clientId, clean: false });
        expect(await back.next("CONNACK")).toMatchObject({ cmd: "connack", returnCode: 0, sessionPresent: true });
        await publisher.publishAsync(topic, "new", { qos: 1 });
        const redelivered = [publishOf(await back.next("1st again")), publishOf(await back.next("2nd again")), publishOf(await back.next("new"))];
        expect(redelivered.map((d) => [d.payload, d.dup, d.qos])).toEqual([
          ["unacked 1", true, 1],
          ["unacked 2", true, 1],
          ["new", false, 1],
        ]);
        for (const d of redelivered) back.send({ cmd: "puback", messageId: d.messageId });
      } finally {
        back.destroy();
      }
    } finally {
      raw.destroy();
      await endAll(publisher);
    }
    await connackOf(adapter.url, { clientId, clean: true });
  });

  test("a clean CONNECT deletes a leftover persistent session queue before CONNACK [MQTT-3.1.2-6]", async () => {
    const clientId = uniqueName("left");
    const client = await connectMqttJs(adapter.url, { clientId, clean: false });
    await client.subscribeAsync(`${clientId}/t`, { qos: 1 });
    await client.endAsync();
    expect(await readyCount(sessionQueue(clientId))).toBe(0);

    const clean = await connackOf(adapter.url, { clientId, clean: true });
    expect(clean).toEqual({ returnCode: 0, sessionPresent: false });
    expect(await readyCount(sessionQueue(clientId))).toBeUndefined();
    expect(await connackSessionPresent(clientId)).toBe(false);
  });
});

describe("x-expires does its job", () => {
  test("a persistent session nobody resumes is removed by RabbitMQ after mqtt.subscription_ttl", async () => {
    const shortLived = await startAdapter({ subscriptionTtlMs: 2_000 });
    const amqp = await openAmqp();
    try {
      const clientId = uniqueName("exp");
      const client = await connectMqttJs(shortLived.url, { clientId, clean: false });
      await client.subscribeAsync(`${clientId}/t`, { qos: 1 });
      await client.endAsync();
      // AMQP, not rabbitmqctl (an Erlang VM start), to look before the 2 s are over.
      expect((await amqp.channel.checkQueue(sessionQueue(clientId))).queue).toBe(sessionQueue(clientId));
      await waitForQueueListed("/", sessionQueue(clientId), false);
    } finally {
      await amqp.close();
      await shortLived.stop();
    }
  });
});
