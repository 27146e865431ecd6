/**
 * SIGHUP: what a changed configuration file can change in a running adapter, and the log line
 * that says so. The file is validated first by the caller (loadConfig); a file with problems
 * changes nothing.
 *
 * Reloadable are the settings read per CONNECT or per log line: the log level (at once), and
 * anonymous login, the default user and password, the default vhost, the login timeout and the
 * packet size limits (for connections accepted after the reload; connected clients keep what
 * they logged in with). Everything else is bound at start (listeners and their TLS, the AMQP URL
 * and its TLS, exchange, queue arguments, prefetch, retained store, metrics, admin socket) and
 * is reported as needing a restart; the running values stay in force until then.
 */
import { renderConfig, SCHEMA, type AdapterConfig } from "../config/index.ts";
import type { ConnectionOptions } from "../protocol/index.ts";

/** A key SIGHUP applies: its rabbitmq.conf name, the AdapterConfig field, and when it takes effect. */
interface ReloadableKey {
  key: string;
  field: keyof AdapterConfig;
  appliesTo: "everything" | "new connections";
}

/** Every key SIGHUP applies; all others need a restart. */
export const RELOADABLE_KEYS: readonly ReloadableKey[] = [
  { key: "adapter.log_level", field: "logLevel", appliesTo: "everything" },
  { key: "mqtt.allow_anonymous", field: "allowAnonymous", appliesTo: "new connections" },
  { key: "mqtt.default_user", field: "defaultUser", appliesTo: "new connections" },
  { key: "mqtt.default_pass", field: "defaultPass", appliesTo: "new connections" },
  { key: "mqtt.vhost", field: "vhost", appliesTo: "new connections" },
  { key: "mqtt.login_timeout", field: "loginTimeoutMs", appliesTo: "new connections" },
  { key: "mqtt.max_packet_size_authenticated", field: "maxPacketSizeBytes", appliesTo: "new connections" },
  { key: "mqtt.max_packet_size_unauthenticated", field: "maxPacketSizeBeforeConnectBytes", appliesTo: "new connections" },
];

/** One reloaded key: old and new value as rabbitmq.conf writes them (secrets masked). */
export interface AppliedChange {
  key: string;
  from: string;
  to: string;
  appliesTo: ReloadableKey["appliesTo"];
}

export interface ReloadPlan {
  /** What the adapter runs with after the reload: `current` with the reloadable keys of `next`. */
  inForce: AdapterConfig;
  applied: AppliedChange[];
  /** Keys whose value in the file differs from the running one and that only a restart applies. */
  needRestart: string[];
}

const RELOADABLE_BY_KEY = new Map(RELOADABLE_KEYS.map((k) => [k.key, k]));
const SECRET_KEYS = new Set(SCHEMA.filter((spec) => spec.secret === true).map((spec) => spec.key));

/** Compares the running configuration with a freshly loaded one. */
export function planReload(current: AdapterConfig, next: AdapterConfig): ReloadPlan {
  const before = renderedValues(current);
  const after = renderedValues(next);
  const keys = new Set([...before.keys(), ...after.keys()]);
  const applied: AppliedChange[] = [];
  const needRestart: string[] = [];
  const inForce = { ...current } as Record<string, unknown>;
  for (const key of keys) {
    const from = before.get(key) ?? "(unset)";
    const to = after.get(key) ?? "(unset)";
    if (from === to) continue;
    const reloadable = RELOADABLE_BY_KEY.get(key);
    if (reloadable === undefined) {
      needRestart.push(key);
      continue;
    }
    inForce[reloadable.field] = next[reloadable.field];
    const secret = SECRET_KEYS.has(key);
    applied.push({ key, from: secret ? "********" : from, to: secret ? "********" : to, appliesTo: reloadable.appliesTo });
  }
  return { inForce: inForce as unknown as AdapterConfig, applied, needRestart };
}

/** The log line for a reload from `file` that passed validation. */
export function describeReload(plan: ReloadPlan, file: string): string {
  if (plan.applied.length === 0 && plan.needRestart.length === 0) return `configuration reloaded from ${file}: nothing changed`;
  const parts: string[] = [];
  const now = plan.applied.filter((c) => c.appliesTo === "everything");
  const later = plan.applied.filter((c) => c.appliesTo === "new connections");
  if (now.length > 0) parts.push(`applied: ${now.map(showChange).join(", ")}`);
  if (later.length > 0) parts.push(`applied to new connections (connected clients keep theirs): ${later.map(showChange).join(", ")}`);
  if (plan.needRestart.length > 0) {
    parts.push(`NOT applied, these need a restart (systemctl restart rabbitmq-mqtt): ${plan.needRestart.join(", ")}`);
  }
  return `configuration reloaded from ${file}: ${parts.join("; ")}`;
}

/** Sets the reloadable fields of the shared ConnectionOptions (read at each CONNECT) from `config`. */
export function applyToConnectionOptions(options: ConnectionOptions, config: AdapterConfig): void {
  options.allowAnonymous = config.allowAnonymous;
  options.defaultUser = config.defaultUser;
  options.defaultPass = config.defaultPass;
  options.vhost = config.vhost;
  options.loginTimeoutMs = config.loginTimeoutMs;
  options.maxPacketSizeBytes = config.maxPacketSizeBytes;
  options.maxPacketSizeBeforeConnectBytes = config.maxPacketSizeBeforeConnectBytes;
}

function showChange(change: AppliedChange): string {
  return `${change.key} ${change.from} → ${change.to}`;
}

/** key → value as check-config prints it (unmasked, so a changed password is seen as a change). */
function renderedValues(config: AdapterConfig): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of renderConfig(config, { maskSecrets: false }).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.indexOf(" = ");
    if (at < 0) continue;
    values.set(line.slice(0, at), line.slice(at + 3).replace(/\s+# default$/, ""));
  }
  return values;
}
