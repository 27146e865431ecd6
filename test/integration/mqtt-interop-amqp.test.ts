/**
 * MQTT ⇄ AMQP through RabbitMQ with real clients on both sides: amqplib and pika publishing to
 * amq.topic for MQTT.js / paho / mosquitto_sub subscribers, and MQTT publishes read from AMQP
 * queues with the compatibility contract's delivery mode and headers, down to the AMQP field
 * types on the wire (`x-mqtt-publish-qos` is a byte, `x-mqtt-dup` a boolean, as the plugin
 * writes them).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { GetMessage, Options } from "amqplib";
import { ensureRabbitmq, openAmqp, rabbitmqUrl, uniqueName, type AmqpSession } from "../support/broker.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { mosquittoPub, mosquittoSub, runPaho } from "./mqtt-cli-clients.ts";
import { RawMqttClient } from "./mqtt-raw-client.ts";
import { connectMqttJs, endAll, HOOK_TIMEOUT_MS, Inbox, protocolOptions, TEST_TIMEOUT_MS, waitUntil } from "./mqtt-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

let adapter: TestAdapter;
let amqp: AmqpSession;
/** Every byte the AMQP connection received, to read header field types amqplib decodes away. */
let wire: Buffer[] = [];

beforeAll(async () => {
  [adapter, amqp] = await Promise.all([startAdapter(), openAmqp()]);
  // amqplib's ChannelModel keeps its Connection, whose `stream` is the socket.
  const stream = (amqp.connection as unknown as { connection: { stream: NodeJS.EventEmitter } }).connection.stream;
  stream.on("data", (chunk: Buffer) => wire.push(Buffer.from(chunk)));
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
  await amqp?.close();
  await adapter?.stop();
}, HOOK_TIMEOUT_MS);

/** The AMQP field-table type octet and value bytes of header `name` in what the connection received since `since`. */
function headerOnWire(name: string, since: number): { type: string; value: number } | undefined {
  const bytes = Buffer.concat(wire.slice(since));
  // Field table entry: short string key (length octet + bytes), type octet, value.
  const key = Buffer.concat([Buffer.from([name.length]), Buffer.from(name)]);
  const at = bytes.lastIndexOf(key);
  if (at < 0) return undefined;
  return { type: String.fromCharCode(bytes[at + key.length]!), value: bytes[at + key.length + 1]! };
}

async function boundQueue(routingKey: string): Promise<string> {
  const { queue } = await amqp.channel.assertQueue("", { exclusive: true });
  await amqp.channel.bindQueue(queue, "amq.topic", routingKey);
  return queue;
}

function amqpNext(queue: string, what: string): Promise<GetMessage> {
  return waitUntil(async () => (await amqp.channel.get(queue, { noAck: true })) || undefined, what, { intervalMs: 20 });
}

describe("AMQP → MQTT", () => {
  // QoS = min(subscription, x-mqtt-publish-qos or 1 when absent) [MQTT-3.8.4-6].
  test.each([
    { header: undefined, subscribed: 1, delivered: 1, note: "no header (counts as QoS 1)" },
    { header: undefined, subscribed: 0, delivered: 0, note: "no header" },
    { header: { "!": "byte", value: 0 }, subscribed: 1, delivered: 0, note: "header byte 0, as the plugin writes it" },
    { header: 1, subscribed: 1, delivered: 1, note: "header 1 as a wider integer type" },
    { header: 2, subscribed: 1, delivered: 1, note: "header 2, never above the grant" },
  ] as const)(
    "routing key a.b reaches MQTT.js subscribers of a/b: $note, subscription QoS $subscribed → QoS $delivered",
    async ({ header, subscribed, delivered }) => {
      const base = uniqueName("a2m");
      const client = await connectMqttJs(adapter.url, { clientId: uniqueName("sub") });
      try {
        const inbox = new Inbox(client);
        await client.subscribeAsync(`${base}/b`, { qos: subscribed });
        const options: Options.Publish = header === undefined ? {} : { headers: { "x-mqtt-publish-qos": header } };
        amqp.channel.publish("amq.topic", `${base}.b`, Buffer.from("from amqp"), options);
        expect(await inbox.next("the AMQP message")).toMatchObject({ topic: `${base}/b`, payload: "from amqp", qos: delivered, dup: false });
      } finally {
        await endAll(client);
      }
    },
  );

  test("pika → paho (3.1): QoS from the header or 1, topic from the routing key, `/` inside a word comes back as `.`", async () => {
    const base = uniqueName("pika");
    const result = await runPaho<{ granted: number[]; messages: Array<{ topic: string; payload: string; qos: number; dup: boolean }> }>("amqp-to-mqtt.py", {
      port: adapter.port,
      version: "3.1",
      client_id: uniqueName("paho"),
      subscribe: [[`${base}/#`, 1]],
      amqp_url: await rabbitmqUrl(),
      amqp_publish: [
        { routing_key: `${base}.plain`, body: "no header" },
        { routing_key: `${base}.q0`, body: "qos 0 header", headers: { "x-mqtt-publish-qos": 0 } },
        { routing_key: `${base}.v1/2.x`, body: "slash in a word" },
      ],
      expect: 3,
    });
    expect(result.granted).toEqual([1]);
    expect(result.messages).toEqual([
      { topic: `${base}/plain`, payload: "no header", qos: 1, dup: false },
      { topic: `${base}/q0`, payload: "qos 0 header", qos: 0, dup: false },
      { topic: `${base}/v1.2/x`, payload: "slash in a word", qos: 1, dup: false },
    ]);
  });

  test("amqplib → mosquitto_sub (3.1.1, QoS 1, filter with +): an AMQP message without the header arrives at QoS 1", async () => {
    const base = uniqueName("a2ms");
    const sub = mosquittoSub({ port: adapter.port, version: "mqttv311", clientId: uniqueName("ms"), filters: [`${base}/+/t`], qos: 1, count: 1 });
    try {
      await sub.started;
      amqp.channel.publish("amq.topic", `${base}.dev1.t`, Buffer.from("21.5"));
      const { messages } = await sub.done;
      expect(messages).toEqual([{ topic: `${base}/dev1/t`, qos: 1, payload: "21.5" }]);
    } finally {
      sub.kill();
    }
  });
});

describe("MQTT → AMQP", () => {
  test.each([
    { qos: 0 as const, deliveryMode: 1, version: "mqttv31" as const },
    { qos: 1 as const, deliveryMode: 2, version: "mqttv311" as const },
  ])("mosquitto_pub QoS $qos ($version): delivery_mode $deliveryMode, x-mqtt-publish-qos byte $qos, x-mqtt-dup false", async ({ qos, deliveryMode, version }) => {
    const base = uniqueName("m2a");
    const queue = await boundQueue(`${base}.sensor.*`);
    const since = wire.length;
    const pub = await mosquittoPub({ port: adapter.port, version, clientId: uniqueName("mp"), topic: `${base}/sensor/7`, message: "payload bytes", qos });
    expect(pub.exitCode).toBe(0);
    const message = await amqpNext(queue, "the MQTT publish in the AMQP queue");
    expect(message.fields.routingKey).toBe(`${base}.sensor.7`);
    expect(message.content.toString()).toBe("payload bytes");
    expect(message.properties.deliveryMode).toBe(deliveryMode);
    expect(message.properties.headers).toMatchObject({ "x-mqtt-publish-qos": qos, "x-mqtt-dup": false });
    // On the wire: 'b' (signed 8-bit) for the QoS and 't' (boolean) for DUP.
    expect(headerOnWire("x-mqtt-publish-qos", since)).toEqual({ type: "b", value: qos });
    expect(headerOnWire("x-mqtt-dup", since)).toEqual({ type: "t", value: 0 });
  });

  // A PUBACKed message is never lost: it is in the queue by the time the PUBACK arrives. (That
  // the PUBACK waits for the publisher confirm is shown sharper by the refusal tests in
  // mqtt-publish-subscribe.test.ts: a refused publish gets no PUBACK at all.)
  test("after each PUBACK the message is already in the queue: a single basic.get finds it", async () => {
    const base = uniqueName("ack");
    const queue = await boundQueue(`${base}.t`);
    const client = await connectMqttJs(adapter.url, { clientId: uniqueName("ackp") });
    try {
      for (let i = 0; i < 20; i++) {
        await client.publishAsync(`${base}/t`, `m${i}`, { qos: 1 });
        // No polling: the confirm came after RabbitMQ enqueued it, and the PUBACK after that.
        const message = await amqp.channel.get(queue, { noAck: true });
        expect(message === false ? `nothing in the queue after PUBACK of m${i}` : message.content.toString()).toBe(`m${i}`);
      }
    } finally {
      await endAll(client);
    }
  });

  test("a PUBLISH with DUP = 1 (a client's resend) carries x-mqtt-dup true", async () => {
    const base = uniqueName("dup");
    const queue = await boundQueue(`${base}.t`);
    const raw = await RawMqttClient.connected(adapter.port, { clientId: uniqueName("raw") });
    try {
      raw.send({ cmd: "publish", topic: `${base}/t`, payload: Buffer.from("again"), qos: 1, messageId: 9, dup: true, retain: false });
      expect(await raw.next("PUBACK")).toMatchObject({ cmd: "puback", messageId: 9 });
      const message = await amqpNext(queue, "the resent publish");
      expect(message.properties.headers).toMatchObject({ "x-mqtt-publish-qos": 1, "x-mqtt-dup": true });
    } finally {
      raw.destroy();
    }
  });

  test("the payload reaches AMQP byte for byte (binary, empty)", async () => {
    const base = uniqueName("bin");
    const queue = await boundQueue(`${base}.#`);
    const client = await connectMqttJs(adapter.url, { clientId: uniqueName("bin"), ...protocolOptions("3.1") });
    try {
      const binary = Buffer.from([0, 255, 1, 254, 0x80, 0x0a]);
      await client.publishAsync(`${base}/bin`, binary, { qos: 1 });
      await client.publishAsync(`${base}/empty`, Buffer.alloc(0), { qos: 1 });
      expect([...(await amqpNext(queue, "the binary payload")).content]).toEqual([...binary]);
      expect((await amqpNext(queue, "the empty payload")).content.length).toBe(0);
    } finally {
      await endAll(client);
    }
  });
});

describe("a `.` inside an MQTT topic level", () => {
  test("round-trips MQTT → MQTT unchanged: a.b/c is one level then c, for a.b/+ and +/c but not +/+/c", async () => {
    const base = uniqueName("dot");
    const topic = `${base}/v1.2/c`;
    const clients = await Promise.all(
      ["v1.2/+", "+/c", "+/+/c"].map(async (filter) => {
        const client = await connectMqttJs(adapter.url, { clientId: uniqueName("dots") });
        const inbox = new Inbox(client);
        // Each also subscribes to the marker topic itself: what arrives before it is all there is.
        await client.subscribeAsync([`${base}/${filter}`, `${base}/marker/x/c`], { qos: 1 });
        return { filter, client, inbox };
      }),
    );
    const publisher = await connectMqttJs(adapter.url, { clientId: uniqueName("pub") });
    try {
      await publisher.publishAsync(topic, "dotted", { qos: 1 });
      await publisher.publishAsync(`${base}/marker/x/c`, "marker", { qos: 1 });
      const first = await Promise.all(clients.map(async ({ filter, inbox }) => [filter, (await inbox.next(`a message for ${filter}`)).topic]));
      expect(Object.fromEntries(first)).toEqual({
        "v1.2/+": topic,
        "+/c": topic,
        // With the plugin's translation `v1.2` would be two levels and this would match.
        "+/+/c": `${base}/marker/x/c`,
      });
    } finally {
      await endAll(publisher, ...clients.map((c) => c.client));
    }
  });

  test("AMQP consumers see it as `/` inside a word (the documented swap: MQTT a.b/c ⇄ AMQP a/b.c)", async () => {
    const base = uniqueName("dota");
    const queue = await boundQueue(`${base}.v1/2.*`);
    const client = await connectMqttJs(adapter.url, { clientId: uniqueName("dotp") });
    try {
      await client.publishAsync(`${base}/v1.2/c`, "dotted", { qos: 1 });
      expect((await amqpNext(queue, "the dotted topic in AMQP")).fields.routingKey).toBe(`${base}.v1/2.c`);
    } finally {
      await endAll(client);
    }
  });
});
