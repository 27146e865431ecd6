/**
 * Issue 4, "Bad input": hundreds of abusive connections (malformed packets, protocol
 * violations, oversized packets, TLS and HTTP on the plain port, half-sent packets, slowloris)
 * against one in-process adapter while well-behaved MQTT.js clients (3.1 and 3.1.1) keep
 * exchanging QoS 1 messages through RabbitMQ. Every abusive socket must end the way the spec
 * says (CONNACK where one is due, else a plain close), with exactly one log line saying what and
 * why; the good clients must lose nothing; the adapter must keep serving.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { ABUSE_CASES, captureTlsClientHello, hex, inBatches, RawClient, type AbuseCase, type AbuseContext } from "../support/abuse.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { ensureRabbitmq, uniqueName } from "../support/broker.ts";
import { Qos1Traffic, waitUntil } from "./robust-traffic.ts";

await ensureRabbitmq();

/** Small limits so the oversize cases are cheap; the good clients' packets stay far below. */
const LIMITS = { maxPacketSizeBytes: 8192, maxPacketSizeBeforeConnectBytes: 512, loginTimeoutMs: 1500 };
const ABUSIVE_CONNECTIONS = 300;
/** Abusive connections open at the same time (the machine has 2 cores, shared with RabbitMQ). */
const CONCURRENCY = 40;

let adapter: TestAdapter;
beforeAll(async () => {
  adapter = await startAdapter(LIMITS);
});
afterAll(async () => {
  await adapter?.stop();
});

const V31: IClientOptions = { protocolVersion: 3, protocolId: "MQIsdp" };
const V311: IClientOptions = { protocolVersion: 4 };

interface Outcome {
  abuse: AbuseCase;
  client: RawClient | undefined;
  /** The case could not run as planned (e.g. no CONNACK before its abuse). */
  error: string | undefined;
}

async function runCase(abuse: AbuseCase, context: AbuseContext): Promise<Outcome> {
  let client: RawClient | undefined;
  try {
    client = await RawClient.open(adapter.port);
    await abuse.drive(client, context);
    await client.waitForClose(abuse.name, 10_000);
    return { abuse, client, error: undefined };
  } catch (error) {
    client?.end();
    return { abuse, client, error: error instanceof Error ? error.message : String(error) };
  }
}

/** The adapter's "closing MQTT connection" lines for the socket whose local port is `port`. */
function closingLines(port: number): string[] {
  const marker = `closing MQTT connection from 127.0.0.1:${port}: `;
  return adapter.logLines.filter((line) => line.includes(marker));
}

describe("abusive connections next to well-behaved clients", () => {
  test(`${ABUSIVE_CONNECTIONS} abusive sockets are each closed with one log line saying why; good QoS 1 traffic loses nothing`, async () => {
    const base = uniqueName("abuse");
    // --- good clients: three publisher → subscriber pairs, mixing 3.1 and 3.1.1
    const versions: Array<[IClientOptions, IClientOptions]> = [[V311, V31], [V31, V311], [V311, V311]];
    const goodClients: MqttClient[] = [];
    const traffic: Qos1Traffic[] = [];
    for (const [i, [pubVersion, subVersion]] of versions.entries()) {
      const topic = `${base}/pair${i}`;
      const subscriber = await mqtt.connectAsync(adapter.url, { ...subVersion, clientId: uniqueName("gsub"), reconnectPeriod: 0 });
      const publisher = await mqtt.connectAsync(adapter.url, { ...pubVersion, clientId: uniqueName("gpub"), reconnectPeriod: 0 });
      goodClients.push(subscriber, publisher);
      const granted = await subscriber.subscribeAsync(topic, { qos: 1 });
      expect(granted[0]?.qos).toBe(1);
      traffic.push(new Qos1Traffic(publisher, subscriber, topic, { window: 5 }));
    }
    const goodConnections = adapter.server.connections.size;
    expect(goodConnections).toBe(goodClients.length);

    try {
      for (const t of traffic) t.start();
      const ackedBefore = traffic.map((t) => t.acked.size);

      // --- the abuse, cycling through every case
      const context: AbuseContext = {
        clientId: () => uniqueName("bad"),
        maxPacketSizeBytes: LIMITS.maxPacketSizeBytes,
        maxPacketSizeBeforeConnectBytes: LIMITS.maxPacketSizeBeforeConnectBytes,
        tlsClientHello: await captureTlsClientHello(),
      };
      const tasks = Array.from({ length: ABUSIVE_CONNECTIONS }, (_, i) => () => runCase(ABUSE_CASES[i % ABUSE_CASES.length]!, context));
      const outcomes = await inBatches(tasks, CONCURRENCY);

      // The good clients kept exchanging messages while the abuse went on.
      traffic.forEach((t, i) => expect(t.acked.size).toBeGreaterThan(ackedBefore[i]!));

      // Sockets we hung up on are logged once the adapter sees the close: wait for those lines.
      await waitUntil(
        () => outcomes.every((o) => o.client === undefined || closingLines(o.client.localPort).length > 0),
        "a closing log line for every abusive socket",
        10_000,
      );
      await waitUntil(() => adapter.server.connections.size === goodConnections, "the adapter to drop every abusive connection", 10_000);

      const problems: string[] = [];
      const ports = new Map<number, number>();
      for (const o of outcomes) if (o.client !== undefined) ports.set(o.client.localPort, (ports.get(o.client.localPort) ?? 0) + 1);
      for (const { abuse, client, error } of outcomes) {
        const where = `${abuse.name}${client === undefined ? "" : ` (127.0.0.1:${client.localPort})`}`;
        if (error !== undefined || client === undefined) {
          problems.push(`${where}: ${error}`);
          continue;
        }
        if (client.closedBy !== abuse.closedBy) problems.push(`${where}: closed by ${client.closedBy}, expected ${abuse.closedBy}`);
        if (hex(client.received) !== hex(abuse.expectBytes)) {
          problems.push(`${where}: the adapter sent [${hex(client.received)}], expected [${hex(abuse.expectBytes)}]`);
        }
        const lines = closingLines(client.localPort);
        // A local port used twice in the run has one line per use.
        if (lines.length !== ports.get(client.localPort)) problems.push(`${where}: ${lines.length} closing log lines: ${lines.join(" | ")}`);
        const fragment = typeof abuse.logFragment === "function" ? abuse.logFragment(context) : abuse.logFragment;
        if (!lines.some((line) => line.includes(fragment))) problems.push(`${where}: no closing line contains ${JSON.stringify(fragment)}: ${lines.join(" | ")}`);
      }
      expect(problems).toEqual([]);

      // Nothing was a bug: no unexpected exception, no error-level line.
      expect(adapter.logLines.filter((line) => line.includes("unexpected error") || line.includes("[error]"))).toEqual([]);

      // The good clients: everything PUBACKed arrived, no duplicate (nobody reconnected).
      for (const t of traffic) {
        await t.stop(20_000);
        await t.waitForDelivery(20_000);
        const verdict = t.verdict();
        expect({ topic: t.topic, failed: verdict.failed, lost: verdict.lost, duplicates: verdict.duplicates }).toEqual({
          topic: t.topic,
          failed: 0,
          lost: [],
          duplicates: [],
        });
        expect(verdict.acked).toBe(verdict.sent);
        console.log(`${t.topic}: ${verdict.sent} QoS 1 messages, all PUBACKed and received once`);
      }
      expect(goodClients.every((client) => client.connected)).toBe(true);

      // Still serving: a new client gets in and round-trips a message.
      const late = await mqtt.connectAsync(adapter.url, { ...V311, clientId: uniqueName("late"), reconnectPeriod: 0 });
      goodClients.push(late);
      const topic = `${base}/late`;
      await late.subscribeAsync(topic, { qos: 1 });
      const echoed = new Promise<string>((resolve) => late.once("message", (_t, payload) => resolve(payload.toString())));
      await late.publishAsync(topic, "still here", { qos: 1 });
      expect(await echoed).toBe("still here");
    } finally {
      for (const t of traffic) await t.stop(5_000).catch(() => {});
      await Promise.all(goodClients.map((client) => client.endAsync().catch(() => {})));
    }
  }, 90_000);
});
