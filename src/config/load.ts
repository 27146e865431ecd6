/**
 * loadConfig: file + environment → AdapterConfig, or every problem at once.
 *
 * Order: defaults (schema.ts) ← the config file ← RABBITMQ_MQTT_* variables; then the rules
 * that involve several keys (rules.ts); then adapter.amqp_url from RabbitMQ's own config when
 * unset (rabbitmq-env.ts). Nothing here throws for bad input: problems come back as
 * `file:line: key = value: what is wrong, expected …` strings.
 *
 * Unknown keys in the file are errors, not warnings: RabbitMQ refuses to boot on them too, and
 * a typo such as mqtt.allow_anonymus = false silently left at its default would open the
 * broker to anonymous clients.
 */
import { readFileSync } from "node:fs";
import type { AdapterConfig } from "./adapter-config.ts";
import { CONFIG_FILE_ENV, readEnvOverrides } from "./env-overrides.ts";
import { parseConf } from "./parse.ts";
import { discoverAmqpUrl, discoverLoopbackUsers } from "./rabbitmq-env.ts";
import { applyRules, type Resolved } from "./rules.ts";
import { buildDefaults, findKey, setPath, showValue, specOf, type KeySpec } from "./schema.ts";
import { closestKey } from "./suggest.ts";

export const DEFAULT_CONFIG_FILE = "/etc/rabbitmq/rabbitmq_mqtt.conf";
export const DEFAULT_RABBITMQ_CONF_DIR = "/etc/rabbitmq";

export interface LoadOptions {
  /** Config file (the CLI's --config). Default: $RABBITMQ_MQTT_CONFIG_FILE, else /etc/rabbitmq/rabbitmq_mqtt.conf. */
  file?: string;
  /** Environment to read RABBITMQ_MQTT_* and RabbitMQ's variables from. Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Where RabbitMQ's rabbitmq.conf / rabbitmq-env.conf live. Default: /etc/rabbitmq. */
  rabbitmqConfDir?: string;
  /** The file used when none is given, and allowed to be absent. Default: DEFAULT_CONFIG_FILE (a root prefix may be added, e.g. in tests). */
  defaultFile?: string;
}

export type LoadResult = { config: AdapterConfig; warnings: string[] } | { errors: string[]; warnings: string[] };

/** One key = value from the file or the environment, before its value is checked. */
interface Setting {
  key: string;
  segments: string[];
  value: string;
  source: string;
}

const MASK = "********";

/** Reads, checks and combines the configuration. Never throws for bad input. */
export function loadConfig(options: LoadOptions = {}): LoadResult {
  const env = options.env ?? process.env;
  const errors: string[] = [];
  const warnings: string[] = [];

  const fromEnv = env[CONFIG_FILE_ENV] ? CONFIG_FILE_ENV : undefined;
  const explicit = options.file ?? (fromEnv ? env[CONFIG_FILE_ENV] : undefined);
  const file = explicit ?? options.defaultFile ?? DEFAULT_CONFIG_FILE;
  const settings: Setting[] = [];
  let configFile: string | null = file;

  const text = readConfigFile(file);
  if (typeof text === "string") {
    const parsed = parseConf(text, file, { show: (segments, value) => showValue(findKey(segments)?.spec, value) });
    errors.push(...parsed.errors);
    warnings.push(...parsed.warnings);
    for (const e of parsed.entries) settings.push({ key: e.key, segments: e.segments, value: e.value, source: `${file}:${e.line}` });
  } else if (text.missing && explicit === undefined) {
    configFile = null; // no file at the default place: all defaults, as the plugin without config
  } else {
    const given = options.file !== undefined ? "" : ` (from $${CONFIG_FILE_ENV})`;
    errors.push(`${file}${given}: cannot read the config file: ${text.reason}, expected a readable rabbitmq.conf-format file`);
  }

  const overrides = readEnvOverrides(env);
  warnings.push(...overrides.warnings);
  settings.push(...overrides.settings);

  const resolved = new Map<string, Resolved>();
  for (const setting of settings) resolveSetting(setting, resolved, errors, warnings);

  const config = buildDefaults();
  config.configFile = configFile;
  applySettings(config, resolved);
  applyRules(config, resolved, errors, warnings);

  if (!resolved.has("adapter.amqp_url")) {
    const found = discoverAmqpUrl({ rabbitmqConfDir: options.rabbitmqConfDir ?? DEFAULT_RABBITMQ_CONF_DIR, env });
    config.amqpUrl = found.url;
    config.amqpUrlSource = found.source;
    warnings.push(...found.warnings);
  } else {
    config.amqpUrlSource = (resolved.get("adapter.amqp_url") as Resolved).source;
  }

  const loopback = discoverLoopbackUsers({ rabbitmqConfDir: options.rabbitmqConfDir ?? DEFAULT_RABBITMQ_CONF_DIR, env });
  config.loopbackUsers = loopback.users;
  config.loopbackUsersSource = loopback.source;
  // Both discoveries read RabbitMQ's files: say each problem with them once.
  for (const warning of loopback.warnings) if (!warnings.includes(warning)) warnings.push(warning);

  return errors.length > 0 ? { errors, warnings } : { config, warnings };
}

function readConfigFile(file: string): string | { missing: boolean; reason: string } {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const reason = e.code === "ENOENT" ? "no such file" : e.code === "EISDIR" ? "it is a directory" : e.code === "EACCES" ? "permission denied" : e.message;
    return { missing: e.code === "ENOENT", reason };
  }
}

/** Checks one setting against the table and records it under its canonical key. */
function resolveSetting(setting: Setting, resolved: Map<string, Resolved>, errors: string[], warnings: string[]): void {
  const fromFile = !setting.source.startsWith("$");
  const found = findKey(setting.segments);
  if (!found) {
    const near = closestKey(setting.segments);
    const nearSpec = near === undefined ? undefined : findKey(near.split("."))?.spec;
    const value = nearSpec?.secret || /pass|secret/i.test(setting.key) ? MASK : showValue(undefined, setting.value);
    const hint =
      near === undefined
        ? "expected a key of rabbitmq-mqtt (mqtt.*, web_mqtt.*, ssl_options.*, ssl_cert_login_*, adapter.*)"
        : `did you mean ${near}?`;
    // RabbitMQ's own keys: say where they belong rather than only "unknown".
    const where = /^(listeners|log|loopback_users|default_user|default_pass|default_vhost|vm_memory|disk_free|cluster_|management|prometheus|stomp|web_stomp|auth_)/.test(setting.key)
      ? "a RabbitMQ server key, which belongs in rabbitmq.conf, not here; "
      : "";
    errors.push(`${setting.source}: ${setting.key} = ${value}: unknown key, ${where}${hint}`);
    return;
  }
  let spec = found.spec;
  let key = setting.key;
  const shown = showValue(spec, setting.value);
  const status = spec.status ?? { kind: "active" as const };
  switch (status.kind) {
    case "unsupported":
      errors.push(`${setting.source}: ${key} = ${shown}: not supported: ${status.why}; expected this key to be removed`);
      return;
    case "ignored":
      warnings.push(`${setting.source}: ${key} = ${shown}: has no effect in rabbitmq-mqtt (${status.why})`);
      break;
    case "replaced":
      warnings.push(`${setting.source}: ${key} = ${shown}: has no effect in rabbitmq-mqtt, replaced by ${status.by}`);
      break;
    case "alias":
      warnings.push(`${setting.source}: ${key} = ${shown}: another name for ${status.of}; prefer ${status.of}`);
      spec = specOf(status.of);
      key = status.of;
      break;
  }
  const parsed = spec.type.parse(setting.value);
  if (!parsed.ok) {
    errors.push(`${setting.source}: ${setting.key} = ${shown}: ${parsed.problem}, expected ${spec.type.expected}`);
    return;
  }
  if (spec.wordType) {
    const word = spec.wordType.parse(found.words[0] as string);
    if (!word.ok) {
      errors.push(`${setting.source}: ${setting.key} = ${shown}: "${found.words[0]}" in the key: ${word.problem}, expected ${spec.key.replace(/\$\w+/, `<${spec.wordType.expected}>`)}`);
      return;
    }
  }
  const previous = resolved.get(key);
  if (previous && previous.writtenKey !== setting.key && fromFile === !previous.source.startsWith("$")) {
    errors.push(
      `${setting.source}: ${setting.key} = ${shown}: ${previous.writtenKey} (${previous.source}) sets the same thing, expected only one of them`,
    );
    return;
  }
  // A later setting (the environment after the file) replaces an earlier one of the same key.
  resolved.delete(key);
  resolved.set(key, { spec, key, writtenKey: setting.key, words: found.words, raw: setting.value, value: parsed.value, source: setting.source });
}

/** Writes the checked values into their fields; list and map keys replace the default as a whole. */
function applySettings(config: AdapterConfig, resolved: Map<string, Resolved>): void {
  const collected = new Map<string, { spec: KeySpec; items: Resolved[] }>();
  for (const r of resolved.values()) {
    const { spec } = r;
    if (spec.field === null || spec.status?.kind === "ignored" || spec.status?.kind === "replaced") continue;
    if (spec.collect) {
      const group = collected.get(spec.field) ?? { spec, items: [] };
      group.items.push(r);
      collected.set(spec.field, group);
    } else {
      setPath(config as unknown as Record<string, unknown>, spec.field, r.value);
    }
  }
  for (const [field, { spec, items }] of collected) {
    const value =
      spec.collect === "map"
        ? Object.fromEntries(items.map((r) => [Number(r.words[0]), r.value]))
        : items.map((r) => r.value);
    setPath(config as unknown as Record<string, unknown>, field, value);
  }
}
