/**
 * What the running adapter reports about itself, made fresh for each `status`,
 * `list_connections` or metrics scrape from the live objects (connections, listeners, the
 * backend's pools). Nothing here is kept up to date on the hot path.
 */
import type { BackendStats } from "../backend/backend.ts";
import { protocolLabel, PROTOCOL_LABELS } from "../metrics/index.ts";
import type { ConnectionInfo } from "../protocol/index.ts";
import { VERSION } from "../version.ts";
import type { ConnectionRow, ListenerRow, StatusReport } from "./wire.ts";

/** The parts of the running server a report is made from. */
export interface ServerState {
  /** When the server started, ms since the epoch. */
  startedAtMs: number;
  configFile: string | null;
  logLevel: () => string;
  amqpUrl: string;
  listeners: () => ListenerRow[];
  connections: Iterable<{ readonly info: ConnectionInfo }>;
  backendStats: () => BackendStats | undefined;
}

const PROTOCOL_NAMES: Record<number, string> = { 3: "MQTT 3.1", 4: "MQTT 3.1.1", 5: "MQTT 5.0" };

/** Open connections by protocol label (every label present, 0 when none). */
export function countConnectionsByProtocol(connections: Iterable<{ readonly info: ConnectionInfo }>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const label of PROTOCOL_LABELS) counts[label] = 0;
  for (const connection of connections) {
    const label = protocolLabel(connection.info.protocolVersion);
    counts[label] = (counts[label] ?? 0) + 1;
  }
  return counts;
}

/** The `status` answer. */
export function buildStatus(state: ServerState, nowMs = Date.now()): StatusReport {
  const byProtocol = countConnectionsByProtocol(state.connections);
  const stats = state.backendStats();
  const connections = (stats?.connections ?? []).map((c) => ({
    name: c.name,
    vhost: c.vhost,
    user: c.username,
    channels: c.channels,
    sessions: c.sessions,
    publish_blocked: c.publishBlocked,
  }));
  return {
    pid: process.pid,
    version: VERSION,
    bun_version: Bun.version,
    started_at: new Date(state.startedAtMs).toISOString(),
    uptime_seconds: Math.max(0, Math.floor((nowMs - state.startedAtMs) / 1000)),
    config_file: state.configFile,
    log_level: state.logLevel(),
    listeners: state.listeners(),
    mqtt_connections: { total: Object.values(byProtocol).reduce((a, b) => a + b, 0), by_protocol: byProtocol },
    amqp: {
      url: redactUrl(state.amqpUrl),
      server_product: stats?.serverProduct ?? null,
      server_version: stats?.serverVersion ?? null,
      channels: connections.reduce((sum, c) => sum + c.channels, 0),
      connections,
    },
  };
}

/** The `list_connections` answer: one row per open connection, oldest first. */
export function listConnectionRows(connections: Iterable<{ readonly info: ConnectionInfo }>): ConnectionRow[] {
  const infos = [...connections].map((c) => c.info).sort((a, b) => a.connectedAtMs - b.connectedAtMs);
  return infos.map((info) => ({
    client_id: info.clientId ?? "",
    user: info.username ?? "",
    vhost: info.vhost ?? "",
    protocol: info.protocolVersion === undefined ? "" : (PROTOCOL_NAMES[info.protocolVersion] ?? `MQTT level ${info.protocolVersion}`),
    peer: info.peer,
    connected_at: new Date(info.connectedAtMs).toISOString(),
  }));
}

/** `amqp://user:secret@host` → `amqp://user:********@host`; unparseable URLs are not shown at all. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "********";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}
