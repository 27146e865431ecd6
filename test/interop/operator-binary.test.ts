/**
 * The compiled binary as an operator runs it: `start` with a config file (metrics on, its own
 * admin socket), real clients (MQTT.js, mosquitto_pub) exchanging messages, then the operator's
 * tools against the running process: a Prometheus scrape, `status`, `list_connections` /
 * `list_mqtt_connections` (table and JSON), SIGHUP with a changed, a restart-only and a broken
 * file, and SIGTERM. Everything runs dist/rabbitmq-mqtt (or $RABBITMQ_MQTT_BINARY).
 *
 * The tests of one describe block share one adapter and run in order (later ones build on the
 * reloads of earlier ones), as an operator's session would.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import type { ConnectionRow, StatusReport } from "../../src/admin/index.ts";
import { parsePrometheusText, sampleValue, type Sample } from "../../src/metrics/test-helpers.ts";
import { ensureRabbitmq, uniqueName } from "../support/broker.ts";
import { freePort, runBinary, startBinary, type BinaryAdapter } from "../support/binary.ts";
import { mosquittoPub } from "./interop-helpers.ts";

setDefaultTimeout(30_000);
await ensureRabbitmq();

const P = "rabbitmq_mqtt_adapter_";
const v = (samples: Sample[], name: string, labels: Record<string, string> = {}) => sampleValue(samples, P + name, labels);

/** Polls until `check` returns a value (for state with no event to wait on: a scrape, a listing). */
async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/** Rewrites the adapter's config file: `set` keys replace their line (or are appended), `drop` keys are removed. */
function editConfig(file: string, set: Record<string, string>, drop: string[] = []): void {
  const lines = readFileSync(file, "utf8").split("\n").filter((line) => line.trim() !== "");
  const kept = lines.filter((line) => {
    const key = line.split("=")[0]!.trim();
    return !drop.includes(key) && !(key in set);
  });
  writeFileSync(file, [...kept, ...Object.entries(set).map(([key, value]) => `${key} = ${value}`)].join("\n") + "\n");
}

describe("operator tools against the running binary", () => {
  let adapter: BinaryAdapter;
  let metricsPort: number;
  let subscriber: MqttClient | undefined;
  const subscriberId = uniqueName("op-sub");
  const base = uniqueName("op");
  const received: Array<{ topic: string; qos: number }> = [];

  const scrape = async (): Promise<Sample[]> => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(response.status).toBe(200);
    return parsePrometheusText(await response.text());
  };
  const status = async (...extra: string[]) => runBinary(["status", "--config", adapter.configFile, ...extra]);

  beforeAll(async () => {
    metricsPort = freePort();
    adapter = await startBinary({ extraConfig: `adapter.metrics.port = ${metricsPort}\nadapter.log_level = info` });
    await adapter.waitForLine(`started Prometheus metrics endpoint on http://127.0.0.1:${metricsPort}/metrics`);
    await adapter.waitForLine(`admin socket listening on ${adapter.adminSocket}`);
  }, 60_000);
  afterAll(async () => {
    subscriber?.end(true);
    if (adapter.running()) await adapter.stop("SIGKILL");
  });

  test("status names the running process, its listeners, no clients yet; exit 0", async () => {
    const run = await status();
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`Running: yes (answered on ${adapter.adminSocket})`);
    expect(run.stdout).toContain(`OS PID: ${adapter.process.pid}`);
    expect(run.stdout).toContain(`Interface: [::], port: ${adapter.port}, protocol: mqtt, purpose: MQTT`);
    expect(run.stdout).toContain(`Interface: 127.0.0.1, port: ${metricsPort}, protocol: http/prometheus, purpose: Prometheus metrics`);
    expect(run.stdout).toContain("Total: 0 (MQTT 3.1: 0, MQTT 3.1.1: 0, MQTT 5.0: 0, before CONNECT: 0)");
    expect(run.stdout).toContain(`Config file in use: ${adapter.configFile}`);
    expect(run.stdout).toContain("Log level: info");
  });

  test("clients exchange messages; a scrape shows the counters moved; status shows RabbitMQ's version", async () => {
    subscriber = await mqtt.connectAsync(adapter.url, { clientId: subscriberId, protocolVersion: 4 });
    subscriber.on("message", (topic, _payload, packet) => received.push({ topic, qos: packet.qos }));
    await subscriber.subscribeAsync(`${base}/#`, { qos: 1 });
    for (const [topic, qos, version] of [[`${base}/a`, 1, "mqttv311"], [`${base}/b`, 1, "mqttv311"], [`${base}/c`, 0, "mqttv31"]] as const) {
      const run = await mosquittoPub({ port: adapter.port, version, topic, message: `m-${topic}`, qos });
      expect(run.exitCode).toBe(0);
    }
    await eventually(async () => (received.length >= 3 ? true : undefined), "the subscriber to receive 3 messages");
    const samples = await eventually(async () => {
      const s = await scrape();
      return v(s, "incoming_packets_total", { packet_type: "puback" }) >= 2 ? s : undefined;
    }, "the subscriber's PUBACKs to be counted");
    expect(v(samples, "messages_published_total", { qos: "1" })).toBe(2);
    expect(v(samples, "messages_published_total", { qos: "0" })).toBe(1);
    expect(v(samples, "messages_delivered_total", { qos: "1" })).toBe(2);
    expect(v(samples, "messages_delivered_total", { qos: "0" })).toBe(1);
    expect(v(samples, "incoming_packets_total", { packet_type: "connect" })).toBe(4);
    expect(v(samples, "incoming_packets_total", { packet_type: "publish" })).toBe(3);
    expect(v(samples, "outgoing_packets_total", { packet_type: "connack" })).toBe(4);
    expect(v(samples, "puback_latency_seconds_count")).toBe(2);
    expect(v(samples, "connections_closed_total", { reason: "client_disconnect" })).toBe(3);
    expect(v(samples, "amqp_connections")).toBeGreaterThanOrEqual(1);
    expect(v(samples, "amqp_channels")).toBeGreaterThanOrEqual(2);
    expect(v(samples, "process_resident_memory_bytes")).toBeGreaterThan(1_000_000);

    const json = await status("--format", "json");
    expect(json.exitCode).toBe(0);
    const report = JSON.parse(json.stdout) as { running: boolean; admin_socket: string; installation: { starts_with_rabbitmq: { path: string } }; status: StatusReport };
    expect(report.running).toBe(true);
    expect(report.admin_socket).toBe(adapter.adminSocket!);
    expect(report.installation.starts_with_rabbitmq.path).toBe("/etc/systemd/system/rabbitmq-server.service.wants/rabbitmq-mqtt.service");
    expect(report.status.mqtt_connections.by_protocol.mqtt311).toBe(1);
    expect(report.status.amqp.server_product).toBe("RabbitMQ");
    expect(report.status.amqp.server_version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(report.status.amqp.connections[0]).toMatchObject({ vhost: "/", user: "guest" });
  });

  test("list_connections: a tab-separated table with a header; --format json; list_mqtt_connections is the same listing", async () => {
    const table = await runBinary(["list_connections", "--config", adapter.configFile]);
    expect(table.exitCode).toBe(0);
    expect(table.stderr).toBe("Listing MQTT connections ...\n");
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("client_id\tuser\tvhost\tprotocol\tpeer\tconnected_at");
    const row = lines.find((line) => line.startsWith(`${subscriberId}\t`));
    expect(row).toMatch(new RegExp(`^${subscriberId}\\tguest\\t/\\tMQTT 3\\.1\\.1\\t127\\.0\\.0\\.1:\\d+\\t\\d{4}-\\d\\d-\\d\\dT`));

    const json = await runBinary(["list_mqtt_connections", "--socket", adapter.adminSocket!, "--format", "json", "--quiet"]);
    expect(json.exitCode).toBe(0);
    expect(json.stderr).toBe("");
    const rows = JSON.parse(json.stdout) as ConnectionRow[];
    expect(rows.find((r) => r.client_id === subscriberId)).toMatchObject({ user: "guest", vhost: "/", protocol: "MQTT 3.1.1" });
  });

  test("SIGHUP with adapter.log_level = debug: applied at once, said in one line, debug lines follow", async () => {
    editConfig(adapter.configFile, { "adapter.log_level": "debug" });
    adapter.process.kill("SIGHUP");
    await adapter.waitForLine(`configuration reloaded from ${adapter.configFile}: applied: adapter.log_level info → debug`);
    const run = await mosquittoPub({ port: adapter.port, version: "mqttv311", topic: `${base}/debug`, message: "d", qos: 1 });
    expect(run.exitCode).toBe(0);
    await adapter.waitForLine((line) => line.includes("[debug]") && line.includes(`delivering QoS 1 to "${base}/debug"`));
    expect((await status()).stdout).toContain("Log level: debug");
  });

  test("SIGHUP with allow_anonymous = false and a new port: anonymous login refused for new clients, the port change needs a restart", async () => {
    const otherPort = freePort();
    editConfig(adapter.configFile, { "mqtt.allow_anonymous": "false", "mqtt.listeners.tcp.default": String(otherPort) });
    adapter.process.kill("SIGHUP");
    const line = await adapter.waitForLine((l) => l.includes("configuration reloaded from") && l.includes("mqtt.allow_anonymous"));
    expect(line).toContain("[warning]");
    expect(line).toContain("applied to new connections (connected clients keep theirs): mqtt.allow_anonymous true → false");
    expect(line).toContain("NOT applied, these need a restart (systemctl restart rabbitmq-mqtt): mqtt.listeners.tcp.default");
    const anonymous = await mosquittoPub({ port: adapter.port, version: "mqttv311", topic: `${base}/anon`, message: "x", qos: 1 });
    expect(anonymous.exitCode).not.toBe(0);
    const withCredentials = await mosquittoPub({ port: adapter.port, version: "mqttv311", topic: `${base}/creds`, message: "x", qos: 1, username: "guest", password: "guest" });
    expect(withCredentials.exitCode).toBe(0);
    expect(subscriber!.connected).toBe(true);
    await eventually(async () => (received.some((m) => m.topic === `${base}/creds`) ? true : undefined), "the connected anonymous subscriber to keep receiving");
  });

  test("SIGHUP with a broken file: every problem logged as file:line, nothing changes, the adapter keeps serving", async () => {
    editConfig(adapter.configFile, { "mqtt.prefetch": "lots", "adapter.log_level": "loud" });
    adapter.process.kill("SIGHUP");
    await adapter.waitForLine(`configuration reload failed: 2 problem(s) in ${adapter.configFile}; the running configuration stays in force`);
    const errors = adapter.lines.filter((line) => line.includes("[error]") && line.includes(`${adapter.configFile}:`));
    expect(errors.some((line) => line.includes("mqtt.prefetch = lots"))).toBe(true);
    expect(errors.some((line) => line.includes("adapter.log_level = loud"))).toBe(true);
    const run = await status();
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("Log level: debug");
  });

  test("SIGTERM: exit 0, the admin socket is removed, status then says not running (exit 69)", async () => {
    subscriber?.end(true);
    const stopped = await adapter.stop("SIGTERM");
    expect(stopped.exitCode).toBe(0);
    expect(stopped.output).toContain("stopped");
    expect(existsSync(adapter.adminSocket!)).toBe(false);
    const run = await status();
    expect(run.exitCode).toBe(69);
    expect(run.stdout).toContain(`Running: no (no admin socket at ${adapter.adminSocket}`);
    const listing = await runBinary(["list_connections", "--socket", adapter.adminSocket!]);
    expect(listing.exitCode).toBe(69);
    expect(listing.stderr).toContain("the adapter is not running");
  });
});

describe("status and list_connections without a running adapter", () => {
  test.each<[string, string[], number, string]>([
    ["status --format yaml", ["status", "--format", "yaml"], 64, "--format yaml: expected text or json"],
    ["status --sokcet", ["status", "--sokcet", "/x"], 64, "unknown option --sokcet"],
    ["list_connections --format csv", ["list_connections", "--format", "csv"], 64, "--format csv: expected table or json"],
  ])("%s: usage error, exit %d", async (_name, args, exitCode, message) => {
    const run = await runBinary(args);
    expect(run.exitCode).toBe(exitCode);
    expect(run.stderr).toContain(message);
  });

  test("a metrics port already in use: start fails with exit 1 and a message naming the keys", async () => {
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const adapter = await startBinary({ extraConfig: `adapter.metrics.port = ${holder.port}`, waitForListener: false });
      const ended = await adapter.waitForExit(20_000);
      expect(ended.exitCode).toBe(1);
      expect(ended.output).toContain(`could not start: cannot start the metrics endpoint on 127.0.0.1:${holder.port} (adapter.metrics.ip / adapter.metrics.port)`);
    } finally {
      holder.stop(true);
    }
  });

  test("status --root: an installed tree is reported enabled, and the adapter not running (exit 69)", async () => {
    const root = mkdtempSync(join(tmpdir(), "status-root-"));
    try {
      for (const file of ["etc/systemd/system/rabbitmq-mqtt.service", "usr/lib/rabbitmq-mqtt/rabbitmq-mqtt"]) {
        mkdirSync(dirname(join(root, file)), { recursive: true });
        writeFileSync(join(root, file), "x");
      }
      mkdirSync(join(root, "etc/systemd/system/rabbitmq-server.service.wants"), { recursive: true });
      symlinkSync("../rabbitmq-mqtt.service", join(root, "etc/systemd/system/rabbitmq-server.service.wants/rabbitmq-mqtt.service"));
      const run = await runBinary(["status", "--root", root, "--socket", "/nonexistent/admin.sock"]);
      expect(run.exitCode).toBe(69);
      expect(run.stdout).toContain("Enabled: yes\nUnit: /etc/systemd/system/rabbitmq-mqtt.service\nStarts and stops with rabbitmq-server.service: yes\n");
      expect(run.stdout).toContain("Running: no (no admin socket at /nonexistent/admin.sock");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
