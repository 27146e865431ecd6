/**
 * Finds the AMQP port of the local RabbitMQ from RabbitMQ's own configuration, for the default
 * of adapter.amqp_url, the way RabbitMQ itself resolves it (rabbit_env / rabbit_prelaunch_conf,
 * RabbitMQ 3.10):
 *
 * 1. `listeners.tcp.*` in rabbitmq.conf and then conf.d/*.conf (later files win). RabbitMQ sets
 *    tcp_listeners from RABBITMQ_NODE_PORT first and applies the config files after, so the
 *    files win over the port variable.
 * 2. RABBITMQ_NODE_PORT (+ RABBITMQ_NODE_IP_ADDRESS) from the environment, else NODE_PORT
 *    (+ NODE_IP_ADDRESS) from rabbitmq-env.conf (rabbitmq-env.conf(5): environment first).
 * 3. amqp://localhost:5672.
 *
 * rabbitmq-env.conf is a shell script that RabbitMQ sources; we only read literal
 * `NAME=value` assignments and say so when a value needs a shell to expand it.
 * File locations follow RABBITMQ_CONF_ENV_FILE, RABBITMQ_CONFIG_FILE and RABBITMQ_CONFIG_FILES
 * (or CONFIG_FILE / CONFIG_FILES inside rabbitmq-env.conf), defaulting to the conf dir.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { readEnvFile, type EnvFileValue } from "./env-file.ts";
import { parseConf, type ConfEntry } from "./parse.ts";
import { listenerType, portType, type ListenerAddress } from "./value-types.ts";

export const DEFAULT_AMQP_URL = "amqp://localhost:5672";

export interface AmqpDiscovery {
  url: string;
  /** Where the port came from, e.g. "/etc/rabbitmq/rabbitmq.conf:3 listeners.tcp.default". */
  source: string;
  warnings: string[];
}

type Env = Record<string, string | undefined>;

/** The AMQP URL of the RabbitMQ configured in `rabbitmqConfDir` (normally /etc/rabbitmq). */
export function discoverAmqpUrl(options: { rabbitmqConfDir: string; env: Env }): AmqpDiscovery {
  const { rabbitmqConfDir: dir, env } = options;
  const warnings: string[] = [];
  const envFilePath = nonEmpty(env.RABBITMQ_CONF_ENV_FILE) ?? join(dir, "rabbitmq-env.conf");
  const envFile = existsSync(envFilePath) ? readRabbitEnvFile(envFilePath, warnings) : new Map<string, EnvValue>();
  if (!existsSync(envFilePath) && nonEmpty(env.RABBITMQ_CONF_ENV_FILE)) {
    warnings.push(`RABBITMQ_CONF_ENV_FILE names ${envFilePath}, which does not exist`);
  }

  /** RABBITMQ_<NAME> from the environment, else <NAME> (or RABBITMQ_<NAME>) in rabbitmq-env.conf. */
  const lookup = (name: string): { value: string; source: string } | undefined => {
    const fromEnv = nonEmpty(env[`RABBITMQ_${name}`]);
    if (fromEnv !== undefined) return { value: fromEnv, source: `RABBITMQ_${name}` };
    const fromFile = envFile.get(`RABBITMQ_${name}`) ?? envFile.get(name);
    return fromFile && { value: fromFile.value, source: `${envFilePath}:${fromFile.line} ${fromFile.name}` };
  };

  const listeners = readRabbitListeners(configFiles(dir, lookup), warnings);
  if (listeners === "none") {
    warnings.push(
      "RabbitMQ's config turns plain AMQP off (listeners.tcp = none); set adapter.amqp_url (e.g. amqps://localhost:5671 with adapter.amqp_ssl_options.*)",
    );
  } else if (listeners.length > 0) {
    const chosen = pickListener(listeners.map((l) => l.address));
    const at = listeners.find((l) => l.address === chosen);
    return { url: urlFor(chosen), source: at?.source ?? "rabbitmq.conf", warnings };
  }

  const port = lookup("NODE_PORT");
  if (port !== undefined) {
    const parsed = portType.parse(port.value);
    if (!parsed.ok) {
      warnings.push(`${port.source} = ${port.value}: ${parsed.problem}, expected a port number; using ${DEFAULT_AMQP_URL}`);
    } else {
      const ip = lookup("NODE_IP_ADDRESS")?.value;
      const host = ip !== undefined && isIP(ip) ? ip : "::";
      return { url: urlFor({ host, port: parsed.value }), source: port.source, warnings };
    }
  }
  return { url: DEFAULT_AMQP_URL, source: "built-in default", warnings };
}

export interface LoopbackUsersDiscovery {
  users: string[];
  source: string;
  warnings: string[];
}

/**
 * RabbitMQ's `loopback_users` from its rabbitmq.conf (and conf.d): `loopback_users = none`
 * clears the list, `loopback_users.NAME = true|false` adds or removes NAME. Default ["guest"].
 */
export function discoverLoopbackUsers(options: { rabbitmqConfDir: string; env: Env }): LoopbackUsersDiscovery {
  const { rabbitmqConfDir: dir, env } = options;
  const warnings: string[] = [];
  const envFilePath = nonEmpty(env.RABBITMQ_CONF_ENV_FILE) ?? join(dir, "rabbitmq-env.conf");
  const envFile = existsSync(envFilePath) ? readRabbitEnvFile(envFilePath, warnings) : new Map<string, EnvValue>();
  const lookup = (name: string): { value: string } | undefined => {
    const fromEnv = nonEmpty(env[`RABBITMQ_${name}`]);
    if (fromEnv !== undefined) return { value: fromEnv };
    return envFile.get(`RABBITMQ_${name}`) ?? envFile.get(name);
  };
  const users = new Set(["guest"]);
  let source = "RabbitMQ's default";
  for (const { entry, file } of readRabbitEntries(configFiles(dir, lookup), warnings, (e) => e.segments[0] === "loopback_users")) {
    const where = `${file}:${entry.line} ${entry.key}`;
    if (entry.segments.length === 1) {
      if (entry.value === "none") users.clear();
      else warnings.push(`${where} = ${entry.value}: expected none; ignored`);
    } else if (entry.segments.length === 2 && (entry.value === "true" || entry.value === "false")) {
      if (entry.value === "true") users.add(entry.segments[1]!);
      else users.delete(entry.segments[1]!);
    } else {
      warnings.push(`${where} = ${entry.value}: expected true or false; ignored`);
      continue;
    }
    source = where;
  }
  return { users: [...users], source, warnings };
}

/** Prefer a loopback listener (the adapter runs beside RabbitMQ), then a wildcard one, then the first. */
function pickListener(addresses: ListenerAddress[]): ListenerAddress {
  const loopback = addresses.find((a) => a.host === "127.0.0.1" || a.host === "::1");
  const wildcard = addresses.find((a) => a.host === "::" || a.host === "0.0.0.0");
  return loopback ?? wildcard ?? (addresses[0] as ListenerAddress);
}

function urlFor(address: ListenerAddress): string {
  const host =
    address.host === "::" || address.host === "0.0.0.0"
      ? "localhost"
      : address.host.includes(":")
        ? `[${address.host}]`
        : address.host;
  return `amqp://${host}:${address.port}`;
}

/** rabbitmq.conf (or RABBITMQ_CONFIG_FILE) followed by the conf.d files in name order. */
function configFiles(dir: string, lookup: (name: string) => { value: string } | undefined): string[] {
  let main = lookup("CONFIG_FILE")?.value ?? join(dir, "rabbitmq.conf");
  // RabbitMQ accepts the config file named without its extension.
  if (!/\.[A-Za-z]+$/.test(main)) main = `${main}.conf`;
  const files = [main];
  let confd = lookup("CONFIG_FILES")?.value ?? join(dir, "conf.d");
  confd = confd.replace(/\/\*\.conf$/, "");
  if (existsSync(confd) && statSync(confd).isDirectory()) {
    for (const name of readdirSync(confd).filter((n) => n.endsWith(".conf")).sort()) files.push(join(confd, name));
  }
  return files;
}

type FoundListener = { address: ListenerAddress; source: string };

/** The entries of RabbitMQ's config files that `wanted` picks, in file order (later ones win). */
function readRabbitEntries(
  files: string[],
  warnings: string[],
  wanted: (entry: ConfEntry) => boolean,
): Array<{ entry: ConfEntry; file: string }> {
  const found: Array<{ entry: ConfEntry; file: string }> = [];
  for (const file of files) {
    if (!existsSync(file)) continue;
    if (file.endsWith(".config")) {
      warnings.push(`${file} is in Erlang term format, which rabbitmq-mqtt does not read; set adapter.amqp_url if RabbitMQ's port is not 5672`);
      continue;
    }
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      warnings.push(`cannot read ${file}: ${(error as Error).message}`);
      continue;
    }
    // Only the wanted lines matter here; problems elsewhere in RabbitMQ's file are RabbitMQ's.
    for (const entry of parseConf(text, file).entries) if (wanted(entry)) found.push({ entry, file });
  }
  return found;
}

/** listeners.tcp.* across the files (last file wins per key), or "none". */
function readRabbitListeners(files: string[], warnings: string[]): FoundListener[] | "none" {
  const byKey = new Map<string, { value: string; source: string }>();
  const isListener = (e: ConfEntry) => e.segments[0] === "listeners" && e.segments[1] === "tcp" && e.segments.length <= 3;
  for (const { entry, file } of readRabbitEntries(files, warnings, isListener)) {
    byKey.set(entry.key, { value: entry.value, source: `${file}:${entry.line} ${entry.key}` });
  }
  if (byKey.get("listeners.tcp")?.value === "none") return "none";
  const found: FoundListener[] = [];
  for (const [key, { value, source }] of byKey) {
    if (key === "listeners.tcp") continue;
    const parsed = listenerType.parse(value);
    if (parsed.ok) found.push({ address: parsed.value, source });
    else warnings.push(`${source} = ${value}: ${parsed.problem}; ignored when looking for RabbitMQ's AMQP port`);
  }
  return found;
}

type EnvValue = EnvFileValue;

/** Literal settings of RabbitMQ's rabbitmq-env.conf; an expanded port or config path is worth a warning. */
function readRabbitEnvFile(path: string, warnings: string[]): Map<string, EnvValue> {
  return readEnvFile(path, warnings, ({ name, value, line }) =>
    /(^|_)(NODE_PORT|NODE_IP_ADDRESS|CONFIG_FILES?)$/.test(name)
      ? `${path}:${line}: ${name}=${value}: needs a shell to expand, so it is not used; write a literal value or set adapter.amqp_url`
      : undefined,
  );
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
