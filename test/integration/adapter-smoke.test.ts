import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mqtt from "mqtt";
import { ensureRabbitmq, openAmqp, uniqueName } from "../support/broker.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";

// Top level: booting the private broker takes seconds, and top-level await has no hook timeout.
await ensureRabbitmq();

let adapter: TestAdapter;
beforeAll(async () => {
  adapter = await startAdapter();
});
afterAll(async () => {
  await adapter.stop();
});

describe("adapter end to end (MQTT.js ⇄ adapter ⇄ RabbitMQ)", () => {
  test("a QoS 1 message goes from one MQTT client to another through RabbitMQ", async () => {
    const topic = `${uniqueName("smoke")}/temperature`;
    const subscriber = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("sub"), protocolVersion: 4 });
    const publisher = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("pub"), protocolVersion: 4 });
    try {
      const granted = await subscriber.subscribeAsync(topic, { qos: 1 });
      expect(granted[0]?.qos).toBe(1);
      const received = new Promise<{ topic: string; payload: string; qos: number }>((resolve) =>
        subscriber.once("message", (t, payload, packet) => resolve({ topic: t, payload: payload.toString(), qos: packet.qos })),
      );
      await publisher.publishAsync(topic, "21.5", { qos: 1 });
      expect(await received).toEqual({ topic, payload: "21.5", qos: 1 });
    } finally {
      await publisher.endAsync();
      await subscriber.endAsync();
    }
  });

  test("an MQTT publish reaches an AMQP queue bound with the translated routing key", async () => {
    const base = uniqueName("smoke");
    const amqp = await openAmqp();
    try {
      const { queue } = await amqp.channel.assertQueue("", { exclusive: true });
      await amqp.channel.bindQueue(queue, "amq.topic", `${base}.sensor.*`);
      const publisher = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("pub"), protocolVersion: 4 });
      await publisher.publishAsync(`${base}/sensor/1`, Buffer.from([0, 1, 2, 255]), { qos: 1 });
      await publisher.endAsync();
      const message = await amqp.channel.get(queue, { noAck: true });
      expect(message).not.toBe(false);
      if (message === false) return;
      expect(message.fields.routingKey).toBe(`${base}.sensor.1`);
      expect([...message.content]).toEqual([0, 1, 2, 255]);
      expect(message.properties.deliveryMode).toBe(2);
      expect(message.properties.headers?.["x-mqtt-publish-qos"]).toBe(1);
      expect(message.properties.headers?.["x-mqtt-dup"]).toBe(false);
    } finally {
      await amqp.close();
    }
  });
});
