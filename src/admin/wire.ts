/**
 * The admin socket's wire format: a Unix socket speaking one JSON object per line each way.
 *
 *   → {"command":"status"}\n
 *   ← {"ok":true,"result":{…StatusReport…}}\n
 *   → {"command":"list_connections"}\n
 *   ← {"ok":true,"result":[…ConnectionRow…]}\n
 *   → anything else
 *   ← {"ok":false,"error":"…what was wrong, what is expected…"}\n
 *
 * Field names are snake_case, as in `rabbitmqctl --formatter json` output, because the same
 * objects are what `status --format json` and `list_connections --format json` print.
 */

/** Commands the running adapter answers. */
export const ADMIN_COMMANDS = ["status", "list_connections"] as const;
export type AdminCommand = (typeof ADMIN_COMMANDS)[number];

export interface AdminRequest {
  command: AdminCommand;
}

/** A request line longer than this is refused and the connection closed (no unbounded buffer). */
export const MAX_REQUEST_LINE_BYTES = 4096;

export type AdminResponse<T> = { ok: true; result: T } | { ok: false; error: string };

/** One listener of the running adapter, as `rabbitmqctl status` lists RabbitMQ's. */
export interface ListenerRow {
  /** `mqtt`, `mqtt/ssl`, `http/web-mqtt`, `https/web-mqtt`, `http/prometheus`: RabbitMQ's protocol names. */
  protocol: string;
  /** `::`, `0.0.0.0`, `127.0.0.1`, … */
  interface: string;
  port: number;
}

/** One AMQP connection to RabbitMQ. */
export interface AmqpConnectionRow {
  name: string;
  vhost: string;
  user: string;
  channels: number;
  sessions: number;
  publish_blocked: boolean;
}

/** What `rabbitmq-mqtt status` shows of the running process. */
export interface StatusReport {
  pid: number;
  version: string;
  bun_version: string;
  /** ISO 8601, UTC. */
  started_at: string;
  uptime_seconds: number;
  /** The file the running configuration came from; null = defaults only. */
  config_file: string | null;
  log_level: string;
  listeners: ListenerRow[];
  mqtt_connections: {
    total: number;
    /** By protocol label: mqtt310, mqtt311, mqtt50, pending (no CONNECT accepted yet). */
    by_protocol: Record<string, number>;
  };
  amqp: {
    /** adapter.amqp_url without its password. */
    url: string;
    /** e.g. "RabbitMQ" and "3.10.8", from the broker's connection.start; null until a connection opened. */
    server_product: string | null;
    server_version: string | null;
    channels: number;
    connections: AmqpConnectionRow[];
  };
}

/** One MQTT connection, as `rabbitmqctl list_mqtt_connections` names the columns. */
export interface ConnectionRow {
  /** Empty until the client's CONNECT is read. */
  client_id: string;
  user: string;
  vhost: string;
  /** `MQTT 3.1`, `MQTT 3.1.1`, `MQTT 5.0`; empty before CONNECT. */
  protocol: string;
  /** `1.2.3.4:5678`, `[::1]:5678`. */
  peer: string;
  /** When the socket was accepted, ISO 8601 UTC. */
  connected_at: string;
}

/** Parses one request line; a problem comes back as the message to answer with. */
export function parseAdminRequest(line: string): AdminRequest | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: `the request is not JSON: ${JSON.stringify(line.slice(0, 80))}; expected one line like {"command":"status"}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { error: `the request must be a JSON object like {"command":"status"}, got ${JSON.stringify(value)?.slice(0, 80)}` };
  }
  const command = (value as { command?: unknown }).command;
  if (typeof command !== "string" || !(ADMIN_COMMANDS as readonly string[]).includes(command)) {
    return { error: `unknown command ${JSON.stringify(command)}; known: ${ADMIN_COMMANDS.join(", ")}` };
  }
  return { command: command as AdminCommand };
}
