/**
 * Real MQTT clients against the compiled executable (dist/rabbitmq-mqtt or $RABBITMQ_MQTT_BINARY):
 * mosquitto_pub / mosquitto_sub, Eclipse Paho (python3-paho-mqtt 1.6.1) and MQTT.js, each at
 * MQTT 3.1 and 3.1.1, plus AMQP applications (amqplib, pika) on the other side of RabbitMQ.
 *
 * One adapter process serves the whole file; every test uses its own topics and client ids.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import mqtt, { type MqttClient } from "mqtt";
import { openAmqp, rabbitmqUrl, uniqueName, type AmqpSession } from "../support/broker.ts";
import { startBinary, type BinaryAdapter } from "../support/binary.ts";
import { MQTT_VERSIONS, collectQueue, getOne, mosquittoPub, mosquittoSub, mqttjsVersion, paho, runTool, withTimeout, type MqttVersion } from "./interop-helpers.ts";

// Every wait inside a test has its own, shorter bound with a clear message; this only keeps
// Bun's 5 s default (bunfig's `timeout` key is not read by Bun 1.4.5) from cutting them off.
setDefaultTimeout(30_000);
// Top level: the private broker's boot (seconds) is not charged to a hook's timeout.
const amqpUrl = await rabbitmqUrl();
let adapter: BinaryAdapter;
let amqp: AmqpSession;
beforeAll(async () => {
  adapter = await startBinary();
  amqp = await openAmqp();
}, 30_000);
afterAll(async () => {
  await amqp?.close();
  const stopped = await adapter?.stop();
  expect(stopped?.exitCode).toBe(0);
});

async function mqttjs(version: MqttVersion, prefix: string): Promise<MqttClient> {
  return await mqtt.connectAsync(adapter.url, { clientId: uniqueName(prefix), reconnectPeriod: 0, ...mqttjsVersion(version) });
}

/** The next `count` messages a MQTT.js client receives, bounded. */
function nextMessages(client: MqttClient, count: number, timeoutMs = 5000): Promise<{ topic: string; payload: string; qos: number; retain: boolean }[]> {
  const received: { topic: string; payload: string; qos: number; retain: boolean }[] = [];
  return withTimeout(
    new Promise((resolve) => {
      const onMessage = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket) => {
        received.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain });
        if (received.length === count) {
          client.off("message", onMessage);
          resolve(received);
        }
      };
      client.on("message", onMessage);
    }),
    timeoutMs,
    `${count} message(s) at MQTT.js client ${client.options.clientId} (got ${JSON.stringify(received)})`,
  );
}

describe.each(MQTT_VERSIONS)("mosquitto_pub / mosquitto_sub -V %s", (version) => {
  test("QoS 0 and QoS 1 publishes reach a QoS 1 subscriber at min(subscription, publish) QoS [MQTT-3.8.4-6]", async () => {
    const base = uniqueName("mosq");
    const sub = mosquittoSub({ port: adapter.port, version, topics: [`${base}/#`], qos: 1, count: 2 });
    expect(await sub.subscribed()).toEqual([1]);
    expect((await mosquittoPub({ port: adapter.port, version, topic: `${base}/zero`, message: "q0", qos: 0 })).exitCode).toBe(0);
    expect((await mosquittoPub({ port: adapter.port, version, topic: `${base}/one`, message: "q1", qos: 1 })).exitCode).toBe(0);
    const messages = await sub.waitForMessages(2);
    expect(messages).toContainEqual({ topic: `${base}/zero`, payload: "q0", qos: 0, retain: false });
    expect(messages).toContainEqual({ topic: `${base}/one`, payload: "q1", qos: 1, retain: false });
    expect((await sub.waitForExit()).exitCode).toBe(0); // -C 2: it disconnects by itself
  });

  test("a QoS 0 subscription gets QoS 1 publishes at QoS 0", async () => {
    const topic = `${uniqueName("mosq")}/down`;
    const sub = mosquittoSub({ port: adapter.port, version, topics: [topic], qos: 0, count: 1 });
    expect(await sub.subscribed()).toEqual([0]);
    await mosquittoPub({ port: adapter.port, version, topic, message: "downgraded", qos: 1 });
    expect(await sub.waitForMessages(1)).toEqual([{ topic, payload: "downgraded", qos: 0, retain: false }]);
    expect((await sub.waitForExit()).exitCode).toBe(0);
  });

  test("wildcards: + matches one level, # any number; overlapping filters deliver one copy", async () => {
    const base = uniqueName("wild");
    const sub = mosquittoSub({ port: adapter.port, version, topics: [`${base}/+/temp`, `${base}/room1/#`], qos: 1 });
    try {
      expect(await sub.subscribed()).toEqual([1, 1]);
      // Sequential QoS 1 publishes: each is confirmed (so queued) before the next, so they arrive in order.
      const topics = [
        `${base}/room1/temp`, // both filters: one copy
        `${base}/room2/temp`, // + only
        `${base}/room1/humidity/raw`, // # only
        `${base}/room2/humidity`, // neither
        `${base}/temp`, // neither: + needs exactly one level
        `${base}/room1`, // # also matches the parent level [MQTT-4.7.1-2]
        `${base}/end/temp`, // the sentinel: when it is there, everything before it is
      ];
      for (const topic of topics) {
        const run = await mosquittoPub({ port: adapter.port, version, topic, message: "m", qos: 1 });
        expect(run.exitCode, run.stderr).toBe(0);
      }
      await sub.waitForLine(` ${base}/end/temp `);
      expect(sub.messages().map((message) => message.topic)).toEqual([
        `${base}/room1/temp`,
        `${base}/room2/temp`,
        `${base}/room1/humidity/raw`,
        `${base}/room1`,
        `${base}/end/temp`,
      ]);
    } finally {
      await sub.stop();
    }
  });

  test("-c persistent session: QoS 1 messages published while the client is away are delivered when it returns", async () => {
    const clientId = uniqueName("away");
    const base = uniqueName("away");
    const queue = `mqtt-subscription-${clientId}qos1`;
    try {
      const first = mosquittoSub({ port: adapter.port, version, topics: [`${base}/#`], qos: 1, clientId, persistent: true, exitAfterSubscribe: true });
      expect(await first.subscribed()).toEqual([1]);
      expect((await first.waitForExit()).exitCode).toBe(0);
      // The session lives on in RabbitMQ as the contract's durable queue.
      expect((await amqp.channel.checkQueue(queue)).queue).toBe(queue);

      for (const n of [1, 2, 3]) {
        await mosquittoPub({ port: adapter.port, version, topic: `${base}/n`, message: `while-away-${n}`, qos: 1 });
      }
      const back = mosquittoSub({ port: adapter.port, version, topics: [`${base}/#`], qos: 1, clientId, persistent: true, count: 3 });
      const messages = await back.waitForMessages(3);
      expect(messages.map((message) => message.payload)).toEqual(["while-away-1", "while-away-2", "while-away-3"]);
      expect(messages.every((message) => message.qos === 1)).toBe(true);
      expect((await back.waitForExit()).exitCode).toBe(0);
    } finally {
      await amqp.channel.deleteQueue(queue);
    }
  });

  test("a retained publish reaches current subscribers, with RETAIN 0 because they were subscribed already [MQTT-3.3.1-9]", async () => {
    const topic = `${uniqueName("keep")}/state`;
    const sub = mosquittoSub({ port: adapter.port, version, topics: [topic], qos: 1, count: 1 });
    await sub.subscribed();
    expect((await mosquittoPub({ port: adapter.port, version, topic, message: "on", qos: 1, retain: true })).exitCode).toBe(0);
    expect(await sub.waitForMessages(1)).toEqual([{ topic, payload: "on", qos: 1, retain: false }]);
    expect((await sub.waitForExit()).exitCode).toBe(0);
  });

  test("a retained message is sent to a client that subscribes later, with RETAIN 1 [MQTT-3.3.1-6]", async () => {
    const topic = `${uniqueName("keep")}/late`;
    expect((await mosquittoPub({ port: adapter.port, version, topic, message: "kept", qos: 1, retain: true })).exitCode).toBe(0);
    const late = mosquittoSub({ port: adapter.port, version, topics: [topic], qos: 1, count: 1 });
    try {
      await late.subscribed();
      expect(await late.waitForMessages(1, 2000)).toEqual([{ topic, payload: "kept", qos: 1, retain: true }]);
    } finally {
      await late.stop();
      // Clear it (an empty retained payload deletes it [MQTT-3.3.1-10]) so a future store starts clean.
      await mosquittoPub({ port: adapter.port, version, topic, message: "", qos: 1, retain: true });
    }
  });
});

describe.each(MQTT_VERSIONS)("paho-mqtt 1.6.1 %s", (version) => {
  test("publishes and receives its own QoS 0 and QoS 1 messages, granted what it asked for", async () => {
    const base = uniqueName("paho");
    const client = paho({
      port: adapter.port,
      version,
      clientId: uniqueName("paho"),
      subscribe: [
        { topic: `${base}/zero`, qos: 0 },
        { topic: `${base}/one`, qos: 1 },
      ],
      publish: [
        { topic: `${base}/zero`, qos: 0, payload: "p0" },
        { topic: `${base}/one`, qos: 1, payload: "p1" },
      ],
      expect: 2,
    });
    const exit = await client.waitForExit(20_000);
    expect(exit.exitCode, exit.output).toBe(0);
    const events = client.events();
    expect(events[0]).toEqual({ event: "connack", rc: 0, session_present: 0 });
    expect(events).toContainEqual({ event: "suback", granted: [0, 1] });
    expect(events.filter((event) => event.event === "puback")).toHaveLength(2);
    const messages = events.filter((event) => event.event === "message");
    expect(messages).toContainEqual({ event: "message", topic: `${base}/zero`, payload: "p0", qos: 0, retain: false, dup: false });
    expect(messages).toContainEqual({ event: "message", topic: `${base}/one`, payload: "p1", qos: 1, retain: false, dup: false });
  });

  test("its will is published when the process is killed (no DISCONNECT) [MQTT-3.1.2-8]", async () => {
    const willTopic = `${uniqueName("will")}/status`;
    const watcher = await mqttjs(version, "watch");
    try {
      await watcher.subscribeAsync(willTopic, { qos: 1 });
      const will = nextMessages(watcher, 1);
      const client = paho({ port: adapter.port, version, clientId: uniqueName("mortal"), will: { topic: willTopic, qos: 1, payload: "gone" }, hold: true });
      await client.waitForEvent("ready");
      await client.stop("SIGKILL");
      expect(await will).toEqual([{ topic: willTopic, payload: "gone", qos: 1, retain: false }]);
    } finally {
      await watcher.endAsync();
    }
  });

  test("no will after a clean DISCONNECT [MQTT-3.1.2-10]", async () => {
    const willTopic = `${uniqueName("will")}/status`;
    const watcher = await mqttjs(version, "watch");
    try {
      await watcher.subscribeAsync(willTopic, { qos: 1 });
      const first = nextMessages(watcher, 1);
      const client = paho({ port: adapter.port, version, clientId: uniqueName("polite"), will: { topic: willTopic, qos: 1, payload: "gone" } });
      expect((await client.waitForExit()).exitCode).toBe(0);
      // A will would be published as the adapter handles the close, before this publish starts.
      await mosquittoPub({ port: adapter.port, version, topic: willTopic, message: "sentinel", qos: 1 });
      expect((await first)[0]?.payload).toBe("sentinel");
    } finally {
      await watcher.endAsync();
    }
  });
});

describe("MQTT.js 3.1 ⇄ 3.1.1", () => {
  for (const [subVersion, pubVersion] of [
    ["mqttv31", "mqttv311"],
    ["mqttv311", "mqttv31"],
  ] as const) {
    test(`a ${subVersion} subscriber gets QoS 0 and 1 publishes from a ${pubVersion} publisher`, async () => {
      const base = uniqueName("js");
      const subscriber = await mqttjs(subVersion, "jsub");
      const publisher = await mqttjs(pubVersion, "jpub");
      try {
        const granted = await subscriber.subscribeAsync({ [`${base}/q0`]: { qos: 0 }, [`${base}/q1`]: { qos: 1 } });
        expect(granted.map((grant) => grant.qos).sort()).toEqual([0, 1]);
        const received = nextMessages(subscriber, 2);
        await publisher.publishAsync(`${base}/q0`, "zero", { qos: 0 });
        await publisher.publishAsync(`${base}/q1`, "one", { qos: 1 });
        const messages = await received;
        expect(messages).toContainEqual({ topic: `${base}/q0`, payload: "zero", qos: 0, retain: false });
        expect(messages).toContainEqual({ topic: `${base}/q1`, payload: "one", qos: 1, retain: false });
      } finally {
        await publisher.endAsync();
        await subscriber.endAsync();
      }
    });
  }
});

describe("cross-protocol: AMQP 0-9-1 ⇄ MQTT", () => {
  test("amqplib publishes to amq.topic reach mosquitto_sub, QoS = min(subscription, x-mqtt-publish-qos or 1)", async () => {
    const base = uniqueName("amqp");
    const sub = mosquittoSub({ port: adapter.port, version: "mqttv311", topics: [`${base}/sensor/+`], qos: 1, count: 3 });
    expect(await sub.subscribed()).toEqual([1]);
    const publish = (key: string, body: string, headers?: Record<string, unknown>) =>
      amqp.channel.publish("amq.topic", key, Buffer.from(body), headers === undefined ? {} : { headers });
    publish(`${base}.sensor.a`, "no-header");
    publish(`${base}.sensor.b`, "qos0-header", { "x-mqtt-publish-qos": 0 });
    publish(`${base}.sensor.c`, "qos1-header", { "x-mqtt-publish-qos": 1 });
    const messages = await sub.waitForMessages(3);
    expect(messages).toContainEqual({ topic: `${base}/sensor/a`, payload: "no-header", qos: 1, retain: false });
    expect(messages).toContainEqual({ topic: `${base}/sensor/b`, payload: "qos0-header", qos: 0, retain: false });
    expect(messages).toContainEqual({ topic: `${base}/sensor/c`, payload: "qos1-header", qos: 1, retain: false });
    expect((await sub.waitForExit()).exitCode).toBe(0);
  });

  test("pika (python) publishes to amq.topic reach mosquitto_sub -V mqttv31", async () => {
    const base = uniqueName("pika");
    const sub = mosquittoSub({ port: adapter.port, version: "mqttv31", topics: [`${base}/#`], qos: 1, count: 1 });
    await sub.subscribed();
    const script = [
      "import sys, pika",
      "connection = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))",
      "channel = connection.channel()",
      "channel.confirm_delivery()",
      "channel.basic_publish('amq.topic', sys.argv[2], b'from-pika', pika.BasicProperties(delivery_mode=2))",
      "connection.close()",
    ].join("\n");
    const run = await runTool(["/usr/bin/python3", "-c", script, amqpUrl, `${base}.deep.path`]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(await sub.waitForMessages(1)).toEqual([{ topic: `${base}/deep/path`, payload: "from-pika", qos: 1, retain: false }]);
    expect((await sub.waitForExit()).exitCode).toBe(0);
  });

  test.each(MQTT_VERSIONS)("mosquitto_pub -V %s reaches an AMQP queue with the contract's routing key, delivery mode and headers", async (version) => {
    const base = uniqueName("toamqp");
    const { queue } = await amqp.channel.assertQueue(uniqueName("q"), { exclusive: true });
    try {
      await amqp.channel.bindQueue(queue, "amq.topic", `${base}.#`);
      await mosquittoPub({ port: adapter.port, version, topic: `${base}/dev/1`, message: "at-least-once", qos: 1 });
      await mosquittoPub({ port: adapter.port, version, topic: `${base}/dev/2`, message: "at-most-once", qos: 0 });
      const one = await getOne(amqp.channel, queue);
      const zero = await getOne(amqp.channel, queue);
      expect({ key: one.fields.routingKey, body: one.content.toString(), mode: one.properties.deliveryMode, headers: one.properties.headers }).toEqual({
        key: `${base}.dev.1`,
        body: "at-least-once",
        mode: 2,
        headers: { "x-mqtt-publish-qos": 1, "x-mqtt-dup": false },
      });
      expect({ key: zero.fields.routingKey, body: zero.content.toString(), mode: zero.properties.deliveryMode, headers: zero.properties.headers }).toEqual({
        key: `${base}.dev.2`,
        body: "at-most-once",
        mode: 1,
        headers: { "x-mqtt-publish-qos": 0, "x-mqtt-dup": false },
      });
      expect(await collectQueue(amqp.channel, queue)).toEqual([]);
    } finally {
      await amqp.channel.deleteQueue(queue);
    }
  });
});
