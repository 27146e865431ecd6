/**
 * How `status` and `list_connections` print for a person, shaped like `rabbitmqctl status`
 * (sections with a title, `Key: value` lines) and `rabbitmqctl list_*` (a header line, then one
 * tab-separated line per item, so `cut -f` and `awk -F'\t'` work on it).
 */
import type { AdminReply } from "./admin-client.ts";
import type { Installation, InstalledFile } from "./installation.ts";
import type { ConnectionRow, ListenerRow, StatusReport } from "./wire.ts";

/** What `status` found out about the running adapter. */
export type RuntimeAnswer = AdminReply<StatusReport> | { kind: "no-socket" };

const PURPOSES: Record<string, string> = {
  mqtt: "MQTT",
  "mqtt/ssl": "MQTT over TLS",
  "http/web-mqtt": "MQTT over WebSockets",
  "https/web-mqtt": "MQTT over WebSockets and TLS",
  "http/prometheus": "Prometheus metrics",
};

const PROTOCOL_NAMES: Array<[string, string]> = [
  ["mqtt310", "MQTT 3.1"],
  ["mqtt311", "MQTT 3.1.1"],
  ["mqtt50", "MQTT 5.0"],
  ["pending", "before CONNECT"],
];

/** The whole `status` text. */
export function formatStatus(installation: Installation, runtime: RuntimeAnswer, socketPath: string | null): string {
  const out: string[] = ["Status of rabbitmq-mqtt ...", "", "Installation", ""];
  out.push(`Enabled: ${installation.enabled}`);
  out.push(`Unit: ${describeFile(installation.unit)}`);
  out.push(`Starts and stops with rabbitmq-server.service: ${installation.startsWithRabbitmq.present ? "yes" : "no"}`);
  out.push(`Binary: ${describeFile(installation.binary)}`);
  out.push(`Command: ${describeFile(installation.command)}`);
  out.push(`Config file: ${describeFile(installation.config, "absent: the defaults apply")}`);
  out.push("", "Runtime", "");

  if (runtime.kind === "no-socket") {
    out.push("Running: unknown (adapter.admin_socket = none, so there is nothing to ask; try systemctl status rabbitmq-mqtt)");
    return out.join("\n") + "\n";
  }
  if (runtime.kind === "unreachable") {
    out.push(`Running: ${runtime.notRunning ? "no" : "unknown"} (${runtime.reason})`);
    return out.join("\n") + "\n";
  }
  if (runtime.kind === "refused") {
    out.push(`Running: yes, but it refused the status request: ${runtime.error}`);
    return out.join("\n") + "\n";
  }
  const report = runtime.result;
  out.push(`Running: yes (answered on ${socketPath})`);
  out.push(`OS PID: ${report.pid}`);
  out.push(`Uptime (seconds): ${report.uptime_seconds}`);
  out.push(`rabbitmq-mqtt version: ${report.version}`);
  out.push(`Bun version: ${report.bun_version}`);
  out.push(`Config file in use: ${report.config_file ?? "none (defaults)"}`);
  out.push(`Log level: ${report.log_level}`);

  out.push("", "Listeners", "");
  if (report.listeners.length === 0) out.push("(none)");
  for (const listener of report.listeners) out.push(formatListener(listener));

  out.push("", "MQTT connections", "");
  const counts = PROTOCOL_NAMES.map(([label, name]) => `${name}: ${report.mqtt_connections.by_protocol[label] ?? 0}`);
  out.push(`Total: ${report.mqtt_connections.total} (${counts.join(", ")})`);

  out.push("", "RabbitMQ", "");
  const amqp = report.amqp;
  const server = amqp.server_version === null ? "version not known yet: no AMQP connection opened so far" : `${amqp.server_product ?? "broker"} ${amqp.server_version}`;
  out.push(`Broker: ${amqp.url} (${server})`);
  out.push(`AMQP connections: ${amqp.connections.length}, channels: ${amqp.channels}`);
  for (const c of amqp.connections) {
    out.push(`  ${c.name}: ${plural(c.channels, "channel")}, ${plural(c.sessions, "session")}${c.publish_blocked ? ", publishing blocked" : ""}`);
  }
  return out.join("\n") + "\n";
}

/** `Interface: [::], port: 1883, protocol: mqtt, purpose: MQTT`, as rabbitmqctl status lists listeners. */
export function formatListener(listener: ListenerRow): string {
  const address = listener.interface.includes(":") ? `[${listener.interface}]` : listener.interface;
  const purpose = PURPOSES[listener.protocol] ?? listener.protocol;
  return `Interface: ${address}, port: ${listener.port}, protocol: ${listener.protocol}, purpose: ${purpose}`;
}

/** Columns of `list_connections`, in order (rabbitmqctl list_mqtt_connections' item names). */
export const CONNECTION_COLUMNS: ReadonlyArray<keyof ConnectionRow> = ["client_id", "user", "vhost", "protocol", "peer", "connected_at"];

/** A header line and one tab-separated line per connection. */
export function formatConnectionsTable(rows: readonly ConnectionRow[]): string {
  const lines = [CONNECTION_COLUMNS.join("\t")];
  for (const row of rows) lines.push(CONNECTION_COLUMNS.map((column) => escapeCell(row[column])).join("\t"));
  return lines.join("\n") + "\n";
}

/**
 * A cell that cannot break the table: client ids and user names are any UTF-8 an MQTT client
 * sent, so tab, newline, carriage return and backslash are written as \t, \n, \r and \\.
 */
export function escapeCell(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));
}

function describeFile(file: InstalledFile, missing = "not installed"): string {
  return `${file.path}${file.present ? "" : ` (${missing})`}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
