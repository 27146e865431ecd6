/**
 * The effective configuration as rabbitmq.conf text, for `rabbitmq-mqtt check-config`.
 * Written from the schema table, so the output lists exactly the keys the adapter knows, and
 * reading it back (without masking) gives the same configuration; a test holds us to that.
 */
import type { AdapterConfig } from "./adapter-config.ts";
import { getPath, SCHEMA, type KeySpec } from "./schema.ts";

const MASK = "********";

export interface RenderOptions {
  /** Replace passwords (and the password in adapter.amqp_url) with ********. Default true. */
  maskSecrets?: boolean;
}

/** `key = value` lines of every active key; values equal to the default end in `# default`. */
export function renderConfig(config: AdapterConfig, options: RenderOptions = {}): string {
  const mask = options.maskSecrets ?? true;
  const out: string[] = [
    "# rabbitmq-mqtt effective configuration" + (mask ? " (secrets masked)" : ""),
    `# config file: ${config.configFile ?? "none (defaults)"}`,
    `# adapter.amqp_url from: ${config.amqpUrlSource}`,
    `# RabbitMQ's loopback_users (localhost only): ${config.loopbackUsers.length === 0 ? "none" : config.loopbackUsers.join(", ")} (from ${config.loopbackUsersSource})`,
  ];
  let section = "";
  for (const spec of SCHEMA) {
    if ((spec.status !== undefined && spec.status.kind !== "active") || spec.field === null) continue;
    const lines = renderKey(spec, config, mask);
    if (lines.length === 0) continue;
    // RabbitMQ's own TLS keys (ssl_options.*, ssl_cert_login_*) form one section.
    const head = spec.key.startsWith("ssl_") ? "ssl_options" : (spec.key.split(".")[0] as string);
    if (head !== section) {
      out.push("", `## ${head}`);
      section = head;
    }
    out.push(...lines);
  }
  return `${out.join("\n")}\n`;
}

function renderKey(spec: KeySpec, config: AdapterConfig, mask: boolean): string[] {
  const field = spec.field as string;
  const value = getPath(config, field);
  const prefix = spec.key.replace(/\.\$\w+$/, "");
  const text = (v: unknown) => (spec.secret && mask ? MASK : spec.type.format(v));

  if (spec.collect === "list") {
    const items = value as unknown[];
    if (items.length === 0) {
      // An empty list whose default is not empty was switched off with `none`.
      const hasNoneKey = SCHEMA.some((s) => s.key === prefix);
      return hasNoneKey && (spec.default as unknown[]).length > 0 ? [`${prefix} = none`] : [];
    }
    const isDefault = JSON.stringify(items) === JSON.stringify(spec.default);
    const names = items.length === 1 && prefix.startsWith("mqtt.listeners") ? ["default"] : items.map((_, i) => String(i + 1));
    return items.map((item, i) => `${prefix}.${names[i]} = ${text(item)}${isDefault ? "  # default" : ""}`);
  }
  if (spec.collect === "map") {
    return Object.entries(value as Record<string, unknown>).map(([word, v]) => `${prefix}.${word} = ${text(v)}`);
  }
  if (field.startsWith("webMqtt.") && field.endsWith("Listener.port") && value === undefined) {
    // The listener itself is null: tcp was switched off (the default ssl listener is absent).
    const kind = field.includes("tcpListener") ? "tcp" : "ssl";
    return kind === "tcp" ? ["web_mqtt.tcp.listener = none"] : [];
  }
  if (value === undefined || (value === null && !spec.type.formatsNull)) return [];
  const shown = field === "amqpUrl" && mask ? maskUrl(value as string) : text(value);
  const isDefault = JSON.stringify(value) === JSON.stringify(spec.default) && field !== "amqpUrl";
  return [`${spec.key} = ${shown}${isDefault ? "  # default" : ""}`];
}

/** amqp://user:secret@host → amqp://user:********@host. */
function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === "") return url;
    parsed.password = MASK;
    return parsed.toString();
  } catch {
    return url;
  }
}
