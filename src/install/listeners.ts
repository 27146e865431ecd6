/**
 * Which MQTT ports a configuration opens, read the same way from RabbitMQ's own rabbitmq.conf
 * (for the native plugin) and from our rabbitmq_mqtt.conf (for the adapter): the keys and
 * defaults are the plugin's in both, which is the point of the adapter.
 *
 * - `mqtt.listeners.tcp.<name>` (default 1883 on every interface), `mqtt.listeners.tcp = none`;
 * - `mqtt.listeners.ssl.<name>` (none by default);
 * - when the WebSocket plugin runs: `web_mqtt.tcp.port` (15675) / `web_mqtt.tcp.ip` /
 *   `web_mqtt.tcp.listener`, and `web_mqtt.ssl.port` / `web_mqtt.ssl.listener` (off by default).
 *
 * Values are parsed with the config schema's own types, so "what is a valid listener" has one
 * definition. Several files are read in order, a later file's key replacing an earlier one
 * (rabbitmq.conf, then conf.d/*.conf).
 */
import { parseConf, SCHEMA, type ConfEntry } from "../config/index.ts";

export type ListenerKind = "MQTT" | "MQTT/TLS" | "WebSocket" | "WebSocket/TLS";

export interface Listener {
  kind: ListenerKind;
  /** "::" or "0.0.0.0" mean every interface. */
  host: string;
  port: number;
  /** `file:line key = value`, or `default of key` when no file sets it. */
  source: string;
}

/** One config file's text, named by its path for messages. */
export interface ConfText {
  path: string;
  text: string;
}

type Setting = { value: string; source: string; depth: number };

function typeOf(key: string) {
  const spec = SCHEMA.find((s) => s.key === key);
  if (!spec) throw new Error(`config schema has no key ${key}`);
  return spec.type;
}

/** The last setting of every key across the files, keyed by canonical key. */
function settingsOf(files: readonly ConfText[]): Map<string, Setting> {
  const settings = new Map<string, Setting>();
  for (const file of files) {
    for (const entry of parseConf(file.text, file.path).entries) {
      settings.set(entry.key, {
        value: entry.value,
        source: `${file.path}:${entry.line} ${entry.key} = ${entry.value}`,
        depth: entry.segments.length,
      });
    }
  }
  return settings;
}

/** The listeners `files` configure. `webMqtt`: also the WebSocket listeners. */
export function listenersOf(files: readonly ConfText[], options: { webMqtt: boolean }): { listeners: Listener[]; warnings: string[] } {
  const settings = settingsOf(files);
  const warnings: string[] = [];
  const listeners: Listener[] = [];
  const listenerType = typeOf("mqtt.listeners.tcp.$name");

  const parseListener = (kind: ListenerKind, setting: Setting) => {
    const parsed = listenerType.parse(setting.value);
    if (parsed.ok) listeners.push({ kind, ...(parsed.value as { host: string; port: number }), source: setting.source });
    else warnings.push(`${setting.source}: ${parsed.problem}, expected ${listenerType.expected}; not counted as a listener`);
  };

  for (const [family, kind, defaultPort] of [
    ["tcp", "MQTT", 1883],
    ["ssl", "MQTT/TLS", null],
  ] as const) {
    const prefix = `mqtt.listeners.${family}`;
    if (settings.get(prefix)?.value === "none") continue;
    const named = [...settings].filter(([key, s]) => key.startsWith(`${prefix}.`) && s.depth === 4);
    for (const [, setting] of named) parseListener(kind, setting);
    if (named.length === 0 && defaultPort !== null) {
      listeners.push({ kind, host: "::", port: defaultPort, source: `default of ${prefix}.default = ${defaultPort}` });
    }
  }

  if (options.webMqtt) {
    for (const [family, kind, defaultPort] of [
      ["tcp", "WebSocket", 15675],
      ["ssl", "WebSocket/TLS", null],
    ] as const) {
      const listener = settings.get(`web_mqtt.${family}.listener`);
      if (listener?.value === "none") continue;
      if (listener !== undefined) {
        parseListener(kind, listener);
        continue;
      }
      const port = settings.get(`web_mqtt.${family}.port`);
      const ip = settings.get(`web_mqtt.${family}.ip`);
      if (port === undefined && defaultPort === null) continue;
      let portNumber = defaultPort ?? 0;
      if (port !== undefined) {
        const parsed = typeOf("web_mqtt.tcp.port").parse(port.value);
        if (!parsed.ok) {
          warnings.push(`${port.source}: ${parsed.problem}; not counted as a listener`);
          continue;
        }
        portNumber = parsed.value as number;
      }
      let host = "::";
      if (ip !== undefined) {
        const parsed = typeOf("web_mqtt.tcp.ip").parse(ip.value);
        if (parsed.ok) host = parsed.value as string;
        else warnings.push(`${ip.source}: ${parsed.problem}; assumed every interface`);
      }
      listeners.push({ kind, host, port: portNumber, source: port?.source ?? `default of web_mqtt.${family}.port = ${portNumber}` });
    }
  }
  return { listeners, warnings };
}

const WILDCARDS = new Set(["::", "0.0.0.0"]);

/** Two listeners clash when they share a port and their addresses can overlap. */
export function clashes(a: Listener, b: Listener): boolean {
  return a.port === b.port && (WILDCARDS.has(a.host) || WILDCARDS.has(b.host) || a.host === b.host);
}

/** Every (ours, native) pair that would fight over a port. */
export function findClashes(ours: readonly Listener[], native: readonly Listener[]): Array<{ ours: Listener; native: Listener }> {
  const found: Array<{ ours: Listener; native: Listener }> = [];
  for (const o of ours) for (const n of native) if (clashes(o, n)) found.push({ ours: o, native: n });
  return found;
}

/** `mqtt.*` / `web_mqtt.*` lines in RabbitMQ's own files (they stop RabbitMQ booting without the plugin). */
export function pluginKeysIn(files: readonly ConfText[]): Array<{ path: string; entry: ConfEntry }> {
  const found: Array<{ path: string; entry: ConfEntry }> = [];
  for (const file of files) {
    for (const entry of parseConf(file.text, file.path).entries) {
      if (entry.segments[0] === "mqtt" || entry.segments[0] === "web_mqtt") found.push({ path: file.path, entry });
    }
  }
  return found;
}

/** `[::]:1883`, `127.0.0.1:1883` for messages. */
export function formatAddress(listener: Pick<Listener, "host" | "port">): string {
  return listener.host.includes(":") ? `[${listener.host}]:${listener.port}` : `${listener.host}:${listener.port}`;
}
