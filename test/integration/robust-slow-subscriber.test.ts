/**
 * Issue 4, "Backpressure both ways", client side (DESIGN.md: no unbounded buffers anywhere): a
 * subscriber that never reads its socket, under a flood of QoS 0 and QoS 1 messages. What it
 * cannot take stays in RabbitMQ (its queue grows, at most `mqtt.prefetch` deliveries unacked),
 * the adapter's own buffer for it stays bounded, the other subscribers keep receiving
 * everything, and once it reads again its backlog drains.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mqtt, { type MqttClient } from "mqtt";
import { HIGH_WATER_BYTES } from "../../src/listeners/socket-transport.ts";
import { CONNACK, connectPacket, hex, RawClient, subscribePacket } from "../support/abuse.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { ensureRabbitmq, rabbitmqctlJson, uniqueName } from "../support/broker.ts";
import { Qos1Traffic, waitUntil } from "./robust-traffic.ts";

await ensureRabbitmq();

const PREFETCH = 10;

let adapter: TestAdapter;
beforeAll(async () => {
  // A queue per session: its prefetch window is the flow control pinned here (the shared QoS 0
  // fan-out drops for a slow client instead: qos0-fanout tests).
  adapter = await startAdapter({ prefetch: PREFETCH, qos0Fanout: "per_session" });
});
afterAll(async () => {
  await adapter?.stop();
});

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

describe("a subscriber that does not read", () => {
  test("under a flood its messages wait in RabbitMQ (≤ prefetch unacked), the adapter's buffer stays bounded, others keep receiving", async () => {
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
      expect(adapter.logLines.filter((l) => l.includes("[error]"))).toEqual([]);
    } finally {
      for (const { client } of stuck) client.end();
      await Promise.all(clients.map((client) => client.endAsync(true).catch(() => {})));
    }
  }, 90_000);
});
