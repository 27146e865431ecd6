/**
 * Keepalive and the Last Will with real clients: the will is published on every end that is
 * not a clean DISCONNECT (socket dropped, keepalive expiry, protocol violation, takeover),
 * with its QoS carried into AMQP, never after DISCONNECT, and only where the user may publish.
 *
 * Observers: an MQTT.js subscriber (what MQTT clients see) and an AMQP queue bound to the will
 * topic (what RabbitMQ got: delivery mode and the x-mqtt-publish-qos header). "Not published"
 * is shown with a marker message on the same topic after the point where the adapter decided
 * (see mqtt-support.ts): the marker must be the first thing to arrive.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Channel, GetMessage } from "amqplib";
import { ensureRabbitmq, openAmqp, uniqueName, type AmqpSession } from "../support/broker.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { mosquittoPub, runPaho } from "./mqtt-cli-clients.ts";
import { RawMqttClient } from "./mqtt-raw-client.ts";
import {
  BrokerFixtures,
  closedPromise,
  connectMqttJs,
  endAll,
  HOOK_TIMEOUT_MS,
  Inbox,
  protocolOptions,
  sessionQueue,
  TEST_TIMEOUT_MS,
  waitForLogLine,
  waitForQueue,
  waitUntil,
  type TestUser,
} from "./mqtt-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

const fixtures = new BrokerFixtures();
let adapter: TestAdapter;
let amqp: AmqpSession;
/** May publish only to routing keys starting `allowed.`. */
let limited: TestUser;

beforeAll(async () => {
  [adapter, amqp, limited] = await Promise.all([
    startAdapter(),
    openAmqp(),
    fixtures.addUser({ topic: { write: "^allowed\\.", read: ".*" } }, "u-will"),
  ]);
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
  await amqp?.close();
  await adapter?.stop();
  await fixtures.cleanup();
}, HOOK_TIMEOUT_MS);

/** An exclusive AMQP queue bound to the routing key of MQTT topic `topic` (no dots in it). */
async function amqpWatch(channel: Channel, topic: string): Promise<string> {
  const { queue } = await channel.assertQueue("", { exclusive: true });
  await channel.bindQueue(queue, "amq.topic", topic.replaceAll("/", "."));
  return queue;
}

/** The next message of `queue`, polling basic.get (bounded). */
function amqpNext(channel: Channel, queue: string, what: string): Promise<GetMessage> {
  return waitUntil(async () => (await channel.get(queue, { noAck: true })) || undefined, what, { intervalMs: 20 });
}

/** An MQTT.js subscriber of `topic` at QoS 1. */
async function watcher(topic: string): Promise<{ client: Awaited<ReturnType<typeof connectMqttJs>>; inbox: Inbox }> {
  const client = await connectMqttJs(adapter.url, { clientId: uniqueName("watch") });
  const inbox = new Inbox(client);
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, inbox };
}

describe("keepalive [MQTT-3.1.2-24]", () => {
  test("no packet for 1.5 × keepalive closes the connection and publishes the will", async () => {
    const clientId = uniqueName("ka");
    const willTopic = `${clientId}/will`;
    const watch = await watcher(willTopic);
    try {
      const raw = await RawMqttClient.connected(adapter.port, {
        clientId,
        keepalive: 1,
        will: { topic: willTopic, payload: "gone quiet", qos: 1 },
      });
      const connackAt = Date.now();
      await raw.waitClosed("the adapter to close a silent client after 1.5 × its 1 s keepalive");
      // Not before one and a half keepalives (the adapter's clock starts at CONNACK).
      expect(Date.now() - connackAt).toBeGreaterThanOrEqual(1_400);
      expect(await watch.inbox.next("the will")).toMatchObject({ topic: willTopic, payload: "gone quiet", qos: 1 });
      await waitForLogLine(adapter.logLines, /more than 1\.5 × its Keep Alive of 1 s.*\[MQTT-3\.1\.2-24\]/, "naming the keepalive", clientId);
    } finally {
      await endAll(watch.client);
    }
  });

  test("PINGREQ is answered with PINGRESP and keeps a client alive past 1.5 × keepalive [MQTT-3.12.4-1]", async () => {
    const clientId = uniqueName("ping");
    const raw = await RawMqttClient.connected(adapter.port, { clientId, keepalive: 1 });
    try {
      const startedAt = Date.now();
      // 2.5 s of pings every 0.5 s: past the 1.5 s limit, so without them the sweep would have closed us.
      while (Date.now() - startedAt < 2_500) {
        raw.send({ cmd: "pingreq" });
        expect(await raw.next("PINGRESP")).toMatchObject({ cmd: "pingresp" });
        await Bun.sleep(500);
      }
      // (That silence does close it is the test above.)
      expect(raw.isOpen).toBe(true);
    } finally {
      raw.destroy();
    }
  });
});

describe("the will is published", () => {
  test.each([
    { client: "paho 3.1.1", qos: 1 as const, deliveryMode: 2 },
    { client: "MQTT.js 3.1", qos: 0 as const, deliveryMode: 1 },
  ])("when $client drops the connection without DISCONNECT, at its QoS $qos [MQTT-3.1.2-8]", async ({ client, qos, deliveryMode }) => {
    const clientId = uniqueName("abr");
    const willTopic = `${clientId}/status`;
    const queue = await amqpWatch(amqp.channel, willTopic);
    const watch = await watcher(willTopic);
    try {
      const will = { topic: willTopic, payload: `offline ${qos}`, qos, retain: false };
      if (client === "paho 3.1.1") {
        await runPaho("will-abrupt.py", { port: adapter.port, version: "3.1.1", client_id: clientId, will });
      } else {
        const mqttjs = await connectMqttJs(adapter.url, { clientId, ...protocolOptions("3.1"), will: { ...will, payload: Buffer.from(will.payload) } });
        await mqttjs.endAsync(true); // force: the socket is destroyed, no DISCONNECT is sent
      }
      expect(await watch.inbox.next("the will")).toMatchObject({ topic: willTopic, payload: will.payload, qos });
      const message = await amqpNext(amqp.channel, queue, "the will in the AMQP queue");
      expect(message.content.toString()).toBe(will.payload);
      expect(message.properties.deliveryMode).toBe(deliveryMode);
      expect(message.properties.headers?.["x-mqtt-publish-qos"]).toBe(qos);
    } finally {
      await endAll(watch.client);
    }
  });

  test("a will with the retain flag goes to current subscribers with retain 0 [MQTT-3.3.1-9]", async () => {
    const clientId = uniqueName("ret");
    const willTopic = `${clientId}/status`;
    const watch = await watcher(willTopic);
    try {
      await runPaho("will-abrupt.py", {
        port: adapter.port,
        version: "3.1",
        client_id: clientId,
        will: { topic: willTopic, payload: "retained offline", qos: 1, retain: true },
      });
      expect(await watch.inbox.next("the will")).toMatchObject({ payload: "retained offline", retain: false });
    } finally {
      await endAll(watch.client);
    }
  });

  test("a will with the retain flag is kept as the topic's retained message: a later subscriber gets it with retain 1 [MQTT-3.1.2-17]", async () => {
    const clientId = uniqueName("retl");
    const willTopic = `${clientId}/status`;
    await runPaho("will-abrupt.py", {
      port: adapter.port,
      version: "3.1.1",
      client_id: clientId,
      will: { topic: willTopic, payload: "last known: offline", qos: 1, retain: true },
    });
    // Logged after the will was confirmed by RabbitMQ and stored as retained (will.ts).
    await waitForLogLine(adapter.logLines, /published the will to/, "the will being published", clientId);
    const watch = await watcher(`${clientId}/+`);
    const later = await watch.inbox.next("the retained will").finally(() => endAll(watch.client));
    expect(later).toMatchObject({ topic: willTopic, payload: "last known: offline", qos: 1, retain: true });
  });

  test("on a protocol violation (PUBLISH to a topic with a wildcard) [MQTT-3.3.2-2]", async () => {
    const clientId = uniqueName("viol");
    const willTopic = `${clientId}/will`;
    const watch = await watcher(willTopic);
    try {
      const raw = await RawMqttClient.connected(adapter.port, { clientId, will: { topic: willTopic, payload: "broke the rules", qos: 1 } });
      raw.send({ cmd: "publish", topic: "a/+/b", payload: Buffer.from("x"), qos: 0, retain: false, dup: false });
      await raw.waitClosed("the adapter to close after the violation");
      expect(await watch.inbox.next("the will")).toMatchObject({ payload: "broke the rules" });
      await waitForLogLine(adapter.logLines, /wildcard/, "naming the violation", clientId);
    } finally {
      await endAll(watch.client);
    }
  });

  test("on takeover: the closed connection's will goes out [MQTT-3.1.4-2]", async () => {
    const clientId = uniqueName("tkw");
    const willTopic = `${clientId}/will`;
    const watch = await watcher(willTopic);
    const first = await connectMqttJs(adapter.url, { clientId, will: { topic: willTopic, payload: "taken over", qos: 1, retain: false } });
    let second: Awaited<ReturnType<typeof connectMqttJs>> | undefined;
    try {
      const closed = closedPromise(first, "the first connection to be closed by the takeover");
      second = await connectMqttJs(adapter.url, { clientId });
      await closed;
      expect(await watch.inbox.next("the will")).toMatchObject({ payload: "taken over", qos: 1 });
    } finally {
      await endAll(watch.client, first, second);
    }
  });
});

describe("the will is not published", () => {
  test("after a clean DISCONNECT (MQTT.js 3.1.1, mosquitto_pub 3.1) [MQTT-3.14.4-3]", async () => {
    const clientId = uniqueName("bye");
    const willTopic = `${clientId}/will`;
    const watch = await watcher(willTopic);
    try {
      const client = await connectMqttJs(adapter.url, { clientId, will: { topic: willTopic, payload: "WILL", qos: 1, retain: false } });
      // A subscription gives the (clean) session a queue: once it is gone, the close sequence,
      // where a will would have been published, is over.
      await client.subscribeAsync(`${clientId}/own`, { qos: 1 });
      await client.endAsync(); // sends DISCONNECT
      await waitForQueue(sessionQueue(clientId), false);

      // mosquitto_pub publishes, then DISCONNECTs: its will must not follow its message.
      const mosquittoId = uniqueName("mpw");
      const pub = await mosquittoPub({
        port: adapter.port,
        version: "mqttv31",
        clientId: mosquittoId,
        topic: willTopic,
        message: "regular",
        qos: 1,
        will: { topic: willTopic, payload: "MOSQUITTO WILL", qos: 1 },
      });
      expect(pub.exitCode).toBe(0);
      await waitForLogLine(adapter.logLines, /client sent DISCONNECT/, "mosquitto_pub's DISCONNECT", mosquittoId);

      const marker = await connectMqttJs(adapter.url, { clientId: uniqueName("mark") });
      await marker.publishAsync(willTopic, "marker", { qos: 1 });
      await endAll(marker);
      expect((await watch.inbox.take(2, "the regular message and the marker")).map((m) => m.payload)).toEqual(["regular", "marker"]);
    } finally {
      await endAll(watch.client);
    }
  });

  test("when the user may not publish to the will topic (topic permissions); the refusal is logged", async () => {
    const clientId = uniqueName("wdeny");
    const willTopic = `denied/${clientId}`;
    const watch = await watcher(willTopic);
    try {
      await runPaho("will-abrupt.py", {
        port: adapter.port,
        version: "3.1.1",
        client_id: clientId,
        username: limited.username,
        password: limited.password,
        will: { topic: willTopic, payload: "forbidden will", qos: 1 },
      });
      const line = await waitForLogLine(adapter.logLines, /the will to .* was not published/, "the will refusal", clientId);
      expect(line).toContain(willTopic);
      expect(line).toMatch(/403|ACCESS_REFUSED|access to topic/i);

      const marker = await connectMqttJs(adapter.url, { clientId: uniqueName("mark") });
      await marker.publishAsync(willTopic, "marker", { qos: 1 });
      await endAll(marker);
      expect((await watch.inbox.next("the marker")).payload).toBe("marker");
    } finally {
      await endAll(watch.client);
    }
  });
});
