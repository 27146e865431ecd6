/**
 * The text of packaging/rabbitmq_mqtt.conf, written from the config schema table so the file
 * `enable` installs lists every key with the default the adapter really uses.
 *
 * The file itself is committed and imported as text (templates.ts), because the executable
 * must carry it as plain text; scripts/generate-default-conf.ts rewrites it from this function,
 * and default-conf.test.ts fails when the committed file and the schema disagree.
 *
 * Layout follows RabbitMQ's rabbitmq.conf.example: `##` starts prose, `# key = value` is a
 * setting commented out at its default (uncomment it to change it), and `# key =` marks a key
 * that is unset by default.
 */
import type { KeySpec } from "../config/index.ts";

/** Placeholder words for the "$" segment of list and map keys, as an operator would write them. */
const PLACEHOLDER_WORD: Record<string, string> = { $name: "default", $port: "1883" };

const SECTIONS: Record<string, string> = {
  mqtt: "MQTT listeners, sessions and clients: the keys of RabbitMQ's rabbitmq_mqtt plugin, same names and defaults.",
  ssl_options:
    "TLS of the MQTT TLS listeners (mqtt.listeners.ssl.*) and certificate login: RabbitMQ's ssl_options.* and ssl_cert_login_* keys.",
  web_mqtt: "MQTT over WebSocket: the keys of RabbitMQ's rabbitmq_web_mqtt plugin.",
  adapter: "rabbitmq-mqtt's own keys (all of them start with adapter.).",
};

const HEADER = `## /etc/rabbitmq/rabbitmq_mqtt.conf: configuration of rabbitmq-mqtt, the MQTT adapter for RabbitMQ.
##
## Same format as RabbitMQ's rabbitmq.conf, and the same mqtt.*, web_mqtt.* and ssl_options.* keys
## with the same defaults as RabbitMQ's MQTT plugins, so a plugin configuration works unchanged.
## Every key is listed below, commented out at its default: uncomment a line to change it.
## "# key =" with nothing after it means the key is unset by default.
##
## Keep mqtt.* keys out of RabbitMQ's own rabbitmq.conf: RabbitMQ refuses to boot on keys of a
## plugin that is not enabled.
##
## Check this file:   rabbitmq-mqtt check-config --config /etc/rabbitmq/rabbitmq_mqtt.conf
## Apply changes:     systemctl restart rabbitmq-mqtt
##
## \`rabbitmq-mqtt enable\` writes this file only when it does not exist and never overwrites it;
## \`rabbitmq-mqtt disable\` leaves it in place.
`;

/** One `# key = value` line (or `# key =`) per setting of a key, as this file shows it. */
export interface DefaultLine {
  /** The key as written, "$" segments replaced by a word (mqtt.listeners.tcp.default). */
  key: string;
  /** The default in rabbitmq.conf spelling, or null when the key is unset by default. */
  value: string | null;
}

/** Whether a key belongs in the file: active keys only (ignored/replaced/alias keys do nothing). */
export function isDocumentedKey(spec: KeySpec): boolean {
  return spec.status === undefined || spec.status.kind === "active";
}

/** The setting lines a key contributes: one per default list element, else exactly one. */
export function defaultLinesOf(spec: KeySpec): DefaultLine[] {
  const segments = spec.key.split(".");
  const concrete = (word: (placeholder: string) => string) =>
    segments.map((s) => (s.startsWith("$") ? word(s) : s)).join(".");
  const firstWord = (s: string) => PLACEHOLDER_WORD[s] ?? "1";

  if (spec.collect === "list") {
    const items = (spec.default ?? []) as unknown[];
    if (items.length === 0) return [{ key: concrete(firstWord), value: null }];
    return items.map((item, i) => ({
      key: concrete((s) => (i === 0 ? firstWord(s) : String(i + 1))),
      value: spec.type.format(item),
    }));
  }
  if (spec.collect === "map") {
    const entries = Object.entries((spec.default ?? {}) as Record<string, unknown>);
    if (entries.length === 0) return [{ key: concrete(firstWord), value: null }];
    return entries.map(([word, v]) => ({ key: concrete(() => word), value: spec.type.format(v) }));
  }
  const value = spec.default;
  if (value === undefined || (value === null && spec.type.formatsNull !== true)) {
    return [{ key: spec.key, value: null }];
  }
  return [{ key: spec.key, value: spec.type.format(value) }];
}

function sectionOf(spec: KeySpec): string {
  return spec.key.startsWith("ssl_") ? "ssl_options" : (spec.key.split(".")[0] as string);
}

/** The whole default config file for the given schema table. */
export function renderDefaultConf(schema: readonly KeySpec[]): string {
  const out: string[] = [HEADER.trimEnd()];
  let section = "";
  for (const spec of schema) {
    if (!isDocumentedKey(spec)) continue;
    const head = sectionOf(spec);
    if (head !== section) {
      const title = SECTIONS[head] ?? `${head}.* keys.`;
      out.push("", "##", `## ${title}`, "##");
      section = head;
    }
    out.push("", `## ${spec.description}`, `## Value: ${spec.type.expected}`);
    for (const line of defaultLinesOf(spec)) {
      out.push(line.value === null ? `# ${line.key} =` : `# ${line.key} = ${line.value}`);
    }
  }
  return `${out.join("\n")}\n`;
}
