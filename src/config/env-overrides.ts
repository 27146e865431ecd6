/**
 * Environment overrides, for containers where writing a file is awkward.
 *
 * Scheme: RABBITMQ_MQTT_ + the key in capitals with every "." written "__":
 *   mqtt.vhost                  ← RABBITMQ_MQTT_MQTT__VHOST=/iot
 *   mqtt.listeners.tcp.default  ← RABBITMQ_MQTT_MQTT__LISTENERS__TCP__DEFAULT=11883
 *   web_mqtt.tcp.port           ← RABBITMQ_MQTT_WEB_MQTT__TCP__PORT=15675
 *   adapter.amqp_url            ← RABBITMQ_MQTT_ADAPTER__AMQP_URL=amqp://rabbit:5672
 * Our own adapter.* keys may leave out ADAPTER__: RABBITMQ_MQTT_AMQP_URL, RABBITMQ_MQTT_LOG_LEVEL,
 * RABBITMQ_MQTT_RETAINED__DIR. When both forms are set, the long one wins (with a warning).
 *
 * An override replaces the file's value of the same key; list keys add or replace one item
 * (…__TCP__DEFAULT replaces mqtt.listeners.tcp.default and keeps mqtt.listeners.tcp.2).
 * Values are taken as they are (no quote or comment processing); an empty variable counts as
 * unset, as RabbitMQ's own scripts treat empty variables. RABBITMQ_MQTT_CONFIG_FILE names the
 * config file and is not a key. An unknown RABBITMQ_MQTT_* variable is a warning, not an
 * error: the prefix is shared with whatever else runs in the container.
 */
import { findKey } from "./schema.ts";
import { closestKey } from "./suggest.ts";

export const ENV_PREFIX = "RABBITMQ_MQTT_";
/** Names the config file (default /etc/rabbitmq/rabbitmq_mqtt.conf). */
export const CONFIG_FILE_ENV = "RABBITMQ_MQTT_CONFIG_FILE";

export interface EnvSetting {
  key: string;
  segments: string[];
  value: string;
  /** The variable, e.g. "$RABBITMQ_MQTT_MQTT__VHOST", used where a file would say file:line. */
  source: string;
}

/** The variable that overrides a key: envNameFor("mqtt.vhost") = "RABBITMQ_MQTT_MQTT__VHOST". */
export function envNameFor(key: string): string {
  return ENV_PREFIX + key.toUpperCase().replaceAll(".", "__");
}

/** Settings from RABBITMQ_MQTT_* variables, in name order so results do not depend on env order. */
export function readEnvOverrides(env: Record<string, string | undefined>): { settings: EnvSetting[]; warnings: string[] } {
  const warnings: string[] = [];
  const byKey = new Map<string, EnvSetting & { long: boolean }>();
  const names = Object.keys(env).filter((n) => n.startsWith(ENV_PREFIX) && n !== CONFIG_FILE_ENV).sort();
  for (const name of names) {
    const value = (env[name] as string | undefined)?.trim();
    if (value === undefined || value === "") continue;
    const words = name.slice(ENV_PREFIX.length).toLowerCase().split("__");
    const long = findKey(words) !== undefined;
    const segments = long ? words : ["adapter", ...words];
    if (!long && findKey(segments) === undefined) {
      const near = closestKey(words);
      const hint = near === undefined ? "" : `; did you mean ${envNameFor(near)} (${near})?`;
      warnings.push(`$${name}: not a rabbitmq-mqtt setting, ignored${hint}`);
      continue;
    }
    const key = segments.join(".");
    const previous = byKey.get(key);
    if (previous) {
      const winner = previous.long ? previous : { key, segments, value, source: `$${name}`, long };
      const loser = previous.long ? `$${name}` : previous.source;
      warnings.push(`${loser} and ${winner.source} both set ${key}; using ${winner.source}`);
      byKey.set(key, winner);
      continue;
    }
    byKey.set(key, { key, segments, value, source: `$${name}`, long });
  }
  return { settings: [...byKey.values()].map(({ long: _, ...s }) => s), warnings };
}
