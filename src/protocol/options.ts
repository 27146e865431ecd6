/**
 * What a Connection is built from: plain option values (server.ts maps AdapterConfig, the
 * `mqtt.*` keys, into them once, so protocol/ never reads the config module) and the shared
 * services it uses.
 */
import type { Backend } from "../backend/backend.ts";
import type { ProtocolVersion } from "../codec/index.ts";
import type { Logger } from "../log.ts";
import type { RetainedStore } from "../retained/index.ts";
import type { SessionStore } from "../session/index.ts";
import type { ProtocolMetrics } from "./metrics.ts";
import type { ClientRegistry } from "./registry.ts";

export interface ConnectionOptions {
  /** `mqtt.allow_anonymous`: a CONNECT without credentials logs in as defaultUser. */
  allowAnonymous: boolean;
  /** `mqtt.default_user` (may be `vhost:user`, split like a client's user name). */
  defaultUser: string;
  /** `mqtt.default_pass`. */
  defaultPass: string;
  /** `mqtt.vhost`: the vhost of user names without a `vhost:` prefix. */
  vhost: string;
  /**
   * MQTT listener port → vhost (the plugin's `mqtt_port_to_vhost_mapping`): the vhost of user
   * names without a `vhost:` prefix on that port, before `vhost`. Optional: none by default.
   */
  portVhostMapping?: Readonly<Record<number, string>>;
  /**
   * RabbitMQ's `loopback_users`: users who may log in only from localhost. RabbitMQ sees the
   * adapter's address, so the adapter checks the MQTT client's, as the plugin does. Optional:
   * none when absent.
   */
  loopbackUsers?: readonly string[];
  /** `mqtt.login_timeout`: time from the socket opening to an accepted CONNECT, ms. */
  loginTimeoutMs: number;
  /** Largest packet accepted once connected, fixed header included, bytes. */
  maxPacketSizeBytes: number;
  /** Largest packet accepted before CONNECT is accepted (unauthenticated clients), bytes. */
  maxPacketSizeBeforeConnectBytes: number;
  /**
   * Client PUBLISHes handed to the broker and not yet confirmed (so not yet PUBACKed); at this
   * many the connection stops reading the client until one is answered. E.g. 64.
   */
  maxInflightPublishesPerClient: number;
  /**
   * Retained QoS 1/2 messages sent for new subscriptions and not yet acknowledged, per client;
   * more wait until one is (server.ts uses `mqtt.prefetch`, the bound on live deliveries).
   * Default 10.
   */
  maxInflightRetained?: number;
  /**
   * `adapter.qos0_max_buffered_bytes`: a droppable delivery (shared QoS 0 fan-out) is dropped
   * while more than this many bytes wait for the client's socket. Default 16 MiB.
   */
  qos0MaxBufferedBytes?: number;
  /** Unused for now: MQTT 3.1.1 resends only on reconnect, which the broker's redelivery covers. */
  retryIntervalMs?: number;
}

/** What a Connection is built from. */
export interface ConnectionDeps {
  backend: Backend;
  /** Client ids connected in this process, per vhost (takeover). Shared by all connections. */
  registry: ClientRegistry;
  /** Session state between connections (granted QoS per filter). Shared by all connections. */
  sessionStore: SessionStore;
  /** Retained messages, per vhost. Shared by all connections. */
  retainedStore: RetainedStore;
  options: ConnectionOptions;
  log: Logger;
  /** Unique in this process; appears in every log line of the connection. */
  connectionId: string;
  /** Counters for the metrics endpoint; NO_METRICS (nothing counted) by default. */
  metrics?: ProtocolMetrics;
  /** The clock, ms; Date.now by default (tests pass their own). */
  now?: () => number;
}

/** What the server (and `rabbitmqctl`-like listings) may know about a connection. */
export interface ConnectionInfo {
  clientId?: string;
  /** The RabbitMQ user (after `vhost:user` splitting and anonymous defaulting). */
  username?: string;
  vhost?: string;
  protocolVersion?: ProtocolVersion;
  /** When the socket was accepted, ms (the connection's clock). */
  connectedAtMs: number;
  peer: string;
}
