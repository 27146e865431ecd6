/**
 * Rules that involve more than one key, applied after every key has its own value: `none`
 * switches, the two names of the session lifetime, listener completeness, TLS material, port
 * clashes and unreadable files. Each problem names the key and the file:line it came from.
 */
import { accessSync, constants, statSync } from "node:fs";
import type { AdapterConfig, ListenerAddress, TlsOptions } from "./adapter-config.ts";
import { showValue, type KeySpec } from "./schema.ts";

/** A checked setting, under its canonical key. */
export interface Resolved {
  spec: KeySpec;
  /** Canonical key (an alias is stored under the key it stands for). */
  key: string;
  /** The key as the operator wrote it. */
  writtenKey: string;
  /** The words that matched "$" segments (listener names, ports). */
  words: string[];
  raw: string;
  value: unknown;
  /** "file:line" or "$VARIABLE". */
  source: string;
}

type Settings = Map<string, Resolved>;

const at = (r: Resolved) => `${r.source}: ${r.writtenKey} = ${showValue(r.spec, r.raw)}`;
const withPrefix = (settings: Settings, prefix: string) => [...settings.values()].filter((r) => r.key.startsWith(prefix));

export function applyRules(config: AdapterConfig, settings: Settings, errors: string[], warnings: string[]): void {
  applyNoneSwitches(config, settings, warnings);
  reconcileSessionLifetime(config, settings, errors);
  applyWebListeners(config, settings, errors, warnings);
  checkTlsMaterial(config, settings, errors, warnings);
  checkPortClashes(config, settings, errors);
  checkFiles(settings, errors);
}

/** `mqtt.listeners.tcp = none` wins over listed listeners, as in the plugin's translation. */
function applyNoneSwitches(config: AdapterConfig, settings: Settings, warnings: string[]): void {
  for (const kind of ["tcp", "ssl"] as const) {
    const off = settings.get(`mqtt.listeners.${kind}`);
    if (!off) continue;
    if (kind === "tcp") config.tcpListeners = [];
    else config.sslListeners = [];
    const listed = withPrefix(settings, `mqtt.listeners.${kind}.`);
    if (listed.length > 0) {
      warnings.push(`${at(off)}: turns off the listener(s) also set by ${listed.map((r) => `${r.writtenKey} (${r.source})`).join(", ")}`);
    }
  }
}

/**
 * mqtt.subscription_ttl (ms, RabbitMQ ≤ 3.12) and mqtt.max_session_expiry_interval_seconds
 * (s, 3.13+) say the same thing; either may be used, both only if they agree.
 */
function reconcileSessionLifetime(config: AdapterConfig, settings: Settings, errors: string[]): void {
  const ttl = settings.get("mqtt.subscription_ttl");
  const max = settings.get("mqtt.max_session_expiry_interval_seconds");
  if (ttl && max) {
    const ttlMs = ttl.value as number | null;
    const maxSeconds = max.value as number | null;
    const agree = ttlMs === null ? maxSeconds === null : maxSeconds !== null && maxSeconds * 1000 === ttlMs;
    if (!agree) {
      errors.push(
        `${at(max)}: disagrees with mqtt.subscription_ttl = ${ttl.raw} (${ttl.source}), expected only one of them (subscription_ttl is the older name, in milliseconds)`,
      );
    }
  } else if (ttl) {
    const ttlMs = ttl.value as number | null;
    config.maxSessionExpiryIntervalSeconds = ttlMs === null ? null : Math.ceil(ttlMs / 1000);
  } else if (max) {
    const maxSeconds = max.value as number | null;
    config.subscriptionTtlMs = maxSeconds === null ? null : maxSeconds * 1000;
  }
}

/** web_mqtt.{tcp,ssl}.listener (none | ADDRESS:PORT) against .ip/.port, as the plugin's translations. */
function applyWebListeners(config: AdapterConfig, settings: Settings, errors: string[], warnings: string[]): void {
  for (const kind of ["tcp", "ssl"] as const) {
    const listener = settings.get(`web_mqtt.${kind}.listener`);
    const parts = [settings.get(`web_mqtt.${kind}.ip`), settings.get(`web_mqtt.${kind}.port`)].filter((r) => r !== undefined);
    const field = kind === "tcp" ? "tcpListener" : "sslListener";
    if (listener && listener.value === null) {
      config.webMqtt[field] = null;
      if (parts.length > 0) warnings.push(`${at(listener)}: turns off the listener also set by ${parts.map((r) => r.writtenKey).join(" and ")}`);
      continue;
    }
    if (listener) {
      if (parts.length > 0) {
        errors.push(`${at(listener)}: conflicts with ${parts.map((r) => `${r.writtenKey} (${r.source})`).join(" and ")}, expected either web_mqtt.${kind}.listener or web_mqtt.${kind}.ip/port`);
      }
      config.webMqtt[field] = listener.value as ListenerAddress;
      continue;
    }
    const partial = config.webMqtt[field] as Partial<ListenerAddress> | null;
    if (partial && partial.port === undefined) {
      const ip = settings.get(`web_mqtt.${kind}.ip`) as Resolved;
      errors.push(`${at(ip)}: the ${kind === "tcp" ? "WebSocket" : "secure WebSocket"} listener has no port, expected web_mqtt.${kind}.port too`);
    } else if (partial && partial.host === undefined) {
      partial.host = "::";
    }
  }
}

/** TLS listeners need a certificate and key; certificate login needs client certificates. */
function checkTlsMaterial(config: AdapterConfig, settings: Settings, errors: string[], warnings: string[]): void {
  const needs = (tls: TlsOptions, prefix: string, trigger: Resolved | undefined) => {
    const missing = [tls.certfile === null && `${prefix}.certfile`, tls.keyfile === null && `${prefix}.keyfile`].filter(Boolean);
    if (trigger && missing.length > 0) {
      errors.push(`${at(trigger)}: a TLS listener needs ${missing.join(" and ")}, which ${missing.length > 1 ? "are" : "is"} not set`);
    }
  };
  if (config.sslListeners.length > 0) needs(config.tls, "ssl_options", withPrefix(settings, "mqtt.listeners.ssl.")[0]);
  if (config.webMqtt.sslListener !== null) {
    needs(config.webMqtt.ssl, "web_mqtt.ssl", settings.get("web_mqtt.ssl.port") ?? settings.get("web_mqtt.ssl.listener"));
  }
  const certLogin = settings.get("mqtt.ssl_cert_login");
  if (config.sslCertLogin && certLogin) {
    if (config.sslListeners.length === 0 && config.webMqtt.sslListener === null) {
      warnings.push(`${at(certLogin)}: there is no TLS listener (mqtt.listeners.ssl.*), so no client can log in with a certificate`);
    } else if (config.tls.verify !== "verify_peer") {
      warnings.push(`${at(certLogin)}: clients are only asked for certificates with ssl_options.verify = verify_peer`);
    }
    const missing = [
      config.certLoginCa.certfile === null && "adapter.ssl_cert_login.ca_certfile",
      config.certLoginCa.keyfile === null && "adapter.ssl_cert_login.ca_keyfile",
      !config.amqpUrl.startsWith("amqps:") && "an amqps:// adapter.amqp_url",
    ].filter(Boolean);
    if (config.sslListeners.length > 0 && missing.length > 0) {
      errors.push(
        `${at(certLogin)}: certificate clients log in to RabbitMQ with its EXTERNAL mechanism over TLS, which needs ${missing.join(", ")} (see the README, TLS and WebSocket)`,
      );
    }
  }
  const amqpTls = withPrefix(settings, "adapter.amqp_ssl_options.");
  // Rules run before the default URL is derived, and a derived URL is always amqp://.
  if (amqpTls.length > 0 && !config.amqpUrl.startsWith("amqps:")) {
    warnings.push(`${at(amqpTls[0] as Resolved)}: only used with an amqps:// adapter.amqp_url`);
  }
}

/** Two listeners on one port fail at bind time; say so before any port opens. */
function checkPortClashes(config: AdapterConfig, settings: Settings, errors: string[]): void {
  const sourceOf = (prefix: string, index: number) => {
    const r = withPrefix(settings, prefix)[index];
    return r ? `${r.writtenKey} (${r.source})` : `${prefix}default (default)`;
  };
  const uses: Array<{ address: ListenerAddress; label: string }> = [];
  config.tcpListeners.forEach((address, i) => uses.push({ address, label: sourceOf("mqtt.listeners.tcp.", i) }));
  config.sslListeners.forEach((address, i) => uses.push({ address, label: sourceOf("mqtt.listeners.ssl.", i) }));
  const webLabel = (kind: string) => {
    const r = settings.get(`web_mqtt.${kind}.port`) ?? settings.get(`web_mqtt.${kind}.listener`);
    return r ? `${r.writtenKey} (${r.source})` : `web_mqtt.${kind}.port (default)`;
  };
  if (config.webMqtt.tcpListener) uses.push({ address: config.webMqtt.tcpListener, label: webLabel("tcp") });
  if (config.webMqtt.sslListener?.port !== undefined) uses.push({ address: config.webMqtt.sslListener, label: webLabel("ssl") });
  if (config.metrics.port !== null) {
    const r = settings.get("adapter.metrics.port");
    uses.push({ address: { host: config.metrics.ip, port: config.metrics.port }, label: r ? `adapter.metrics.port (${r.source})` : "adapter.metrics.port" });
  }
  const wildcard = (h: string) => h === "::" || h === "0.0.0.0";
  for (let i = 0; i < uses.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = uses[i] as (typeof uses)[number];
      const b = uses[j] as (typeof uses)[number];
      if (a.address.port === 0 || a.address.port !== b.address.port) continue;
      if (a.address.host === b.address.host || wildcard(a.address.host) || wildcard(b.address.host)) {
        errors.push(`${a.label}: port ${a.address.port} is also used by ${b.label}, expected a different port for each listener`);
      }
    }
  }
}

/** cuttlefish's file_accessible validator: certificate and key files must be readable files. */
function checkFiles(settings: Settings, errors: string[]): void {
  for (const r of settings.values()) {
    if (!r.spec.file) continue;
    const path = r.value as string;
    try {
      if (!statSync(path).isFile()) throw Object.assign(new Error("not a file"), { code: "ENOTFILE" });
      accessSync(path, constants.R_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "ENOTFILE" ? "not a regular file" : (error as Error).message;
      errors.push(`${at(r)}: cannot read the file (${why}), expected a readable PEM file`);
    }
  }
}
