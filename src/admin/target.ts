/**
 * Which admin socket `status` and `list_connections` ask: `--socket PATH` if given, else
 * `adapter.admin_socket` of the configuration `start` would read (`--config FILE`,
 * `$RABBITMQ_MQTT_CONFIG_FILE`, /etc/rabbitmq/rabbitmq_mqtt.conf, environment overrides).
 * A configuration with problems still names its socket when the key itself is readable: an
 * operator asking "is it running?" while fixing the file must get the right answer.
 */
import { readFileSync } from "node:fs";
import { buildDefaults, CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE, loadConfig, parseConf } from "../config/index.ts";

export interface AdminTarget {
  /** The socket to ask; null when the configuration turns it off (adapter.admin_socket = none). */
  path: string | null;
  /** Notes for stderr (e.g. the configuration has problems and where the path came from). */
  notes: string[];
}

const KEY = "adapter.admin_socket";

/** Resolves the socket from the flags and the configuration; never throws. */
export function resolveAdminTarget(flags: { socket?: string | undefined; config?: string | undefined }, env = process.env): AdminTarget {
  if (flags.socket !== undefined && flags.socket !== "") return { path: flags.socket, notes: [] };
  const loaded = loadConfig({ ...(flags.config === undefined ? {} : { file: flags.config }), env });
  if (!("errors" in loaded)) return { path: loaded.config.adminSocketPath, notes: [] };

  const file = flags.config ?? env[CONFIG_FILE_ENV] ?? DEFAULT_CONFIG_FILE;
  const fallback = buildDefaults().adminSocketPath;
  const problems = `${file} has ${loaded.errors.length} problem(s) (rabbitmq-mqtt check-config lists them)`;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return { path: fallback, notes: [`${problems}; asking the default admin socket ${fallback}`] };
  }
  const entry = parseConf(text, file).entries.find((e) => e.key === KEY);
  if (entry === undefined) return { path: fallback, notes: [`${problems}; it sets no ${KEY}, asking the default ${fallback}`] };
  const path = entry.value === "none" ? null : entry.value;
  return { path, notes: [`${problems}; using its ${KEY} = ${entry.value} (line ${entry.line})`] };
}
