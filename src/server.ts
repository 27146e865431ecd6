/**
 * The composition root: the one place that knows the backend is AMQP and that listeners feed
 * protocol `Connection`s. Everything below it receives plain values and interfaces.
 *
 *   config ─▶ AmqpBackend ─┐
 *            registry, sessionStore, retained store ─┼─▶ Connection per socket ◀── listeners (TCP, TLS, WebSocket)
 *            keepalive sweep (1 timer) ┘
 *   metrics (counters in every Connection) ─▶ metrics endpoint, admin socket (admin/operator.ts)
 */
import { applyToConnectionOptions, planReload, startOperatorEndpoints, type OperatorEndpoints, type ReloadPlan } from "./admin/index.ts";
import type { Backend } from "./backend/backend.ts";
import { AmqpBackend } from "./backend/amqp/index.ts";
import { amqpTlsSocketOptions, loadAdapterCa } from "./auth/index.ts";
import type { AdapterConfig } from "./config/index.ts";
import { startListeners, type ConnectionHandler, type RunningListener } from "./listeners/index.ts";
import type { Logger } from "./log.ts";
import { AdapterMetrics } from "./metrics/index.ts";
import { ClientRegistry, Connection, type ConnectionOptions, type Transport } from "./protocol/index.ts";
import { openSqliteRetainedStore, type RetainedStore } from "./retained/index.ts";
import { MemorySessionStore } from "./session/index.ts";
import { BrokerWatch } from "./broker-watch.ts";

/** How often idle connections are checked for keepalive and login timeouts. */
const TIMEOUT_SWEEP_INTERVAL_MS = 1000;
/** Expired session state is looked for every this many timeout sweeps (a minute). */
const SESSION_SWEEP_EVERY = 60;
/** Client PUBLISHes awaiting a confirm before we stop reading that client. */
const MAX_INFLIGHT_PUBLISHES_PER_CLIENT = 64;
/** How long stop() waits for connections to close and confirms to arrive. */
const SHUTDOWN_GRACE_MS = 5000;

export interface RunningServer {
  readonly listeners: readonly RunningListener[];
  /** Open MQTT connections (accepted sockets, logged in or not). */
  readonly connections: ReadonlySet<Connection>;
  readonly backend: Backend;
  /** The counters every connection bumps (kept also when the metrics endpoint is off). */
  readonly metrics: AdapterMetrics;
  /** The metrics endpoint and admin socket, where configured. */
  readonly operator: OperatorEndpoints;
  /**
   * SIGHUP: applies what can change while running from `config` (already validated: the caller
   * keeps the old one on errors). Returns what was applied and what needs a restart; the log
   * level is the caller's to set (it owns the logger), from `plan.inForce.logLevel`.
   */
  reload(config: AdapterConfig): ReloadPlan;
  /** Stops accepting, closes every client (no wills: a shutdown is not a client failure), flushes confirms. */
  stop(): Promise<void>;
}

export interface ServerOverrides {
  /** A backend to use instead of RabbitMQ (protocol-level tests). */
  backend?: Backend;
  /** A retained store to use instead of the SQLite file in adapter.retained.dir (closed by stop()). */
  retainedStore?: RetainedStore;
}

/** The protocol's options, from the `mqtt.*` keys. */
export function connectionOptionsFrom(config: AdapterConfig): ConnectionOptions {
  return {
    allowAnonymous: config.allowAnonymous,
    defaultUser: config.defaultUser,
    defaultPass: config.defaultPass,
    vhost: config.vhost,
    portVhostMapping: config.portVhostMapping,
    loopbackUsers: config.loopbackUsers,
    loginTimeoutMs: config.loginTimeoutMs,
    maxPacketSizeBytes: config.maxPacketSizeBytes,
    maxPacketSizeBeforeConnectBytes: config.maxPacketSizeBeforeConnectBytes,
    maxInflightPublishesPerClient: MAX_INFLIGHT_PUBLISHES_PER_CLIENT,
    qos0MaxBufferedBytes: config.qos0MaxBufferedBytes,
    // Retained QoS 1/2 messages in flight per client: the bound mqtt.prefetch puts on live ones
    // (0 = unlimited there; packet ids bound it here, and the socket's back-pressure always does).
    maxInflightRetained: config.prefetch === 0 ? 65_535 : config.prefetch,
  };
}

function createBackend(config: AdapterConfig, log: Logger): Backend {
  // TLS towards RabbitMQ (amqps://) and the adapter CA of certificate logins: bad files are fatal startup errors.
  const tls = amqpTlsSocketOptions(config.amqpTls, config.amqpUrl);
  for (const warning of tls.warnings) log.warning(warning);
  const adapterCa = config.sslCertLogin ? loadAdapterCa(config.certLoginCa) : undefined;
  return new AmqpBackend({
    socketOptions: tls.options,
    ...(adapterCa === undefined ? {} : { externalCredentials: (certificate: Uint8Array) => adapterCa.externalCredentials(certificate) }),
    url: config.amqpUrl,
    exchange: config.exchange,
    // null = never expires: the queue gets no x-expires at all.
    subscriptionTtlMs: config.subscriptionTtlMs,
    durableQueueType: config.durableQueueType,
    qos0Fanout: config.qos0Fanout,
    qos0LocalDelivery: config.qos0LocalDelivery,
    prefetch: config.prefetch,
    authCacheTtlMs: config.authCacheTtlMs,
    log: log.child("amqp"),
  });
}

/**
 * Starts the adapter: binds every configured listener (throws if one cannot be bound, before
 * any client is served) and serves clients; RabbitMQ is reached lazily, per client, so an
 * unreachable broker at start only means CONNACK 3 until it is back (BrokerWatch logs that).
 */
export async function startServer(
  config: AdapterConfig,
  log: Logger,
  overrides: ServerOverrides = {},
): Promise<RunningServer> {
  // First: an unusable adapter.retained.dir is a fatal startup error, before any port opens.
  const retainedStore =
    overrides.retainedStore ??
    openSqliteRetainedStore({ dir: config.retained.dir, maxCount: config.retained.maxCount, maxBytes: config.retained.maxBytes, log: log.child("retained") });
  const backend = overrides.backend ?? createBackend(config, log);
  const watch = overrides.backend === undefined ? new BrokerWatch(config.amqpUrl, log, amqpTlsSocketOptions(config.amqpTls, config.amqpUrl).options) : undefined;
  watch?.start();
  const registry = new ClientRegistry();
  const sessionStore = new MemorySessionStore();
  const options = connectionOptionsFrom(config);
  const connections = new Set<Connection>();
  const metrics = new AdapterMetrics();
  const startedAtMs = Date.now();
  /** The configuration in force: the start one, with what SIGHUP reloads applied. */
  let inForce = config;
  let nextConnectionId = 1;

  const accept = (transport: Transport): ConnectionHandler => {
    const connectionId = String(nextConnectionId++);
    const connection = new Connection(transport, {
      backend,
      registry,
      sessionStore,
      retainedStore,
      options,
      log,
      connectionId,
      metrics,
    });
    connections.add(connection);
    return {
      onData: (chunk) => connection.onData(chunk),
      onDrain: () => connection.onDrain(),
      onClose: (error) => {
        connections.delete(connection);
        connection.onClose(error);
      },
    };
  };

  let listeners: RunningListener[] = [];
  /** Undoes what was started so far when a later step of the start fails (no client was served). */
  const abandonStart = async (): Promise<void> => {
    for (const listener of listeners) listener.stop();
    watch?.stop();
    await backend.shutdown();
    retainedStore.close();
  };
  try {
    listeners = startListeners(config, log, accept);
  } catch (error) {
    await abandonStart();
    throw error;
  }

  let operator: OperatorEndpoints;
  try {
    operator = await startOperatorEndpoints({
      config,
      log,
      metrics,
      state: {
        startedAtMs,
        configFile: config.configFile,
        logLevel: () => inForce.logLevel,
        amqpUrl: config.amqpUrl,
        listeners: () => listeners.map((l) => ({ protocol: l.protocol, interface: l.host, port: l.port })),
        connections,
        backendStats: () => backend.stats?.(),
      },
    });
  } catch (error) {
    await abandonStart();
    throw error;
  }

  let sweepsUntilSessionSweep = 0;
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const connection of connections) connection.checkTimeouts(now);
    // Now and then, forget session state whose queue RabbitMQ has expired (x-expires = the TTL).
    if (--sweepsUntilSessionSweep <= 0 && config.subscriptionTtlMs !== null) {
      sweepsUntilSessionSweep = SESSION_SWEEP_EVERY;
      sessionStore.sweep(config.subscriptionTtlMs, (vhost, clientId) => registry.lookup(vhost, clientId) !== undefined);
    }
  }, TIMEOUT_SWEEP_INTERVAL_MS);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await operator.stop();
      for (const listener of listeners) listener.stop();
      clearInterval(sweep);
      watch?.stop();
      const closing = Promise.all([...connections].map((connection) => connection.shutdown()));
      await Promise.race([closing, Bun.sleep(SHUTDOWN_GRACE_MS)]);
      await backend.shutdown();
      // After the connections: a close sequence may still store a retained will.
      retainedStore.close();
    })();
    return stopping;
  };

  const reload = (next: AdapterConfig): ReloadPlan => {
    const plan = planReload(inForce, next);
    inForce = plan.inForce;
    applyToConnectionOptions(options, inForce);
    return plan;
  };

  return { listeners, connections, backend, metrics, operator, reload, stop };
}
