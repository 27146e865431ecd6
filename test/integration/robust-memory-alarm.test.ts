/**
 * Issue 4, "Backpressure both ways", broker side: a RabbitMQ memory alarm makes RabbitMQ stop
 * reading a connection once it publishes, and send it connection.blocked. The adapter must stop
 * reading the sockets of the clients that PUBLISH meanwhile (a PINGREQ behind the PUBLISH goes
 * unanswered, PUBLISHes are not PUBACKed) and resume once the alarm clears, losing nothing.
 *
 * Only publishers: RabbitMQ blocks a connection as a whole, so the adapter publishes on an AMQP
 * connection of its own per (vhost, user), apart from the one carrying consumers, acks and queue
 * operations (src/backend/amqp/user-connections.ts). Subscribers of the same user keep acking
 * (queues drain, which is what usually clears a memory alarm), new clients get their CONNACK,
 * and the blocked notice alone pauses nobody. (Before, one shared connection per user froze
 * every client of that user; the last two tests were `test.failing` for that.)
 *
 * The alarm is node-wide: `duringMemoryAlarm` always restores the watermark.
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

/** The adapter paused this client: it PUBLISHed while publishing was blocked. */
const blockedLine = (clientId: string) =>
  adapter.logLines.some((l) => l.includes(`client ${clientId}>`) && l.includes("RabbitMQ blocked publishing (resource alarm): not reading from the client"));

/** connection.blocked notices the adapter has logged so far (one per blocked AMQP connection). */
const connectionBlockedLines = () => adapter.logLines.filter((l) => l.includes("RabbitMQ blocked publishing on AMQP connection")).length;

/**
 * Raises RabbitMQ's memory alarm, then has `probe` publish: RabbitMQ blocks a connection when
 * it next publishes, so that PUBLISH trips the block on the adapter's publish connection. Runs
 * `body` while blocked; always restores the watermark.
 */
async function duringMemoryAlarm(probe: { client: RawClient; id: string }, topic: string, body: () => Promise<void>): Promise<void> {
  const noticesBefore = connectionBlockedLines();
  await rabbitmqctl("set_vm_memory_high_watermark", "0.0001");
  try {
    await waitUntil(async () => (await rabbitmqctl("eval", "rabbit_alarm:get_alarms().")).includes("memory"), "RabbitMQ's memory alarm", 15_000, 200);
    probe.client.send(publishPacket(topic, "trip the alarm", 1, 1));
    await waitUntil(() => connectionBlockedLines() > noticesBefore, "connection.blocked to reach the adapter's publish connection", 10_000);
    await body();
  } finally {
    await rabbitmqctl("set_vm_memory_high_watermark", DEFAULT_WATERMARK);
  }
}

describe("RabbitMQ memory alarm (connection.blocked)", () => {
  test("the adapter stops reading clients that publish (no PINGRESP, no PUBACK) and resumes after the alarm, nothing lost", async () => {
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
        // The probe's PUBLISH went out before the notice: the notice alone pauses nobody.
        const beforePing = probe.client.received.length;
        probe.client.send(PINGREQ);
        await probe.client.waitUntil(() => typesOf(probe.client.received.subarray(beforePing)).includes(PINGRESP), "PINGRESP while blocked, before publishing again", 5_000);
        expect(blockedLine(probe.id)).toBe(false);
        // Five more PUBLISHes: the first one read pauses the MQTT.js publisher, the rest wait unread.
        publishing = traffic.publishCount(5, 60_000);
        await waitUntil(() => blockedLine(publisher.options.clientId!), "the MQTT.js publisher paused at its PUBLISH", 10_000);
        // The probe publishes again: that pauses it, and the PINGREQ behind it sits unread.
        const bytesBefore = probe.client.received.length;
        probe.client.send(publishPacket(`${base}/trigger`, "while blocked", 1, 2));
        probe.client.send(PINGREQ);
        await waitUntil(() => blockedLine(probe.id), "the probe paused at its second PUBLISH", 10_000);
        // An absence can only be observed over time: a generous second for the adapter to
        // (wrongly) answer; reading, it answers a PINGREQ within milliseconds.
        await Bun.sleep(1000);
        expect(typesOf(probe.client.received.subarray(bytesBefore))).toEqual([]);
        expect(traffic.acked.size).toBe(20);
        expect(traffic.inFlight.size).toBe(5);
        expect(probe.client.isClosed).toBe(false);
        expect(publisher.connected).toBe(true);
      });
      await waitUntil(() => adapter.logLines.some((l) => l.includes("RabbitMQ unblocked publishing on AMQP connection")), "connection.unblocked", 10_000);
      await publishing;
      // The probe's socket is read again: its second PINGREQ is answered, each PUBLISH PUBACKed once.
      await probe.client.waitUntil(() => typesOf(probe.client.received).filter((t) => t === PINGRESP).length === 2, "PINGRESP after the alarm cleared", 10_000);
      await probe.client.waitUntil(() => typesOf(probe.client.received).filter((t) => t === PUBACK).length === 2, "both PUBACKs after the alarm cleared", 10_000);
      expect(blockedLine(subscriber.options.clientId!)).toBe(false);

      await traffic.waitForDelivery(10_000);
      const verdict = traffic.verdict();
      expect({ sent: verdict.sent, acked: verdict.acked, lost: verdict.lost, duplicates: verdict.duplicates }).toEqual({ sent: 25, acked: 25, lost: [], duplicates: [] });
      expect(adapter.logLines.filter((l) => l.includes("[error]"))).toEqual([]);
    } finally {
      probe.client.end();
      await Promise.all([subscriber.endAsync(), publisher.endAsync()].map((p) => p.catch(() => {})));
    }
  }, 60_000);

  test("a QoS 1 subscriber of the same RabbitMQ user keeps draining its queue during the alarm", async () => {
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

  test("a new client of the same RabbitMQ user gets its CONNACK during the alarm", async () => {
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
