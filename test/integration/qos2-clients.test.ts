/**
 * QoS 2 at the MQTT edge with real clients against RabbitMQ: Paho and mosquitto run the full
 * PUBLISH → PUBREC → PUBREL → PUBCOMP handshake both ways (their own packet logs show it), a
 * resent PUBLISH is not published twice (counted in an AMQP queue), deliveries are acked to
 * RabbitMQ at PUBCOMP, half-done flows survive a reconnect to a persistent session, and
 * overlapping subscriptions give one copy at the highest QoS.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ensureRabbitmq, openAmqp, uniqueName, type AmqpSession } from "../support/broker.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { RawMqttClient, type RawPacket } from "./mqtt-raw-client.ts";
import { HOOK_TIMEOUT_MS, listQueues, sessionQueue, TEST_TIMEOUT_MS, waitUntil } from "./mqtt-support.ts";
import { pahoFlow, pub, sub } from "./qos2-retained-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

let adapter: TestAdapter;
let amqp: AmqpSession;

beforeAll(async () => {
  adapter = await startAdapter();
  amqp = await openAmqp();
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
  await amqp?.close();
  await adapter?.stop();
}, HOOK_TIMEOUT_MS);

/** An exclusive AMQP queue bound to amq.topic with `bindingKey`: what RabbitMQ got from MQTT. */
async function tap(bindingKey: string): Promise<string> {
  const { queue } = await amqp.channel.assertQueue("", { exclusive: true });
  await amqp.channel.bindQueue(queue, "amq.topic", bindingKey);
  return queue;
}

/** Every message in `queue` now (acked), as [routing key, payload, x-mqtt-publish-qos]. */
async function drain(queue: string): Promise<Array<[string, string, unknown]>> {
  const out: Array<[string, string, unknown]> = [];
  for (;;) {
    const message = await amqp.channel.get(queue, { noAck: true });
    if (message === false) return out;
    out.push([message.fields.routingKey, message.content.toString(), message.properties.headers?.["x-mqtt-publish-qos"]]);
  }
}

/** Checks `packet`'s type and the given fields (a clear diff when it is another packet). */
function expectPacket(packet: RawPacket, cmd: string, fields: Record<string, unknown> = {}): void {
  const fields_ = packet as unknown as Record<string, unknown>;
  const actual: Record<string, unknown> = { cmd: fields_.cmd };
  for (const key of Object.keys(fields)) actual[key] = fields_[key];
  expect(actual).toEqual({ cmd, ...fields });
}

/** Ready + unacknowledged messages of a session queue in vhost "/". */
async function queueCounts(clientId: string): Promise<{ ready: number; unacked: number } | undefined> {
  const row = (await listQueues("/", sessionQueue(clientId))).find((r) => r.name === sessionQueue(clientId));
  return row === undefined ? undefined : { ready: row.messages_ready, unacked: row.messages_unacknowledged };
}

describe("inbound QoS 2 (client → RabbitMQ)", () => {
  test("Paho: PUBLISH → PUBREC → PUBREL → PUBCOMP, published to RabbitMQ once with x-mqtt-publish-qos 2", async () => {
    const base = uniqueName("q2in");
    const queue = await tap(`${base}.#`);
    const result = await pahoFlow({ port: adapter.port, client_id: base, publish: [[`${base}/t`, "exactly once", 2, false]] });
    expect(result.flow).toEqual(["Sending PUBLISH (d0, q2, r0, m1)", "Received PUBREC (Mid: 1)", "Sending PUBREL (Mid: 1)", "Received PUBCOMP (Mid: 1)"]);
    expect(await drain(queue)).toEqual([[`${base}.t`, "exactly once", 2]]);
  });

  test("a PUBLISH resent with DUP and the same packet id before PUBREL is not published again [MQTT-4.3.3-2]", async () => {
    const base = uniqueName("q2dup");
    const queue = await tap(`${base}.#`);
    const raw = await RawMqttClient.connected(adapter.port, { clientId: base });
    try {
      const publish = { cmd: "publish", topic: `${base}/t`, payload: Buffer.from("once"), qos: 2, retain: false, messageId: 10 } as const;
      raw.send({ ...publish, dup: false });
      expectPacket(await raw.next("PUBREC"), "pubrec", { messageId: 10 });
      raw.send({ ...publish, dup: true });
      // The second PUBREC comes only after anything the resend might have published was confirmed.
      expectPacket(await raw.next("PUBREC again"), "pubrec", { messageId: 10 });
      raw.send({ cmd: "pubrel", messageId: 10 });
      expectPacket(await raw.next("PUBCOMP"), "pubcomp", { messageId: 10 });
      expect(await drain(queue)).toEqual([[`${base}.t`, "once", 2]]);
    } finally {
      raw.destroy();
    }
  });

  test("…also after a reconnect to the persistent session: the id is remembered, the session reported present", async () => {
    const clientId = uniqueName("q2re");
    const queue = await tap(`${clientId}.#`);
    const publish = { cmd: "publish", topic: `${clientId}/t`, payload: Buffer.from("once"), qos: 2, retain: false, messageId: 7 } as const;
    const first = await RawMqttClient.connected(adapter.port, { clientId, clean: false });
    first.send({ ...publish, dup: false });
    expectPacket(await first.next("PUBREC"), "pubrec", { messageId: 7 });
    first.destroy(); // gone before PUBREL
    await first.closed;
    const second = await RawMqttClient.open(adapter.port);
    try {
      second.sendConnect({ clientId, clean: false });
      expectPacket(await second.next("CONNACK"), "connack", { returnCode: 0, sessionPresent: true });
      second.send({ ...publish, dup: true });
      expectPacket(await second.next("PUBREC for the resend"), "pubrec", { messageId: 7 });
      second.send({ cmd: "pubrel", messageId: 7 });
      expectPacket(await second.next("PUBCOMP"), "pubcomp", { messageId: 7 });
      expect(await drain(queue)).toEqual([[`${clientId}.t`, "once", 2]]);
    } finally {
      second.destroy();
      const cleanup = await RawMqttClient.connected(adapter.port, { clientId, clean: true });
      cleanup.destroy();
    }
  });
});

describe("outbound QoS 2 (RabbitMQ → client)", () => {
  test("Paho subscribes at QoS 2: granted 2, receives through PUBREC/PUBREL/PUBCOMP, nothing left in its queue", async () => {
    const clientId = uniqueName("q2out");
    const topic = `${clientId}/t`;
    const result = await pahoFlow({
      port: adapter.port,
      client_id: clientId,
      clean: false,
      subscribe: [[topic, 2]],
      publish: [[topic, "to me", 2, false]],
      expect: 1,
    });
    expect(result.granted).toEqual([2]);
    expect(result.messages).toEqual([{ topic, payload: "to me", qos: 2, retain: false, dup: false }]);
    // The client's side of the delivery (its own publish runs the inbound flow meanwhile).
    const received = result.flow.filter((line) => /^(Received PUBLISH|Sending PUBREC|Received PUBREL|Sending PUBCOMP)/.test(line));
    expect(received).toEqual(["Received PUBLISH (d0, q2, r0, m1)", "Sending PUBREC (Mid: 1)", "Received PUBREL (Mid: 1)", "Sending PUBCOMP (Mid: 1)"]);
    // Acked at PUBCOMP: the persistent session's queue holds nothing, not even unacked.
    await waitUntil(async () => {
      const counts = await queueCounts(clientId);
      return counts !== undefined && counts.ready === 0 && counts.unacked === 0;
    }, "the session queue to be empty after PUBCOMP");
    (await RawMqttClient.connected(adapter.port, { clientId, clean: true })).destroy();
  });

  test("mosquitto_pub -q 2 → mosquitto_sub -q 2: QoS 2 handshake on both sides; -q 1 gets it at QoS 1", async () => {
    const base = uniqueName("mq2");
    const two = sub({ port: adapter.port, clientId: `${base}-s2`, filters: [`${base}/#`], qos: 2, count: 1 });
    const one = sub({ port: adapter.port, clientId: `${base}-s1`, filters: [`${base}/#`], qos: 1, count: 1 });
    await Promise.all([two.started, one.started]);
    const published = await pub({ port: adapter.port, clientId: `${base}-p`, topic: `${base}/x`, message: "hi", qos: 2 });
    expect(published.stdout).toMatch(/sending PUBLISH \(d0, q2, r0, m1,[\s\S]*received PUBREC \(Mid: 1\)[\s\S]*sending PUBREL \(m1\)[\s\S]*received PUBCOMP \(Mid: 1/);
    const [gotTwo, gotOne] = await Promise.all([two.done, one.done]);
    expect(gotTwo.messages).toEqual([{ topic: `${base}/x`, qos: 2, retain: false, payload: "hi" }]);
    expect(gotTwo.packets.join("\n")).toMatch(/received PUBLISH \(d0, q2, r0, m\d+,[\s\S]*sending PUBREC[\s\S]*received PUBREL[\s\S]*sending PUBCOMP/);
    expect(gotOne.messages).toEqual([{ topic: `${base}/x`, qos: 1, retain: false, payload: "hi" }]);
  });

  test("acked to RabbitMQ at PUBCOMP, not at PUBREC (raw client; queue counts from rabbitmqctl)", async () => {
    const clientId = uniqueName("q2ack");
    const raw = await RawMqttClient.connected(adapter.port, { clientId });
    try {
      raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${clientId}/t`, qos: 2 }] });
      expectPacket(await raw.next("SUBACK"), "suback", { granted: [2] });
      await pub({ port: adapter.port, clientId: `${clientId}-p`, topic: `${clientId}/t`, message: "m", qos: 2 });
      const publish = await raw.next("PUBLISH");
      expectPacket(publish, "publish", { qos: 2, dup: false });
      const id = (publish as { messageId: number }).messageId;
      expect(await queueCounts(clientId)).toEqual({ ready: 0, unacked: 1 });
      raw.send({ cmd: "pubrec", messageId: id });
      expectPacket(await raw.next("PUBREL"), "pubrel", { messageId: id });
      expect(await queueCounts(clientId)).toEqual({ ready: 0, unacked: 1 });
      raw.send({ cmd: "pubcomp", messageId: id });
      await waitUntil(async () => (await queueCounts(clientId))?.unacked === 0, "the delivery to be acked after PUBCOMP");
      expect(await queueCounts(clientId)).toEqual({ ready: 0, unacked: 0 });
    } finally {
      raw.destroy();
    }
  });

  test("gone after PUBREC: PUBREL is resent with the same id on reconnect, and the message is not redelivered [MQTT-4.4.0-1]", async () => {
    const clientId = uniqueName("q2rel");
    const topic = `${clientId}/t`;
    const first = await RawMqttClient.connected(adapter.port, { clientId, clean: false });
    first.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos: 2 }] });
    expectPacket(await first.next("SUBACK"), "suback", { granted: [2] });
    await pub({ port: adapter.port, clientId: `${clientId}-p`, topic, message: "owned", qos: 2 });
    const publish = (await first.next("PUBLISH")) as { messageId: number } & RawPacket;
    first.send({ cmd: "pubrec", messageId: publish.messageId });
    expectPacket(await first.next("PUBREL"), "pubrel", { messageId: publish.messageId });
    first.destroy(); // gone before PUBCOMP
    await first.closed;

    const second = await RawMqttClient.open(adapter.port);
    try {
      second.sendConnect({ clientId, clean: false });
      expectPacket(await second.next("CONNACK"), "connack", { sessionPresent: true });
      expectPacket(await second.next("the resent PUBREL"), "pubrel", { messageId: publish.messageId });
      second.send({ cmd: "pubcomp", messageId: publish.messageId });
      // A marker through the same queue: had "owned" been redelivered, it would come first.
      await pub({ port: adapter.port, clientId: `${clientId}-p`, topic, message: "marker", qos: 1 });
      const next = await second.next("the marker");
      expectPacket(next, "publish", { qos: 1 });
      expect((next as { payload: Buffer }).payload.toString()).toBe("marker");
    } finally {
      second.destroy();
      (await RawMqttClient.connected(adapter.port, { clientId, clean: true })).destroy();
    }
  });
});

describe("overlapping subscriptions of one client: one copy at the highest matching QoS", () => {
  test("Paho with filters at QoS 2, 0 and 1 matching one topic gets it once, at QoS 2", async () => {
    const base = uniqueName("ovl");
    const leaf = uniqueName("leaf");
    const result = await pahoFlow({
      port: adapter.port,
      client_id: base,
      subscribe: [[`${base}/#`, 2], [`${base}/+`, 0], [`+/${leaf}`, 1]],
      // The marker travels the same session queue: a duplicate would arrive before it.
      publish: [[`${base}/${leaf}`, "one copy", 2, false], [`${base}/marker`, "marker", 2, false]],
      expect: 2,
    });
    expect(result.granted).toEqual([2, 0, 1]);
    expect(result.messages.map((m) => [m.topic, m.payload, m.qos])).toEqual([
      [`${base}/${leaf}`, "one copy", 2],
      [`${base}/marker`, "marker", 2],
    ]);
  });

  test("mosquitto_sub -q 2 on two overlapping filters gets each message once", async () => {
    const base = uniqueName("ovlm");
    const s = sub({ port: adapter.port, clientId: `${base}-s`, filters: [`${base}/#`, `${base}/+`], qos: 2, count: 2 });
    await s.started;
    await pub({ port: adapter.port, clientId: `${base}-p`, topic: `${base}/a`, message: "once", qos: 2 });
    await pub({ port: adapter.port, clientId: `${base}-p`, topic: `${base}/marker`, message: "marker", qos: 2 });
    expect((await s.done).messages.map((m) => m.payload)).toEqual(["once", "marker"]);
  });
});
