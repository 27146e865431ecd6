/**
 * Issue 4, "Backpressure both ways", broker side: a RabbitMQ memory alarm makes RabbitMQ send
 * connection.blocked to a connection that publishes. The adapter must stop reading its
 * publishers' sockets (a PINGREQ goes unanswered, PUBLISHes are not PUBACKed) and resume once
 * the alarm clears, losing nothing.
 *
 * The alarm is node-wide: `duringMemoryAlarm` always restores the watermark.
 *
 * Two tests are `test.failing`: they describe what should happen and does not yet. The bug: a
 * pooled AMQP connection carries publishes AND consumer acks AND queue operations of every
 * client of that (vhost, user). RabbitMQ blocks a connection as a whole (it stops reading its
 * socket) once it publishes during an alarm, so then no client of that user can ack deliveries
 * (queues cannot drain, which is what usually clears a memory alarm), log in, or subscribe; and
 * the adapter pauses every client's socket, pure subscribers included. RabbitMQ's own advice is
 * to publish and consume on separate connections; DESIGN.md asks to pause publishers only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mqtt from "mqtt";
import { CONNACK, connectPacket, hex, PINGREQ, publishPacket, RawClient, splitPackets, subscribePacket } from "../support/abuse.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { ensureRabbitmq, rabbitmqctl, uniqueName } from "../support/broker.ts";
import { Qos1Traffic, waitUntil } from "./robust-traffic.ts";

await ensureRabbitmq();

const PREFETCH = 10;
/** RabbitMQ's default vm_memory_high_watermark, restored after every alarm. */
const DEFAULT_WATERMARK = "0.4";
const PUBLISH = 3;
const PUBACK = 4;
const PINGRESP = 13;

let adapter: TestAdapter;
beforeAll(async () => {
  adapter = await startAdapter({ prefetch: PREFETCH });
});
afterAll(async () => {
  await adapter?.stop();
});

/** A raw 3.1.1 client that has its CONNACK 0. */
async function rawConnected(clientId: string): Promise<RawClient> {
  const client = await RawClient.open(adapter.port);
  client.send(connectPacket({ clientId }));
  expect(hex(await client.waitForBytes(4, `CONNACK for ${clientId}`))).toBe(hex(CONNACK.accepted));
  return client;
}

function typesOf(bytes: Uint8Array): number[] {
  return splitPackets(bytes).map((p) => p.type);
}

const blockedLine = (clientId: string) =>
  adapter.logLines.some((l) => l.includes(`client ${clientId}>`) && l.includes("RabbitMQ blocked publishing (resource alarm): not reading from the client"));

/**
 * Raises RabbitMQ's memory alarm, then has `probe` publish: RabbitMQ blocks a connection when
 * it next publishes, so that PUBLISH trips the block on the adapter's pooled connection. Runs
 * `body` while blocked; always restores the watermark.
 */
async function duringMemoryAlarm(probe: { client: RawClient; id: string }, topic: string, body: () => Promise<void>): Promise<void> {
  await rabbitmqctl("set_vm_memory_high_watermark", "0.0001");
  try {
    await waitUntil(async () => (await rabbitmqctl("eval", "rabbit_alarm:get_alarms().")).includes("memory"), "RabbitMQ's memory alarm", 15_000, 200);
    probe.client.send(publishPacket(topic, "trip the alarm", 1, 1));
    await waitUntil(() => blockedLine(probe.id), "connection.blocked to reach the probe's connection", 10_000);
    await body();
  } finally {
    await rabbitmqctl("set_vm_memory_high_watermark", DEFAULT_WATERMARK);
  }
}

describe("RabbitMQ memory alarm (connection.blocked)", () => {
  test("the adapter stops reading publishers (no PINGRESP, no PUBACK) and resumes after the alarm, nothing lost", async () => {
    const base = uniqueName("alarm");
    const topic = `${base}/data`;
    const subscriber = await mqtt.connectAsync(adapter.url, { protocolVersion: 4, clientId: uniqueName("asub"), reconnectPeriod: 0 });
    const publisher = await mqtt.connectAsync(adapter.url, { protocolVersion: 4, clientId: uniqueName("apub"), reconnectPeriod: 0 });
    const probeId = uniqueName("aprobe");
    const probe = { id: probeId, client: await rawConnected(probeId) };
    const traffic = new Qos1Traffic(publisher, subscriber, topic, { window: 5 });
    try {
      await subscriber.subscribeAsync(topic, { qos: 1 });
      await traffic.publishCount(20, 10_000);
      expect(traffic.acked.size).toBe(20);

      let publishing: Promise<void> | undefined;
      await duringMemoryAlarm(probe, `${base}/trigger`, async () => {
        await waitUntil(() => blockedLine(publisher.options.clientId!), "connection.blocked to reach the MQTT.js publisher", 10_000);
        // Blocked: five more PUBLISHes and a PINGREQ sit unread in the sockets.
        publishing = traffic.publishCount(5, 60_000);
        const bytesBefore = probe.client.received.length;
        probe.client.send(PINGREQ);
        // An absence can only be observed over time: a generous second for the adapter to
        // (wrongly) answer; reading, it answers a PINGREQ within milliseconds.
        await Bun.sleep(1000);
        expect(typesOf(probe.client.received.subarray(bytesBefore))).not.toContain(PINGRESP);
        expect(traffic.acked.size).toBe(20);
        expect(traffic.inFlight.size).toBe(5);
        expect(probe.client.isClosed).toBe(false);
        expect(publisher.connected).toBe(true);
      });
      await waitUntil(() => adapter.logLines.some((l) => l.includes("RabbitMQ unblocked publishing on AMQP connection")), "connection.unblocked", 10_000);
      await publishing;
      // The probe's socket is read again: its PINGREQ is answered, its PUBLISH PUBACKed once.
      await probe.client.waitUntil(() => typesOf(probe.client.received).includes(PINGRESP), "PINGRESP after the alarm cleared", 10_000);
      expect(typesOf(probe.client.received).filter((t) => t === PUBACK)).toHaveLength(1);

      await traffic.waitForDelivery(10_000);
      const verdict = traffic.verdict();
      expect({ sent: verdict.sent, acked: verdict.acked, lost: verdict.lost, duplicates: verdict.duplicates }).toEqual({ sent: 25, acked: 25, lost: [], duplicates: [] });
      expect(adapter.logLines.filter((l) => l.includes("[error]"))).toEqual([]);
    } finally {
      probe.client.end();
      await Promise.all([subscriber.endAsync(), publisher.endAsync()].map((p) => p.catch(() => {})));
    }
  }, 60_000);

  // BUG (design): the subscriber's acks travel on the blocked pooled AMQP connection and its
  // socket is paused with the publishers'; see the module comment.
  test.failing("a QoS 1 subscriber of the same RabbitMQ user keeps draining its queue during the alarm", async () => {
    const base = uniqueName("drain");
    const topic = `${base}/data`;
    const subscriberId = uniqueName("dsub");
    const subscriber = await rawConnected(subscriberId);
    const probeId = uniqueName("dprobe");
    const probe = { id: probeId, client: await rawConnected(probeId) };
    const publisher = await mqtt.connectAsync(adapter.url, { protocolVersion: 4, clientId: uniqueName("dpub"), reconnectPeriod: 0 });
    try {
      subscriber.send(subscribePacket(1, topic, 1));
      await subscriber.waitForBytes(4 + 5, "SUBACK");
      for (let i = 0; i < 3 * PREFETCH; i++) await publisher.publishAsync(topic, `${i}`, { qos: 1 });
      const publishes = () => splitPackets(subscriber.received).filter((p) => p.type === PUBLISH);
      // It holds its PUBACKs: the prefetch window is full, the rest waits in the queue.
      await subscriber.waitUntil(() => publishes().length === PREFETCH, `${PREFETCH} PUBLISHes`, 10_000);

      await duringMemoryAlarm(probe, `${base}/trigger`, async () => {
        // RabbitMQ does not block consumers: acking makes room and the queue keeps draining.
        for (const p of publishes()) {
          const at = 2 + ((p.body[0]! << 8) | p.body[1]!);
          subscriber.send(Uint8Array.of(0x40, 0x02, p.body[at]!, p.body[at + 1]!));
        }
        await subscriber.waitUntil(() => publishes().length >= 2 * PREFETCH, "the next PUBLISHes after acking during the alarm", 4_000);
      });
    } finally {
      subscriber.end();
      probe.client.end();
      await publisher.endAsync().catch(() => {});
    }
  }, 30_000);

  // BUG (design): the login's queue operations run on the blocked pooled AMQP connection, so the
  // CONNECT hangs until the alarm clears (or the login timeout closes it); see the module comment.
  test.failing("a new client of the same RabbitMQ user gets its CONNACK during the alarm", async () => {
    const probeId = uniqueName("cprobe");
    const probe = { id: probeId, client: await rawConnected(probeId) };
    let late: RawClient | undefined;
    try {
      await duringMemoryAlarm(probe, `${uniqueName("connect")}/trigger`, async () => {
        late = await RawClient.open(adapter.port);
        late.send(connectPacket({ clientId: uniqueName("clate") }));
        expect(hex(await late.waitForBytes(4, "CONNACK during the alarm", 4_000))).toBe(hex(CONNACK.accepted));
      });
    } finally {
      late?.end();
      probe.client.end();
    }
  }, 30_000);
});
