/**
 * The effective configuration handed to the rest of the adapter: a plain object, camelCase,
 * units in the names. Which rabbitmq.conf key sets which field, and every default, is in the one
 * table in schema.ts; this file only declares the shape.
 */
import type { ListenerAddress } from "./value-types.ts";

export type { ListenerAddress };

export type TlsVersion = "tlsv1" | "tlsv1.1" | "tlsv1.2" | "tlsv1.3";
export type LogLevel = "debug" | "info" | "warning" | "error";

/** TLS options as RabbitMQ's `ssl_options.*` (paths are PEM files). `null` = not set. */
export interface TlsOptions {
  cacertfile: string | null;
  certfile: string | null;
  keyfile: string | null;
  /** Passphrase of an encrypted keyfile. Secret. */
  password: string | null;
  /** verify_peer asks for and checks the client certificate; Erlang's default is verify_none. */
  verify: "verify_peer" | "verify_none";
  /** With verify_peer: refuse clients that send no certificate. */
  failIfNoPeerCert: boolean;
  /** Maximum certificate chain length; null = the TLS library's default. */
  depth: number | null;
  /** Allowed protocol versions, empty = the TLS library's default. */
  versions: TlsVersion[];
  /** OpenSSL cipher suite names in order of preference, empty = the library's default. */
  ciphers: string[];
  honorCipherOrder: boolean | null;
}

/** Socket options of the MQTT listeners (`mqtt.tcp_listen_options.*`). null = OS default. */
export interface TcpListenOptions {
  backlog: number;
  nodelay: boolean;
  keepalive: boolean | null;
  sndbufBytes: number | null;
  recbufBytes: number | null;
  /** SO_LINGER; Erlang's linger timeout is in seconds. */
  linger: { on: boolean; timeoutSeconds: number };
  /** Give up on a client whose socket accepts no data for this long. */
  sendTimeoutMs: number | null;
  /** Close the connection when sendTimeoutMs fires. */
  sendTimeoutClose: boolean | null;
}

/** Options for the adapter's own AMQP connection(s) to RabbitMQ when amqpUrl is amqps://. */
export interface AmqpTlsOptions {
  cacertfile: string | null;
  certfile: string | null;
  keyfile: string | null;
  password: string | null;
  verify: "verify_peer" | "verify_none";
  /** Host name sent as SNI and checked against the certificate; "disable" = none. */
  serverNameIndication: string | null;
}

export interface WebMqttConfig {
  /** Plain WebSocket listener; null when `web_mqtt.tcp.listener = none`. */
  tcpListener: ListenerAddress | null;
  tcpBacklog: number | null;
  /** WebSocket over TLS; null unless web_mqtt.ssl.port (or .listener) is set. */
  sslListener: ListenerAddress | null;
  sslBacklog: number | null;
  ssl: TlsOptions;
  /** HTTP path of the WebSocket endpoint. */
  wsPath: string;
  proxyProtocol: boolean;
  /** null = unlimited. */
  maxConnections: number | null;
  wsCompress: boolean | null;
  wsMaxFrameSizeBytes: number | null;
  wsIdleTimeoutMs: number | null;
}

export interface AdapterConfig {
  // --- the plugin's mqtt.* keys ---
  tcpListeners: ListenerAddress[];
  sslListeners: ListenerAddress[];
  tcpListenOptions: TcpListenOptions;
  allowAnonymous: boolean;
  defaultUser: string;
  /** Secret. */
  defaultPass: string;
  vhost: string;
  exchange: string;
  /** x-expires of a persistent session's queue; null = never expires. Kept equal to maxSessionExpiryIntervalSeconds × 1000. */
  subscriptionTtlMs: number | null;
  /** Upper bound of the MQTT 5 Session Expiry Interval; null = infinity. */
  maxSessionExpiryIntervalSeconds: number | null;
  /** basic.qos prefetch of each subscriber's consumer. */
  prefetch: number;
  sslCertLogin: boolean;
  sslCertLoginFrom: "distinguished_name" | "common_name" | "subject_alternative_name" | "subject_alt_name";
  sslCertLoginSanType: "dns" | "ip" | "email" | "uri" | "other_name" | null;
  sslCertLoginSanIndex: number | null;
  sslCertClientIdFrom: "distinguished_name" | "subject_alternative_name" | null;
  proxyProtocol: boolean;
  /** Time a client gets between TCP accept and a successful CONNECT. */
  loginTimeoutMs: number;
  /** Sparkplug B: `spAv1.0`/`spBv1.0` keep their dot in routing keys. */
  sparkplug: boolean;
  durableQueueType: "classic" | "quorum";
  /** Clean-session QoS 0 subscriptions: one shared queue fanned out locally, or a queue per session. */
  qos0Fanout: "shared" | "per_session";
  /** Shared QoS 0 fan-out: QoS 0 publishes of this adapter's clients reach its shared subscribers directly. */
  qos0LocalDelivery: boolean;
  /** Shared QoS 0 fan-out: bytes waiting for a client's socket above which its QoS 0 messages are dropped. */
  qos0MaxBufferedBytes: number;
  topicAliasMaximum: number;
  /** Largest packet accepted once a client is authenticated. */
  maxPacketSizeBytes: number;
  /** Largest packet accepted before CONNECT is authenticated. */
  maxPacketSizeBeforeConnectBytes: number;
  /** `ssl_options.*`, used by the MQTT TLS listeners. */
  tls: TlsOptions;
  webMqtt: WebMqttConfig;

  // --- our own adapter.* keys ---
  amqpUrl: string;
  /** Where amqpUrl came from, for the startup log ("adapter.amqp_url", "/etc/rabbitmq/rabbitmq.conf:3 listeners.tcp.default", "built-in default"). */
  amqpUrlSource: string;
  amqpTls: AmqpTlsOptions;
  /** The adapter CA that signs the client certificates of EXTERNAL logins (mqtt.ssl_cert_login). Paths are PEM files. */
  certLoginCa: { certfile: string | null; keyfile: string | null; password: string | null; certificateLifetimeMs: number };
  logLevel: LogLevel;
  retained: { dir: string; maxCount: number; maxBytes: number };
  /** How long a successful credential check may be reused; 0 = always ask RabbitMQ. */
  authCacheTtlMs: number;
  /** Prometheus-style metrics endpoint; port null = off. */
  metrics: { ip: string; port: number | null };
  /** Unix socket for `rabbitmq-mqtt status`; null = off. */
  adminSocketPath: string | null;
  /** MQTT listener port → vhost (what the plugin keeps in the mqtt_port_to_vhost_mapping global parameter). */
  portVhostMapping: Record<number, string>;
  /** The file the values came from; null when the default file is absent and only defaults apply. */
  configFile: string | null;
  /**
   * RabbitMQ's `loopback_users` (its own rabbitmq.conf, read by load.ts): users that may only log
   * in from localhost. RabbitMQ applies it to the adapter's address, so the adapter applies it to
   * the MQTT client's, as the plugin does. Default ["guest"], as RabbitMQ's.
   */
  loopbackUsers: string[];
  /** Where loopbackUsers came from, for check-config. */
  loopbackUsersSource: string;
}
