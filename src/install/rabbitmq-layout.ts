/**
 * Finds the local RabbitMQ installation the way RabbitMQ 3.10's own scripts do on Debian
 * (rabbit_env.erl), so `enable` checks the files RabbitMQ really reads:
 *
 * - rabbitmq-env.conf: $RABBITMQ_CONF_ENV_FILE, else /etc/rabbitmq/rabbitmq-env.conf.
 * - Each setting: RABBITMQ_<NAME> from the environment first, then RABBITMQ_<NAME> or <NAME>
 *   in rabbitmq-env.conf (rabbitmq-env.conf(5)), then the built-in default.
 * - enabled_plugins: ENABLED_PLUGINS_FILE, default /etc/rabbitmq/enabled_plugins;
 *   ENABLED_PLUGINS (a comma list or ALL) replaces the file when set.
 * - Config: CONFIG_FILE (default /etc/rabbitmq/rabbitmq, extension optional: .conf is the
 *   rabbitmq.conf format, .config the Erlang term format), then CONFIG_FILES (default
 *   /etc/rabbitmq/conf.d/*.conf, a directory or a *.ext pattern) in name order, later wins.
 * - The server itself: /usr/lib/rabbitmq (Debian's RABBITMQ_HOME), version from its
 *   lib/rabbitmq_server-<version> directory; the rabbitmq user and group from /etc/passwd
 *   and /etc/group; rabbitmq-server.service from the systemd unit directories.
 *
 * rabbitmq-env.conf is a shell script that RabbitMQ sources. We only read literal
 * `NAME=value` lines (optionally `export`ed and quoted) and warn about a value that needs a
 * shell to expand, rather than executing an operator's script from an install tool.
 * Every path is read under `root` (the --root prefix); values in the files are target paths.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { readEnvFile, type EnvFileValue } from "../config/env-file.ts";
import { parseEnabledPlugins } from "./enabled-plugins.ts";
import { underRoot } from "./paths.ts";

type Env = Record<string, string | undefined>;

export interface RabbitmqLayout {
  /** rabbitmq-server is installed: /usr/lib/rabbitmq holds a server. */
  installed: boolean;
  /** RabbitMQ's version from the install tree, e.g. "3.10.8"; null when unknown. */
  version: string | null;
  /** rabbitmq-server.service as found (host path), null when no unit directory has it. */
  serverUnit: string | null;
  /** rabbitmq-env.conf as read (host path) and whether it exists. */
  confEnvFile: { path: string; exists: boolean };
  /** The explicitly enabled plugins, where that came from, or why it is unknown. */
  enabledPlugins:
    | { ok: true; plugins: string[] | "all"; source: string }
    | { ok: false; source: string; problem: string };
  /** rabbitmq.conf-format files RabbitMQ loads, in order (host paths, existing only). */
  configFiles: string[];
  /** Erlang-term config files that exist and that we cannot read (rabbitmq.config, advanced.config). */
  erlangConfigFiles: string[];
  /** The rabbitmq user exists in /etc/passwd. */
  userExists: boolean;
  /** gid of the rabbitmq group, null when /etc/group has none. */
  groupId: number | null;
  /** Things an operator should know (unreadable values, files we cannot interpret). */
  warnings: string[];
}

/** Where RabbitMQ keeps its program on Debian. */
export const RABBITMQ_HOME = "/usr/lib/rabbitmq";
const CONFIG_BASE = "/etc/rabbitmq";
const UNIT_DIRS = ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"];

/** Reads the installation under `root` ("" or "/" for the real system). Never throws on bad files. */
export function locateRabbitmq(options: { root: string; env: Env }): RabbitmqLayout {
  const { root, env } = options;
  const host = (path: string) => underRoot(root, path);
  const warnings: string[] = [];

  const confEnvTarget = nonEmpty(env.RABBITMQ_CONF_ENV_FILE) ?? `${CONFIG_BASE}/rabbitmq-env.conf`;
  const confEnvPath = host(confEnvTarget);
  const confEnvExists = isFile(confEnvPath);
  const envFile = confEnvExists ? readLayoutEnvFile(confEnvPath, warnings) : new Map<string, EnvValue>();
  if (!confEnvExists && nonEmpty(env.RABBITMQ_CONF_ENV_FILE) !== undefined) {
    warnings.push(`RABBITMQ_CONF_ENV_FILE names ${confEnvPath}, which does not exist`);
  }
  const lookup = (name: string): { value: string; source: string } | undefined => {
    const fromEnv = nonEmpty(env[`RABBITMQ_${name}`]);
    if (fromEnv !== undefined) return { value: fromEnv, source: `$RABBITMQ_${name}` };
    const fromFile = envFile.get(`RABBITMQ_${name}`) ?? envFile.get(name);
    return fromFile && { value: fromFile.value, source: `${confEnvPath}:${fromFile.line} ${fromFile.name}` };
  };

  const home = host(RABBITMQ_HOME);
  const version = findVersion(join(home, "lib"));
  const installed = version !== null || isFile(join(home, "bin", "rabbitmq-server"));
  const serverUnit = UNIT_DIRS.map((d) => host(`${d}/rabbitmq-server.service`)).find(isFile) ?? null;

  const { configFiles, erlangConfigFiles } = findConfigFiles(host, lookup, warnings);

  return {
    installed,
    version,
    serverUnit,
    confEnvFile: { path: confEnvPath, exists: confEnvExists },
    enabledPlugins: readEnabledPlugins(host, lookup),
    configFiles,
    erlangConfigFiles,
    userExists: findAccount(host("/etc/passwd"), "rabbitmq") !== null,
    groupId: findAccount(host("/etc/group"), "rabbitmq"),
    warnings,
  };
}

function readEnabledPlugins(
  host: (path: string) => string,
  lookup: (name: string) => { value: string; source: string } | undefined,
): RabbitmqLayout["enabledPlugins"] {
  // RABBITMQ_ENABLED_PLUGINS replaces the file when set (rabbit_env: "ALL", or a comma list).
  const list = lookup("ENABLED_PLUGINS");
  if (list !== undefined) {
    const plugins = list.value === "ALL" ? "all" : list.value.split(",").map((p) => p.trim()).filter((p) => p !== "");
    return { ok: true, plugins, source: list.source };
  }
  const fromVar = lookup("ENABLED_PLUGINS_FILE");
  const path = host(fromVar?.value ?? `${CONFIG_BASE}/enabled_plugins`);
  const source = fromVar ? `${path} (from ${fromVar.source})` : path;
  if (!existsSync(path)) return { ok: true, plugins: [], source: `${source}, which does not exist` };
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    return { ok: false, source, problem: `cannot read it: ${(error as Error).message}` };
  }
  const parsed = parseEnabledPlugins(text);
  return parsed.ok ? { ok: true, plugins: parsed.plugins, source } : { ok: false, source, problem: parsed.problem };
}

function findConfigFiles(
  host: (path: string) => string,
  lookup: (name: string) => { value: string; source: string } | undefined,
  warnings: string[],
): { configFiles: string[]; erlangConfigFiles: string[] } {
  const configFiles: string[] = [];
  const erlangConfigFiles: string[] = [];
  const main = host(lookup("CONFIG_FILE")?.value ?? `${CONFIG_BASE}/rabbitmq`);
  // The extension is optional: "rabbitmq" means rabbitmq.conf or rabbitmq.config.
  const mainCandidates = /\.(conf|config)$/.test(main) ? [main] : [`${main}.conf`, `${main}.config`];
  let classic = false;
  for (const file of mainCandidates.filter(isFile)) {
    if (file.endsWith(".config")) {
      erlangConfigFiles.push(file);
      classic = true;
    } else {
      configFiles.push(file);
    }
  }
  // conf.d is only read alongside a rabbitmq.conf-format main file (rabbit_env).
  if (!classic) {
    const pattern = host(lookup("CONFIG_FILES")?.value ?? `${CONFIG_BASE}/conf.d/*.conf`);
    configFiles.push(...expandConfigFiles(pattern, warnings));
  }
  const advanced = host(lookup("ADVANCED_CONFIG_FILE")?.value ?? `${CONFIG_BASE}/advanced.config`);
  if (isFile(advanced)) erlangConfigFiles.push(advanced);
  return { configFiles, erlangConfigFiles };
}

/** A directory (every file in it) or `dir/*.ext`; RabbitMQ's full glob syntax is not supported. */
function expandConfigFiles(pattern: string, warnings: string[]): string[] {
  let dir = pattern;
  let suffix = "";
  const glob = /^(.*)\/\*(\.[^/*?[\]]+)?$/.exec(pattern);
  if (glob) {
    dir = glob[1] as string;
    suffix = glob[2] ?? "";
  } else if (/[*?[]/.test(pattern)) {
    warnings.push(`CONFIG_FILES pattern ${pattern} is not a directory or dir/*.ext, so its files were not checked`);
    return [];
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(suffix))
    .sort()
    .map((name) => join(dir, name))
    .filter(isFile);
}

function findVersion(libDir: string): string | null {
  if (!existsSync(libDir)) return null;
  const dirs = readdirSync(libDir).filter((n) => n.startsWith("rabbitmq_server-")).sort();
  const last = dirs[dirs.length - 1];
  return last === undefined ? null : last.slice("rabbitmq_server-".length);
}

/** The numeric id (third field) of `name` in a passwd/group-format file, or null. */
function findAccount(file: string, name: string): number | null {
  if (!isFile(file)) return null;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name && fields.length >= 3) {
      const id = Number(fields[2]);
      return Number.isInteger(id) ? id : null;
    }
  }
  return null;
}

type EnvValue = EnvFileValue;

/** The rabbitmq-env.conf settings this module reads (with or without the RABBITMQ_ prefix). */
const USED_NAMES = /^(RABBITMQ_)?(CONFIG_FILES?|ADVANCED_CONFIG_FILE|ENABLED_PLUGINS(_FILE)?)$/;

/** Literal settings of rabbitmq-env.conf; an expanded one this module needs is worth a warning. */
function readLayoutEnvFile(path: string, warnings: string[]): Map<string, EnvValue> {
  return readEnvFile(path, warnings, ({ name, value, line }) =>
    USED_NAMES.test(name) ? `${path}:${line}: ${name}=${value} needs a shell to expand; rabbitmq-mqtt enable did not use it` : undefined,
  );
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

