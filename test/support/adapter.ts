/**
 * Starts the adapter in-process against the harness's RabbitMQ, on a free loopback port, for
 * integration tests. Interop tests use the compiled binary instead (RABBITMQ_MQTT_BINARY).
 *
 *   const adapter = await startAdapter({ prefetch: 5 });
 *   const client = await mqtt.connectAsync(adapter.url, { ... });
 *   await adapter.stop();
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDefaults, type AdapterConfig } from "../../src/config/index.ts";
import { createMemoryLogger, type Logger } from "../../src/log.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { registerTeardown } from "./teardown.ts";
import { rabbitmqUrl } from "./broker.ts";

export interface TestAdapter {
  /** `mqtt://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly server: RunningServer;
  /** Every line the adapter logged (debug and up), for assertions on log messages. */
  readonly logLines: string[];
  stop(): Promise<void>;
}

const running = new Set<TestAdapter>();
registerTeardown("in-process adapters", async () => {
  await Promise.all([...running].map((adapter) => adapter.stop()));
});

/** Retained-store directories made for adapters that were given none; removed after the last test file. */
const retainedDirs: string[] = [];
registerTeardown("retained store directories of in-process adapters", () => {
  for (const dir of retainedDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts an adapter with the defaults, the harness broker, a free port, and `overrides`. Unless
 * `overrides.retained` says otherwise, each adapter gets a fresh temp directory for its retained
 * store (its SQLite file is locked by the adapter holding it; the default is a system path).
 */
export async function startAdapter(overrides: Partial<AdapterConfig> = {}): Promise<TestAdapter> {
  const defaults = buildDefaults();
  let retained = defaults.retained;
  if (overrides.retained === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "rmqmqtt-retained-"));
    retainedDirs.push(dir);
    retained = { ...defaults.retained, dir };
  }
  const config: AdapterConfig = {
    ...defaults,
    retained,
    amqpUrl: await rabbitmqUrl(),
    amqpUrlSource: "test harness",
    tcpListeners: [{ host: "127.0.0.1", port: 0 }],
    sslListeners: [],
    // The WebSocket listener is on by default (15675): tests that want it pass webMqtt.
    webMqtt: { ...buildDefaults().webMqtt, tcpListener: null },
    authCacheTtlMs: 0,
    // No admin socket unless a test asks: the default (/run/rabbitmq-mqtt/admin.sock) is the system's.
    adminSocketPath: null,
    ...overrides,
  };
  const log = createMemoryLogger("debug");
  const echo: Logger = process.env.ADAPTER_TEST_LOG === "1" ? wrapEcho(log) : log;
  const server = await startServer(config, echo);
  const port = server.listeners[0]!.port;
  let stopped: Promise<void> | undefined;
  const adapter: TestAdapter = {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    server,
    logLines: log.lines,
    stop() {
      stopped ??= server.stop().finally(() => running.delete(adapter));
      return stopped;
    },
  };
  running.add(adapter);
  return adapter;
}

/** ADAPTER_TEST_LOG=1 also prints the adapter's lines while a test runs (debugging). */
function wrapEcho(log: Logger & { lines: string[] }): Logger {
  const original = log.lines.push.bind(log.lines);
  log.lines.push = (...items: string[]) => {
    for (const item of items) process.stderr.write(item + "\n");
    return original(...items);
  };
  return log;
}
