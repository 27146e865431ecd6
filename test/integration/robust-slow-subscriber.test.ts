/**
 * Issue 4, "Backpressure both ways" (DESIGN.md: no unbounded buffers anywhere):
 * (a) a RabbitMQ memory alarm makes RabbitMQ send connection.blocked; the adapter stops reading
 *     its publishers' sockets (a PINGREQ goes unanswered, PUBLISHes are not PUBACKed) and resumes
 *     once the alarm clears, losing nothing;
 * (b) a subscriber that never reads its socket, under a flood: what it cannot take stays in
 *     RabbitMQ (its queue grows, at most `mqtt.prefetch` unacked), the adapter's buffer for it
 *     stays bounded, and the other subscribers keep receiving everything.
 *
 * The memory alarm is node-wide: the watermark is restored in a `finally`, whatever happens.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mqtt, { type MqttClient } from "mqtt";
import { HIGH_WATER_BYTES } from "../../src/listeners/socket-transport.ts";
import { CONNACK, connectPacket, hex, PINGREQ, publishPacket, RawClient, subscribePacket } from "../support/abuse.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { ensureRabbitmq, rabbitmqctl, rabbitmqctlJson, uniqueName } from "../support/broker.ts";
import { Qos1Traffic } from "./robust-traffic.ts";

await ensureRabbitmq();

const PREFETCH = 10;
/** RabbitMQ's default vm_memory_high_watermark, restored after the alarm test. */
const DEFAULT_WATERMARK = "0.4";

let adapter: TestAdapter;
beforeAll(async () => {
  adapter = await startAdapter({ prefetch: PREFETCH });
});
afterAll(async () => {
  await adapter?.stop();
});

async function waitUntil(check: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs: number, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
    await Bun.sleep(stepMs);
  }
}

/** Packet types (first-byte high nibble) in a byte stream of whole packets. */
function packetTypes(bytes: Uint8Array): number[] {
  const types: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    types.push(bytes[at]! >> 4);
    let length = 0;
    let shift = 0;
    let i = at + 1;
    for (; i < bytes.length; i++) {
      length += (bytes[i]! & 0x7f) << shift;
      shift += 7;
      if ((bytes[i]! & 0x80) === 0) break;
    }
    at = i + 1 + length;
  }
  return types;
}

const PUBACK = 4;
const PINGRESP = 13;

/** A raw 3.1.1 client that has its CONNACK 0. */
async function rawConnected(clientId: string): Promise<RawClient> {
  const client = await RawClient.open(adapter.port);
  client.send(connectPacket({ clientId }));
  expect(hex(await client.waitForBytes(4, `CONNACK for ${clientId}`))).toBe(hex(CONNACK.accepted));
  return client;
}

function connectionOf(clientId: string) {
  const connection = [...adapter.server.connections].find((c) => c.info.clientId === clientId);
  if (connection === undefined) throw new Error(`the adapter has no connection for client ${clientId}`);
  return connection;
}

type QueueRow = { name: string; messages_ready: number; messages_unacknowledged: number };

async function queueRow(name: string): Promise<QueueRow> {
  const rows = await rabbitmqctlJson<QueueRow[]>("list_queues", "name", "messages_ready", "messages_unacknowledged");
  const row = rows.find((r) => r.name === name);
  if (row === undefined) throw new Error(`queue ${name} does not exist`);
  return row;
}

/** Polls the queue until `check` holds; the error shows the last counts seen. */
async function waitForQueue(name: string, check: (row: QueueRow) => boolean, what: string, timeoutMs = 30_000): Promise<QueueRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await queueRow(name);
    if (check(row)) return row;
    if (Date.now() > deadline) {
      throw new Error(`queue ${name} never became ${what} within ${timeoutMs} ms; last seen ${row.messages_ready} ready, ${row.messages_unacknowledged} unacked`);
    }
    await Bun.sleep(200);
  }
}

describe("backpressure", () => {
  test("a memory alarm (connection.blocked) stops the adapter reading publishers; all resumes after it clears, nothing lost", async () => {
    const base = uniqueName("alarm");
    const topic = `${base}/data`;
    const subscriber = await mqtt.connectAsync(adapter.url, { protocolVersion: 4, clientId: uniqueName("asub"), reconnectPeriod: 0 });
    const publisher = await mqtt.connectAsync(adapter.url, { protocolVersion: 4, clientId: uniqueName("apub"), reconnectPeriod: 0 });
    const probeId = uniqueName("aprobe");
    const probe = await rawConnected(probeId);
    const traffic = new Qos1Traffic(publisher, subscriber, topic, { window: 5 });
    try {
      await subscriber.subscribeAsync(topic, { qos: 1 });
      await traffic.publishCount(20, 10_000);
      expect(traffic.acked.size).toBe(20);

      await rabbitmqctl("set_vm_memory_high_watermark", "0.0001");
      try {
        await waitUntil(async () => (await rabbitmqctl("eval", "rabbit_alarm:get_alarms().")).includes("memory"), "RabbitMQ's memory alarm", 15_000, 200);
        // RabbitMQ blocks a connection when it next publishes: the probe's PUBLISH is that trigger.
        probe.send(publishPacket(`${base}/trigger`, "trip the alarm", 1, 1));
        const blockedLine = (id: string) => adapter.logLines.some((l) => l.includes(`client ${id}>`) && l.includes("RabbitMQ blocked publishing (resource alarm): not reading from the client"));
        await waitUntil(() => blockedLine(probeId) && blockedLine(publisher.options.clientId!), "connection.blocked to reach both publishers' connections", 10_000);

        // Now blocked: five more PUBLISHes and a PINGREQ sit unread in the sockets.
        const ackedBeforeBlock = traffic.acked.size;
        const publishing = traffic.publishCount(5, 60_000);
        const bytesBefore = probe.received.length;
        probe.send(PINGREQ);
        // An absence can only be observed over time: give the adapter a generous second to
        // (wrongly) answer. Without the pause it answers a PINGREQ within milliseconds.
        await Bun.sleep(1000);
        expect(packetTypes(probe.received.subarray(bytesBefore))).not.toContain(PINGRESP);
        expect(traffic.acked.size).toBe(ackedBeforeBlock);
        expect(traffic.inFlight.size).toBe(5);
        expect(probe.isClosed).toBe(false);
        expect(publisher.connected).toBe(true);

        await rabbitmqctl("set_vm_memory_high_watermark", DEFAULT_WATERMARK);
        await publishing;
      } finally {
        await rabbitmqctl("set_vm_memory_high_watermark", DEFAULT_WATERMARK);
      }
      await waitUntil(() => adapter.logLines.some((l) => l.includes("RabbitMQ unblocked publishing on AMQP connection")), "connection.unblocked", 10_000);
      // The probe's socket is read again: its PINGREQ is answered, its PUBLISH PUBACKed.
      await probe.waitUntil(() => packetTypes(probe.received).includes(PINGRESP), "PINGRESP after the alarm cleared", 10_000);
      expect(packetTypes(probe.received).filter((t) => t === PUBACK)).toHaveLength(1);

      await traffic.waitForDelivery(10_000);
      const verdict = traffic.verdict();
      expect({ sent: verdict.sent, acked: verdict.acked, lost: verdict.lost, duplicates: verdict.duplicates }).toEqual({ sent: 25, acked: 25, lost: [], duplicates: [] });
    } finally {
      probe.end();
      await Promise.all([subscriber.endAsync(), publisher.endAsync()].map((p) => p.catch(() => {})));
    }
  }, 60_000);

  test("a subscriber that never reads: messages wait in RabbitMQ (≤ prefetch unacked), the adapter's buffer stays bounded, others keep receiving", async () => {
    const base = uniqueName("flood");
    const filter = `${base}/#`;
    const QOS1_MESSAGES = 1500;
    const QOS0_MESSAGES = 500;
    const PAYLOAD_BYTES = 8 * 1024;
    const total = QOS1_MESSAGES + QOS0_MESSAGES;

    // Two raw subscribers that stop reading right after their SUBACK: one takes everything at
    // QoS 0, one only the QoS 1 messages at QoS 1 (so its count is exact: QoS 0 messages would
    // reach it at QoS 0 and be settled as written).
    const stuck: Array<{ id: string; qos: number; client: RawClient }> = [];
    for (const [qos, subscription] of [[0, filter], [1, `${base}/q1`]] as const) {
      const id = uniqueName(`stuck${qos}`);
      const client = await RawClient.open(adapter.port);
      client.send(connectPacket({ clientId: id }));
      client.send(subscribePacket(1, subscription, qos));
      expect(hex(await client.waitForBytes(9, `CONNACK and SUBACK for ${id}`))).toBe(`${hex(CONNACK.accepted)} 90 03 00 01 0${qos}`);
      client.pause();
      stuck.push({ id, qos, client });
    }
    const reader = await mqtt.connectAsync(adapter.url, { protocolVersion: 4, clientId: uniqueName("reader"), reconnectPeriod: 0 });
    const publisher = await mqtt.connectAsync(adapter.url, { protocolVersion: 4, clientId: uniqueName("flood"), reconnectPeriod: 0 });
    const qos0Publisher = await mqtt.connectAsync(adapter.url, { protocolVersion: 3, protocolId: "MQIsdp", clientId: uniqueName("flood0"), reconnectPeriod: 0 });
    const clients: MqttClient[] = [reader, publisher, qos0Publisher];
    try {
      await reader.subscribeAsync(filter, { qos: 1 });
      let qos0Received = 0;
      reader.on("message", (topic) => {
        if (topic === `${base}/q0`) qos0Received++;
      });
      const traffic = new Qos1Traffic(publisher, reader, `${base}/q1`, { window: 50, payloadBytes: PAYLOAD_BYTES });

      // The flood: QoS 1 with confirms, and QoS 0 fire-and-forget from a 3.1 client.
      const qos0Payload = Buffer.alloc(PAYLOAD_BYTES, 0x30);
      const qos0Sent = (async () => {
        for (let i = 0; i < QOS0_MESSAGES; i++) await qos0Publisher.publishAsync(`${base}/q0`, qos0Payload, { qos: 0 });
      })();
      await traffic.publishCount(QOS1_MESSAGES, 60_000);
      await qos0Sent;

      // The reading subscriber got everything, in spite of the two that read nothing.
      await traffic.waitForDelivery(30_000);
      await waitUntil(() => qos0Received === QOS0_MESSAGES, () => `${QOS0_MESSAGES} QoS 0 messages at the reading subscriber (got ${qos0Received})`, 30_000);
      expect(traffic.verdict().lost).toEqual([]);

      for (const { id, qos } of stuck) {
        const queue = `mqtt-subscription-${id}qos1`;
        // The adapter holds at most the prefetch window; the rest waits in RabbitMQ.
        const row = await waitForQueue(queue, (r) => r.messages_unacknowledged === PREFETCH, `${PREFETCH} unacked (the window full, the rest waiting in RabbitMQ)`);
        const routed = qos === 0 ? total : QOS1_MESSAGES;
        const written = routed - row.messages_ready - row.messages_unacknowledged;
        // What the adapter itself buffers for it (the connection's transport; private, read for this check only).
        const buffered = (connectionOf(id) as unknown as { transport: { bufferedBytes: number } }).transport.bufferedBytes;
        console.log(
          `QoS ${qos} subscriber that never reads: ${row.messages_ready} ready and ${row.messages_unacknowledged} unacked in RabbitMQ, ` +
            `${written} of ${routed} settled (written to its socket), ${buffered} bytes buffered in the adapter`,
        );
        if (qos === 1) {
          // QoS 1 without PUBACKs: exactly the prefetch window left RabbitMQ, nothing was settled.
          expect(row.messages_ready).toBe(QOS1_MESSAGES - PREFETCH);
        } else {
          // QoS 0 is settled as written until the socket pushes back; then it stops too.
          expect(row.messages_ready).toBeGreaterThan(0);
        }
        // Bounded by the transport's high-water mark plus the prefetch window (and one batch buffer).
        expect(typeof buffered).toBe("number");
        expect(buffered).toBeLessThanOrEqual(HIGH_WATER_BYTES + (PREFETCH + 1) * (PAYLOAD_BYTES + 64) + 16 * 1024);
      }

      // Once the QoS 0 subscriber reads again, the backlog drains: the adapter resumed settling.
      const q0 = stuck.find((s) => s.qos === 0)!;
      q0.client.resume();
      await waitForQueue(`mqtt-subscription-${q0.id}qos1`, (r) => r.messages_ready + r.messages_unacknowledged === 0, "empty once its subscriber reads again");
    } finally {
      for (const { client } of stuck) client.end();
      await Promise.all(clients.map((client) => client.endAsync(true).catch(() => {})));
    }
  }, 90_000);
});
