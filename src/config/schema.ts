/**
 * THE table of configuration keys: every key rabbitmq-mqtt reads, with its rabbitmq.conf name,
 * type, default, description and the AdapterConfig field it sets. Defaults are built from it
 * (buildDefaults), keys are looked up in it (findKey), check-config output is written from it.
 *
 * Sources of names and defaults: the rabbitmq_mqtt and rabbitmq_web_mqtt 3.10.8 schemas and
 * .app env (priv/schema/*.schema, ebin/*.app), rabbit.schema for ssl_options.* and
 * ssl_cert_login_*, and the 3.12/3.13 plugin schema for the keys added since
 * (max_packet_size_*, topic_alias_maximum, max_session_expiry_interval_seconds, ...).
 * mqtt.login_timeout's default (10000 ms) is in rabbit_mqtt_reader, not the .app file.
 * Our own keys all start with "adapter.".
 *
 * The plugin has no config key for the port → vhost mapping (it is the global runtime
 * parameter mqtt_port_to_vhost_mapping); adapter.port_vhost_mapping.<port> is ours.
 */
import type { AdapterConfig } from "./adapter-config.ts";
import {
  amqpUrlType,
  booleanType,
  enumType,
  httpPathType,
  integerType,
  ipType,
  listenerType,
  literalType,
  nonEmptyString,
  pathType,
  portType,
  stringType,
  unionType,
  type ListenerAddress,
  type ValueType,
} from "./value-types.ts";

/** How a key is treated. Anything but "active" produces a warning or an error when set. */
export type KeyStatus =
  | { kind: "active" }
  /** Accepted so plugin configs load unchanged, but has no effect here (warning says why). */
  | { kind: "ignored"; why: string }
  /** Accepted, no effect, and the warning names what replaces it. */
  | { kind: "replaced"; by: string }
  /** Another name for `of`; applied to that key with a warning to use the canonical name. */
  | { kind: "alias"; of: string }
  /** Refused with an error: silently ignoring it would weaken security. */
  | { kind: "unsupported"; why: string };

export interface KeySpec {
  /** rabbitmq.conf name. A segment starting with "$" matches any one word (list/map keys). */
  key: string;
  // `any`: the table mixes value types; each entry's type and default agree by construction.
  type: ValueType<any>;
  /**
   * Dotted camelCase path in AdapterConfig. Keys with a "$" segment collect: "list" appends
   * values in file order, "map" stores them under the "$" word. null: used by a rule in load.ts.
   */
  field: string | null;
  collect?: "list" | "map";
  /** For collect "map": what the "$" word must be (e.g. a port). */
  wordType?: ValueType<unknown>;
  /** Value while the key is unset (for list keys: the whole list). undefined: field stays unset. */
  default?: unknown;
  description: string;
  /** Masked in check-config output and error messages. */
  secret?: boolean;
  /** The value is a file that must be readable when the adapter starts. */
  file?: boolean;
  status?: KeyStatus;
}

const tlsVersion = enumType(["tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"]);
const verifyType = enumType(["verify_peer", "verify_none"]);
const none = literalType("none", null);
const orInfinity = (type: ValueType<number>) =>
  unionType(literalType("infinity", null), type, (v) => (v === null ? "infinity" : String(v)));
const listenerOrNone = unionType(none, listenerType, (v) =>
  v === null ? "none" : listenerType.format(v as ListenerAddress),
);
const ms = (min = 0) => integerType({ min, unit: "milliseconds" });
const bytes = (min = 1, max?: number) => integerType(max === undefined ? { min, unit: "bytes" } : { min, max, unit: "bytes" });
const ignoredBool = (key: string, why: string): KeySpec => ({ key, type: booleanType, field: null, description: why, status: { kind: "ignored", why } });
const ignoredInt = (key: string, why: string): KeySpec => ({ key, type: integerType(), field: null, description: why, status: { kind: "ignored", why } });

const ERLANG_SOCKET = "an Erlang socket option with no equivalent in Bun";
const ERLANG_TLS = "an Erlang TLS option with no equivalent in Bun's TLS";
const ACCEPTORS = "Bun accepts connections on its event loop, there are no acceptor processes";
const COWBOY = "a Cowboy HTTP server option; the adapter's WebSocket server has its own limits";

/** TLS keys shared by ssl_options.* and web_mqtt.ssl.* (same names in both plugin schemas). */
function tlsKeys(prefix: string, field: string, what: string): KeySpec[] {
  return [
    { key: `${prefix}.cacertfile`, type: pathType, field: `${field}.cacertfile`, default: null, file: true, description: `CA certificates (PEM) that ${what} trusts for client certificates` },
    { key: `${prefix}.certfile`, type: pathType, field: `${field}.certfile`, default: null, file: true, description: `server certificate (PEM) of ${what}` },
    { key: `${prefix}.keyfile`, type: pathType, field: `${field}.keyfile`, default: null, file: true, description: `private key (PEM) of ${what}` },
    { key: `${prefix}.password`, type: stringType, field: `${field}.password`, default: null, secret: true, description: "passphrase of an encrypted keyfile" },
    { key: `${prefix}.depth`, type: integerType({ min: 0, max: 255 }), field: `${field}.depth`, default: null, description: "maximum client certificate chain length" },
    { key: `${prefix}.versions.$version`, type: tlsVersion, field: `${field}.versions`, collect: "list", default: [], description: "allowed TLS versions (list key: .1, .2, ...)" },
    { key: `${prefix}.ciphers.$cipher`, type: nonEmptyString("an OpenSSL cipher suite name"), field: `${field}.ciphers`, collect: "list", default: [], description: "cipher suites in order of preference (list key)" },
    { key: `${prefix}.honor_cipher_order`, type: booleanType, field: `${field}.honorCipherOrder`, default: null, description: "prefer the server's cipher order" },
    ignoredBool(`${prefix}.honor_ecc_order`, ERLANG_TLS),
    ignoredBool(`${prefix}.reuse_sessions`, ERLANG_TLS),
    ignoredBool(`${prefix}.secure_renegotiate`, "Bun's TLS never allows insecure renegotiation"),
    ignoredBool(`${prefix}.client_renegotiation`, ERLANG_TLS),
    { key: `${prefix}.crl_check`, type: stringType, field: null, description: "certificate revocation checks", status: { kind: "unsupported", why: "CRL checking is not implemented; ignoring it would accept revoked certificates" } },
  ];
}

const MQTT_KEYS: KeySpec[] = [
  { key: "mqtt.listeners.tcp", type: none, field: null, description: "`none` turns off the plain MQTT listeners" },
  { key: "mqtt.listeners.tcp.$name", type: listenerType, field: "tcpListeners", collect: "list", default: [{ host: "::", port: 1883 }], description: "MQTT over TCP listeners: port or ADDRESS:PORT (list key: .default, .1, ...)" },
  { key: "mqtt.listeners.ssl", type: none, field: null, description: "`none` turns off the MQTT TLS listeners" },
  { key: "mqtt.listeners.ssl.$name", type: listenerType, field: "sslListeners", collect: "list", default: [], description: "MQTT over TLS listeners (need ssl_options.certfile and keyfile); 8883 is customary" },
  { key: "mqtt.allow_anonymous", type: booleanType, field: "allowAnonymous", default: true, description: "clients without credentials log in as mqtt.default_user" },
  { key: "mqtt.default_user", type: stringType, field: "defaultUser", default: "guest", description: "RabbitMQ user for anonymous clients" },
  { key: "mqtt.default_pass", type: stringType, field: "defaultPass", default: "guest", secret: true, description: "password of mqtt.default_user" },
  { key: "mqtt.vhost", type: nonEmptyString("a vhost name"), field: "vhost", default: "/", description: "vhost of clients that name none (user name vhost:user, port mapping)" },
  { key: "mqtt.exchange", type: nonEmptyString("an exchange name"), field: "exchange", default: "amq.topic", description: "topic exchange all MQTT publishes go to" },
  { key: "mqtt.subscription_ttl", type: unionType(literalType("undefined", null), orInfinity(ms(1)), (v) => (v === null ? "infinity" : String(v))), field: "subscriptionTtlMs", default: 86400000, description: "lifetime of a disconnected persistent session's queue (x-expires); infinity/undefined = forever" },
  { key: "mqtt.max_session_expiry_interval_seconds", type: orInfinity(integerType({ min: 0, max: 4294967295, unit: "seconds" })), field: "maxSessionExpiryIntervalSeconds", default: 86400, description: "RabbitMQ 3.13's replacement of subscription_ttl, in seconds; infinity = forever" },
  { key: "mqtt.prefetch", type: integerType({ min: 0, max: 65535 }), field: "prefetch", default: 10, description: "unacknowledged messages per subscriber (basic.qos); 0 = unlimited" },
  { key: "mqtt.sparkplug", type: booleanType, field: "sparkplug", default: false, description: "keep the dot of Sparkplug B namespaces (spBv1.0) in routing keys" },
  { key: "mqtt.retained_message_store", type: nonEmptyString("a module name"), field: null, description: "the plugin's retained store module", status: { kind: "replaced", by: "adapter.retained.dir, adapter.retained.max_count and adapter.retained.max_bytes" } },
  { key: "mqtt.retained_message_store_dets_sync_interval", type: integerType(), field: null, description: "DETS store flush interval", status: { kind: "replaced", by: "adapter.retained.dir, adapter.retained.max_count and adapter.retained.max_bytes" } },
  { key: "mqtt.proxy_protocol", type: booleanType, field: "proxyProtocol", default: false, description: "expect a PROXY protocol header on MQTT connections" },
  { key: "mqtt.login_timeout", type: ms(0), field: "loginTimeoutMs", default: 10000, description: "time from TCP accept to a successful CONNECT" },
  ignoredInt("mqtt.num_acceptors.tcp", ACCEPTORS),
  ignoredInt("mqtt.num_acceptors.ssl", ACCEPTORS),
  { key: "mqtt.ssl_cert_login", type: booleanType, field: "sslCertLogin", default: false, description: "TLS clients log in with the name in their certificate (see ssl_cert_login_from)" },
  { key: "mqtt.ssl_cert_client_id_from", type: enumType(["distinguished_name", "subject_alternative_name"]), field: "sslCertClientIdFrom", default: null, description: "take the client id from the client certificate (RabbitMQ 3.13)" },
  { key: "mqtt.ssl_cert_login_san_type", type: enumType(["dns", "ip", "email", "uri", "other_name"]), field: "sslCertClientIdSanType", default: null, description: "SAN type for mqtt.ssl_cert_client_id_from = subject_alternative_name" },
  { key: "mqtt.ssl_cert_login_san_index", type: integerType({ min: 0 }), field: "sslCertClientIdSanIndex", default: null, description: "which SAN of that type (0 = first)" },
  { key: "mqtt.tcp_listen_options", type: none, field: null, description: "`none` clears the socket options", status: { kind: "ignored", why: "the adapter keeps its socket defaults (backlog 128, nodelay true)" } },
  { key: "mqtt.tcp_listen_options.backlog", type: integerType({ min: 1 }), field: "tcpListenOptions.backlog", default: 128, description: "queue of not yet accepted connections" },
  { key: "mqtt.tcp_listen_options.nodelay", type: booleanType, field: "tcpListenOptions.nodelay", default: true, description: "TCP_NODELAY: send small packets at once" },
  { key: "mqtt.tcp_listen_options.keepalive", type: booleanType, field: "tcpListenOptions.keepalive", default: null, description: "TCP keepalive probes (OS default when unset)" },
  { key: "mqtt.tcp_listen_options.sndbuf", type: bytes(1), field: "tcpListenOptions.sndbufBytes", default: null, description: "socket send buffer" },
  { key: "mqtt.tcp_listen_options.recbuf", type: bytes(1), field: "tcpListenOptions.recbufBytes", default: null, description: "socket receive buffer" },
  { key: "mqtt.tcp_listen_options.linger.on", type: booleanType, field: "tcpListenOptions.linger.on", default: false, description: "SO_LINGER on close" },
  { key: "mqtt.tcp_listen_options.linger.timeout", type: integerType({ min: 0, unit: "seconds" }), field: "tcpListenOptions.linger.timeoutSeconds", default: 0, description: "SO_LINGER time" },
  { key: "mqtt.tcp_listen_options.send_timeout", type: ms(0), field: "tcpListenOptions.sendTimeoutMs", default: 15000, description: "give up on a client that reads nothing for this long (plugin default since 3.12)" },
  { key: "mqtt.tcp_listen_options.send_timeout_close", type: booleanType, field: "tcpListenOptions.sendTimeoutClose", default: true, description: "close the connection when send_timeout fires" },
  ...["buffer", "fd", "high_msgq_watermark", "high_watermark", "low_msgq_watermark", "low_watermark", "port", "priority", "tos"].map((o) => ignoredInt(`mqtt.tcp_listen_options.${o}`, ERLANG_SOCKET)),
  ...["delay_send", "dontroute", "exit_on_close"].map((o) => ignoredBool(`mqtt.tcp_listen_options.${o}`, ERLANG_SOCKET)),
  { key: "mqtt.durable_queue_type", type: enumType(["classic", "quorum"]), field: "durableQueueType", default: "classic", description: "queue type of persistent sessions" },
  ignoredInt("mqtt.mailbox_soft_limit", "an Erlang mailbox limit; the adapter bounds its buffers by prefetch and socket back-pressure"),
  { key: "mqtt.max_packet_size_unauthenticated", type: bytes(1, 268435455), field: "maxPacketSizeBeforeConnectBytes", default: 65536, description: "largest packet before CONNECT is authenticated" },
  { key: "mqtt.max_packet_size_authenticated", type: bytes(1, 268435455), field: "maxPacketSizeBytes", default: 268435455, description: "largest packet of an authenticated client (MQTT's own maximum by default)" },
  { key: "mqtt.topic_alias_maximum", type: integerType({ min: 0, max: 65535 }), field: "topicAliasMaximum", default: 16, description: "MQTT 5 Topic Alias Maximum offered to clients" },
  ignoredBool("mqtt.message_interceptors.$stage.$name.$key", "RabbitMQ message interceptors run inside the broker"),
];

const RABBIT_KEYS: KeySpec[] = [
  { key: "ssl_options", type: none, field: null, description: "`none` clears ssl_options", status: { kind: "ignored", why: "remove the ssl_options.* keys instead" } },
  ...tlsKeys("ssl_options", "tls", "the MQTT TLS listener"),
  { key: "ssl_options.verify", type: verifyType, field: "tls.verify", default: "verify_none", description: "verify_peer requests and checks client certificates" },
  { key: "ssl_options.fail_if_no_peer_cert", type: booleanType, field: "tls.failIfNoPeerCert", default: false, description: "with verify_peer: refuse clients without a certificate" },
  ignoredBool("ssl_options.log_alert", ERLANG_TLS),
  { key: "ssl_options.log_level", type: stringType, field: null, description: ERLANG_TLS, status: { kind: "ignored", why: ERLANG_TLS } },
  { key: "ssl_cert_login_from", type: enumType(["distinguished_name", "common_name", "subject_alternative_name", "subject_alt_name"]), field: "sslCertLoginFrom", default: "distinguished_name", description: "which certificate field is the user name for mqtt.ssl_cert_login" },
  { key: "ssl_cert_login_san_type", type: enumType(["dns", "ip", "email", "uri", "other_name"]), field: "sslCertLoginSanType", default: null, description: "SAN type when ssl_cert_login_from = subject_alternative_name" },
  { key: "ssl_cert_login_san_index", type: integerType({ min: 0 }), field: "sslCertLoginSanIndex", default: null, description: "which SAN of that type (0 = first)" },
];

const WEB_MQTT_KEYS: KeySpec[] = [
  ignoredInt("web_mqtt.num_acceptors.tcp", ACCEPTORS),
  ignoredInt("web_mqtt.num_acceptors.ssl", ACCEPTORS),
  { key: "web_mqtt.max_connections", type: orInfinity(integerType({ min: 0 })), field: "webMqtt.maxConnections", default: null, description: "WebSocket connection limit; infinity = none" },
  { key: "web_mqtt.tcp.listener", type: listenerOrNone, field: null, description: "`none` turns off MQTT over WebSocket, ADDRESS:PORT moves it" },
  { key: "web_mqtt.tcp.backlog", type: integerType({ min: 1 }), field: "webMqtt.tcpBacklog", default: null, description: "queue of not yet accepted connections" },
  { key: "web_mqtt.tcp.ip", type: ipType, field: "webMqtt.tcpListener.host", default: "::", description: "address of the WebSocket listener" },
  { key: "web_mqtt.tcp.port", type: portType, field: "webMqtt.tcpListener.port", default: 15675, description: "port of the WebSocket listener" },
  { key: "web_mqtt.ws_path", type: httpPathType, field: "webMqtt.wsPath", default: "/ws", description: "HTTP path of the WebSocket endpoint" },
  { key: "web_mqtt.ssl.listener", type: listenerOrNone, field: null, description: "ADDRESS:PORT of MQTT over secure WebSocket; none = off" },
  { key: "web_mqtt.ssl.backlog", type: integerType({ min: 1 }), field: "webMqtt.sslBacklog", default: null, description: "queue of not yet accepted connections" },
  { key: "web_mqtt.ssl.ip", type: ipType, field: "webMqtt.sslListener.host", description: "address of the secure WebSocket listener (default all)" },
  { key: "web_mqtt.ssl.port", type: portType, field: "webMqtt.sslListener.port", description: "port of the secure WebSocket listener (off when unset; 15676 is customary)" },
  ...tlsKeys("web_mqtt.ssl", "webMqtt.ssl", "the secure WebSocket listener"),
  ...["max_empty_lines", "max_header_name_length", "max_header_value_length", "max_headers", "max_keepalive", "max_request_line_length", "timeout", "idle_timeout"].map((o) => ignoredInt(`web_mqtt.cowboy_opts.${o}`, COWBOY)),
  { key: "web_mqtt.ws_opts.compress", type: booleanType, field: "webMqtt.wsCompress", default: null, description: "permessage-deflate compression" },
  { key: "web_mqtt.ws_opts.max_frame_size", type: bytes(1), field: "webMqtt.wsMaxFrameSizeBytes", default: null, description: "largest WebSocket frame" },
  { key: "web_mqtt.ws_opts.idle_timeout", type: ms(0), field: "webMqtt.wsIdleTimeoutMs", default: null, description: "close an idle WebSocket after this long" },
  { key: "web_mqtt.proxy_protocol", type: booleanType, field: "webMqtt.proxyProtocol", default: false, description: "expect a PROXY protocol header on WebSocket connections" },
];

const ADAPTER_KEYS: KeySpec[] = [
  { key: "adapter.amqp_url", type: amqpUrlType, field: "amqpUrl", default: "amqp://localhost:5672", description: "RabbitMQ to connect to; unset: the AMQP port in RabbitMQ's own config (rabbitmq.conf, rabbitmq-env.conf), else amqp://localhost:5672" },
  { key: "adapter.amqp_ssl_options.cacertfile", type: pathType, field: "amqpTls.cacertfile", default: null, file: true, description: "CA certificates (PEM) trusted for RabbitMQ's certificate (amqps://)" },
  { key: "adapter.amqp_ssl_options.certfile", type: pathType, field: "amqpTls.certfile", default: null, file: true, description: "client certificate (PEM) the adapter presents to RabbitMQ" },
  { key: "adapter.amqp_ssl_options.keyfile", type: pathType, field: "amqpTls.keyfile", default: null, file: true, description: "private key (PEM) of that certificate" },
  { key: "adapter.amqp_ssl_options.password", type: stringType, field: "amqpTls.password", default: null, secret: true, description: "passphrase of an encrypted keyfile" },
  { key: "adapter.amqp_ssl_options.verify", type: verifyType, field: "amqpTls.verify", default: "verify_peer", description: "check RabbitMQ's certificate" },
  { key: "adapter.amqp_ssl_options.server_name_indication", type: nonEmptyString("a host name or disable"), field: "amqpTls.serverNameIndication", default: null, description: "SNI host name (default: the URL's host); disable = send none" },
  { key: "adapter.ssl_cert_login.ca_certfile", type: pathType, field: "certLoginCa.certfile", default: null, file: true, description: "adapter CA certificate (PEM): with mqtt.ssl_cert_login, certificate clients log in to RabbitMQ with EXTERNAL and a certificate this CA signs; RabbitMQ's ssl_options.cacertfile must trust it" },
  { key: "adapter.ssl_cert_login.ca_keyfile", type: pathType, field: "certLoginCa.keyfile", default: null, file: true, description: "private key (PEM) of the adapter CA; whoever can read it can log in to RabbitMQ as any user, keep it readable by the adapter only" },
  { key: "adapter.ssl_cert_login.ca_password", type: stringType, field: "certLoginCa.password", default: null, secret: true, description: "passphrase of an encrypted ca_keyfile" },
  { key: "adapter.ssl_cert_login.certificate_lifetime", type: ms(60_000), field: "certLoginCa.certificateLifetimeMs", default: 600_000, description: "lifetime of a certificate minted for an EXTERNAL login (re-minted at half of it)" },
  { key: "adapter.qos0_fanout", type: enumType(["shared", "per_session"]), field: "qos0Fanout", default: "shared", description: "clean-session QoS 0 subscriptions: shared = one exclusive queue per (vhost, user) in this adapter, fanned out to the clients locally (a slow client's QoS 0 messages are dropped, not queued); per_session = a queue per client, as the plugin does" },
  { key: "adapter.qos0_local_delivery", type: booleanType, field: "qos0LocalDelivery", default: true, description: "shared QoS 0 fan-out: a QoS 0 message published by a client of this adapter goes straight to this adapter's matching QoS 0 subscribers (once RabbitMQ has accepted a publish of that user to that routing key), and its copy back from RabbitMQ is dropped; false = every message takes the round trip through RabbitMQ" },
  { key: "adapter.qos0_max_buffered_bytes", type: bytes(65536), field: "qos0MaxBufferedBytes", default: 16777216, description: "shared QoS 0 fan-out: a client with more than this many bytes waiting to be written to its socket loses further QoS 0 messages until it catches up (16 MiB)" },
  { key: "adapter.log_level", type: enumType(["debug", "info", "warning", "error"]), field: "logLevel", default: "info", description: "least severe level that is logged" },
  { key: "adapter.retained.dir", type: pathType, field: "retained.dir", default: "/var/lib/rabbitmq/mqtt-retained", description: "directory of the retained message store" },
  { key: "adapter.retained.max_count", type: integerType({ min: 1 }), field: "retained.maxCount", default: 100000, description: "most retained messages kept (new topics are refused beyond it)" },
  { key: "adapter.retained.max_bytes", type: bytes(1), field: "retained.maxBytes", default: 268435456, description: "most payload bytes of retained messages kept (256 MiB)" },
  { key: "adapter.auth_cache_ttl", type: ms(0), field: "authCacheTtlMs", default: 30000, description: "reuse a successful credential check for this long; 0 = ask RabbitMQ every time" },
  { key: "adapter.metrics.port", type: unionType(none, portType, (v) => (v === null ? "none" : String(v))), field: "metrics.port", default: null, description: "HTTP port of the metrics endpoint; none = off" },
  { key: "adapter.metrics.ip", type: ipType, field: "metrics.ip", default: "127.0.0.1", description: "address of the metrics endpoint" },
  { key: "adapter.admin_socket", type: unionType(none, pathType, (v) => (v === null ? "none" : String(v))), field: "adminSocketPath", default: "/run/rabbitmq-mqtt/admin.sock", description: "Unix socket `rabbitmq-mqtt status` talks to; none = off" },
  { key: "adapter.port_vhost_mapping.$port", type: nonEmptyString("a vhost name"), field: "portVhostMapping", collect: "map", wordType: portType, default: {}, description: "vhost of clients connecting to this MQTT port (the plugin's mqtt_port_to_vhost_mapping)" },
  { key: "adapter.max_packet_size", type: bytes(1, 268435455), field: null, description: "see mqtt.max_packet_size_authenticated", status: { kind: "alias", of: "mqtt.max_packet_size_authenticated" } },
  { key: "adapter.max_packet_size_before_connect", type: bytes(1, 268435455), field: null, description: "see mqtt.max_packet_size_unauthenticated", status: { kind: "alias", of: "mqtt.max_packet_size_unauthenticated" } },
];

/** Every key, in the order check-config prints them. */
export const SCHEMA: readonly KeySpec[] = [...MQTT_KEYS, ...RABBIT_KEYS, ...WEB_MQTT_KEYS, ...ADAPTER_KEYS];

const exact = new Map<string, KeySpec>();
const patterns: Array<{ spec: KeySpec; segments: string[] }> = [];
for (const spec of SCHEMA) {
  if (spec.key.includes("$")) patterns.push({ spec, segments: spec.key.split(".") });
  else exact.set(spec.key, spec);
}

/** The table entry for a key given as segments (escaped dots already removed), with its "$" words. */
export function findKey(segments: readonly string[]): { spec: KeySpec; words: string[] } | undefined {
  const spec = exact.get(segments.join("."));
  if (spec && segments.every((s) => !s.includes("."))) return { spec, words: [] };
  for (const p of patterns) {
    if (p.segments.length !== segments.length) continue;
    const words: string[] = [];
    const matches = p.segments.every((s, i) => {
      const given = segments[i] as string;
      if (s.startsWith("$")) return words.push(given) > 0;
      return s === given;
    });
    if (matches) return { spec: p.spec, words };
  }
  return undefined;
}

/** The spec of an exact (non-pattern) key; throws for a name not in the table (a bug). */
export function specOf(key: string): KeySpec {
  const spec = exact.get(key) ?? patterns.find((p) => p.spec.key === key)?.spec;
  if (!spec) throw new Error(`config schema has no key ${key}`);
  return spec;
}

/**
 * Fields no key sets directly: filled by load.ts (amqpUrlSource, configFile, loopbackUsers from
 * RabbitMQ's own rabbitmq.conf), by a rule
 * (webMqtt.sslListener), or fixed because the plugin has no key for them (web_mqtt.ssl.verify).
 */
const BASE = {
  amqpUrlSource: "built-in default",
  configFile: null,
  loopbackUsers: ["guest"],
  loopbackUsersSource: "RabbitMQ's default",
  webMqtt: { sslListener: null, ssl: { verify: "verify_none", failIfNoPeerCert: false } },
};

/** A fresh AdapterConfig holding every default of the table. */
export function buildDefaults(): AdapterConfig {
  const config = structuredClone(BASE) as Record<string, unknown>;
  for (const spec of SCHEMA) {
    if (spec.field !== null && spec.default !== undefined) setPath(config, spec.field, structuredClone(spec.default));
  }
  return config as unknown as AdapterConfig;
}

/** Sets a dotted path, creating objects on the way (also over a null, e.g. webMqtt.sslListener). */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== "object" || next === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}

/** Reads a dotted path; undefined when a step on the way is missing or null. */
export function getPath(source: unknown, path: string): unknown {
  let node = source;
  for (const part of path.split(".")) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/**
 * A value as it may appear in messages and logs: passwords masked, and so is the password part
 * of a URL (adapter.amqp_url = amqp://user:secret@host).
 */
export function showValue(spec: KeySpec | undefined, value: string): string {
  if (spec?.secret) return "********";
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^@/]*@/i, "$1********@");
}
