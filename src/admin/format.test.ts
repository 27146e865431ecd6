import { describe, expect, test } from "bun:test";
import { escapeCell, formatConnectionsTable, formatListener, formatStatus } from "./format.ts";
import type { Installation } from "./installation.ts";
import type { StatusReport } from "./wire.ts";

const INSTALLED: Installation = {
  enabled: "yes",
  unit: { path: "/etc/systemd/system/rabbitmq-mqtt.service", present: true },
  binary: { path: "/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt", present: true },
  command: { path: "/usr/sbin/rabbitmq-mqtt", present: true },
  startsWithRabbitmq: { path: "/etc/systemd/system/rabbitmq-server.service.wants/rabbitmq-mqtt.service", present: true },
  config: { path: "/etc/rabbitmq/rabbitmq_mqtt.conf", present: false },
};

const REPORT: StatusReport = {
  pid: 4242,
  version: "0.1.0",
  bun_version: "1.4.5",
  started_at: "2026-01-01T00:00:00.000Z",
  uptime_seconds: 61,
  config_file: "/etc/rabbitmq/rabbitmq_mqtt.conf",
  log_level: "info",
  listeners: [
    { protocol: "mqtt", interface: "::", port: 1883 },
    { protocol: "http/prometheus", interface: "127.0.0.1", port: 15692 },
  ],
  mqtt_connections: { total: 3, by_protocol: { mqtt310: 0, mqtt311: 2, mqtt50: 1, pending: 0 } },
  amqp: {
    url: "amqp://localhost:5672",
    server_product: "RabbitMQ",
    server_version: "3.10.8",
    channels: 3,
    connections: [{ name: "vhost '/' user 'guest' #1", vhost: "/", user: "guest", channels: 3, sessions: 1, publish_blocked: true }],
  },
};

describe("status text", () => {
  test("a running adapter: rabbitmqctl-shaped sections with every fact", () => {
    expect(formatStatus(INSTALLED, { kind: "ok", result: REPORT }, "/run/rabbitmq-mqtt/admin.sock")).toBe(
      [
        "Status of rabbitmq-mqtt ...",
        "",
        "Installation",
        "",
        "Enabled: yes",
        "Unit: /etc/systemd/system/rabbitmq-mqtt.service",
        "Starts and stops with rabbitmq-server.service: yes",
        "Binary: /usr/lib/rabbitmq-mqtt/rabbitmq-mqtt",
        "Command: /usr/sbin/rabbitmq-mqtt",
        "Config file: /etc/rabbitmq/rabbitmq_mqtt.conf (absent: the defaults apply)",
        "",
        "Runtime",
        "",
        "Running: yes (answered on /run/rabbitmq-mqtt/admin.sock)",
        "OS PID: 4242",
        "Uptime (seconds): 61",
        "rabbitmq-mqtt version: 0.1.0",
        "Bun version: 1.4.5",
        "Config file in use: /etc/rabbitmq/rabbitmq_mqtt.conf",
        "Log level: info",
        "",
        "Listeners",
        "",
        "Interface: [::], port: 1883, protocol: mqtt, purpose: MQTT",
        "Interface: 127.0.0.1, port: 15692, protocol: http/prometheus, purpose: Prometheus metrics",
        "",
        "MQTT connections",
        "",
        "Total: 3 (MQTT 3.1: 0, MQTT 3.1.1: 2, MQTT 5.0: 1, before CONNECT: 0)",
        "",
        "RabbitMQ",
        "",
        "Broker: amqp://localhost:5672 (RabbitMQ 3.10.8)",
        "AMQP connections: 1, channels: 3",
        "  vhost '/' user 'guest' #1: 3 channels, 1 session, publishing blocked",
        "",
      ].join("\n"),
    );
  });

  test.each<[string, Parameters<typeof formatStatus>[1], string]>([
    ["not running", { kind: "unreachable", reason: "no admin socket at /x", notRunning: true }, "Running: no (no admin socket at /x)"],
    ["unknown", { kind: "unreachable", reason: "permission denied on /x", notRunning: false }, "Running: unknown (permission denied on /x)"],
    ["socket off", { kind: "no-socket" }, "Running: unknown (adapter.admin_socket = none, so there is nothing to ask; try systemctl status rabbitmq-mqtt)"],
    ["answered with an error", { kind: "refused", error: "boom" }, "Running: yes, but it refused the status request: boom"],
  ])("%s: the Runtime section says so and ends there", (_name, runtime, line) => {
    const text = formatStatus(INSTALLED, runtime, "/x");
    expect(text.endsWith(`Runtime\n\n${line}\n`)).toBe(true);
  });

  test("a broker not yet connected says so instead of a version", () => {
    const text = formatStatus(INSTALLED, { kind: "ok", result: { ...REPORT, amqp: { ...REPORT.amqp, server_product: null, server_version: null, connections: [], channels: 0 } } }, "/x");
    expect(text).toContain("Broker: amqp://localhost:5672 (version not known yet: no AMQP connection opened so far)\nAMQP connections: 0, channels: 0\n");
  });

  test.each<[string, string]>([
    ["https/web-mqtt", "Interface: 0.0.0.0, port: 9, protocol: https/web-mqtt, purpose: MQTT over WebSockets and TLS"],
    ["mqtt/ssl", "Interface: 0.0.0.0, port: 9, protocol: mqtt/ssl, purpose: MQTT over TLS"],
  ])("listener %s", (protocol, line) => {
    expect(formatListener({ protocol, interface: "0.0.0.0", port: 9 })).toBe(line);
  });
});

describe("list_connections table", () => {
  test("a header of rabbitmqctl's item names, then one tab-separated line per connection", () => {
    const text = formatConnectionsTable([
      { client_id: "sensor-1", user: "guest", vhost: "/", protocol: "MQTT 3.1.1", peer: "127.0.0.1:5000", connected_at: "2026-01-01T00:00:00.000Z" },
      { client_id: "", user: "", vhost: "", protocol: "", peer: "[::1]:6000", connected_at: "2026-01-01T00:00:01.000Z" },
    ]);
    expect(text).toBe(
      "client_id\tuser\tvhost\tprotocol\tpeer\tconnected_at\n" +
        "sensor-1\tguest\t/\tMQTT 3.1.1\t127.0.0.1:5000\t2026-01-01T00:00:00.000Z\n" +
        "\t\t\t\t[::1]:6000\t2026-01-01T00:00:01.000Z\n",
    );
  });

  test("no connections: the header alone", () => {
    expect(formatConnectionsTable([])).toBe("client_id\tuser\tvhost\tprotocol\tpeer\tconnected_at\n");
  });

  test.each<[string, string]>([
    ["plain", "plain"],
    ["a\tb", "a\\tb"],
    ["two\nlines\r", "two\\nlines\\r"],
    ["back\\slash", "back\\\\slash"],
  ])("a client id %p cannot break the table: %p", (value, cell) => {
    expect(escapeCell(value)).toBe(cell);
  });
});
