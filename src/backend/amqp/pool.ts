/**
 * AMQP connections pooled per (vhost, user), and authentication.
 *
 * RabbitMQ, not the adapter, decides whether a username/password may log in to a vhost. The only
 * way to ask it over AMQP 0-9-1 is to open a connection with those credentials, so that is what
 * authenticating means here. The connection that proved the credentials becomes a pool member if
 * the pool has none open, else it is closed. A success is remembered for
 * `authCacheTtlMs` under vhost + user + SHA-256(password), so a burst of clients with the same
 * credentials costs RabbitMQ one handshake; concurrent checks of the same credentials share one
 * handshake too. Failures are never cached (the next attempt asks RabbitMQ again).
 *
 * Clients of the same user and vhost then share that user's connections: RabbitMQ still enforces
 * the user's permissions on every operation, and sees a handful of connections instead of one per
 * device.
 *
 * Why two connections per user (one for publishing, one for consumers and queue operations;
 * user-connections.ts): during a memory or disk alarm RabbitMQ stops reading every connection
 * that publishes. When one connection carried everything, one publishing client froze every
 * client of its user: no acks (so queues could not drain, which is what usually ends a memory
 * alarm), no CONNACK for new clients, no SUBSCRIBE. Both are opened lazily, the login connection
 * being the first of either, so a user whose clients only publish, or only subscribe, still holds
 * one connection; a user whose clients do both holds two, not one per device (backend-amqp.test.ts
 * counts them with `rabbitmqctl list_connections`). Cost measured on RabbitMQ 3.10.8, 40 users
 * each with one client, broker memory of connections and channels (rabbit_vm:memory after a GC):
 * publishing and subscribing 79 -> 108 KiB per user (+29 KiB for the second connection);
 * publish-only 72 -> 72, subscribe-only 63 -> 64 KiB (unchanged: still one connection).
 *
 * Certificate logins (mqtt.ssl_cert_login) carry the client's verified certificate instead of a
 * password: the connection is opened with RabbitMQ's EXTERNAL mechanism and a client certificate
 * that `externalCredentials` mints for that identity (auth/adapter-ca.ts), so RabbitMQ itself
 * derives the user name and checks it. Their pool key includes a hash of the client certificate:
 * two certificates that the adapter happens to name alike (e.g. by CN) never share a connection
 * that RabbitMQ authenticated for only one of them.
 *
 * Broker unreachable: connection attempts back off (250 ms doubling up to 5 s) and clients that
 * arrive meanwhile are refused at once with `unavailable` instead of each waiting for a TCP
 * timeout; the first attempt after the pause goes to the broker again. Nothing retries in the
 * background: a pool reconnects when the next client needs it.
 */
import amqp from "amqplib";
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import type { BackendError, BackendStats, BrokerConnectionStats } from "../backend.ts";
import type { Logger } from "../../log.ts";
import { coalesceWrites } from "./coalesce-writes.ts";
import { fromConnectError } from "./errors.ts";
import { PooledConnection, type ConnectionOwner, type ConnectionRole } from "./pooled-connection.ts";
import { UserConnections, type Acquired } from "./user-connections.ts";

/** How to reach RabbitMQ and what every connection is opened with. */
export interface PoolSettings {
  /** `amqp://host:port` or `amqps://…`; credentials and vhost in it are ignored (clients bring their own). */
  url: string;
  heartbeatSeconds: number;
  /** Passed to amqplib's connect (TLS options, `timeout`, …). */
  socketOptions: Record<string, unknown>;
  authCacheTtlMs: number;
  prefetch: number;
  /** A connection without sessions for this long is closed. */
  idleConnectionMs: number;
  log: Logger;
  /** TLS client credentials for an EXTERNAL login as the identity of a client certificate; unset = certificate logins are refused. */
  externalCredentials?: ExternalCredentials;
}

/** PEM `cert`/`key` RabbitMQ's EXTERNAL mechanism accepts for this client certificate (DER), or why there are none. */
export type ExternalCredentials = (clientCertificate: Uint8Array) => { cert: string; key: string } | { error: string };

export interface Login {
  username: string;
  password: string;
  vhost: string;
  /** Log in with RabbitMQ's EXTERNAL mechanism as this client certificate's identity (password unused). */
  clientCertificate?: Uint8Array;
}

/**
 * An authenticated login: its user's connections, and the connection (reserved: `unreserve()` it
 * when done) on which the connect-time queue checks run.
 */
export type AttachOutcome = { ok: true; user: UserConnections; connection: PooledConnection } | { ok: false; error: BackendError };

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5_000;

export class ConnectionPool {
  /** pool key (vhost, user[, certificate]) → that user's connections. */
  private readonly users = new Map<string, UserConnections>();
  /** auth key → time (ms since epoch) until which the credentials count as checked. */
  private readonly authCache = new Map<string, number>();
  private readonly authInFlight = new Map<string, Promise<BackendError | undefined>>();
  private readonly target: { protocol: string; hostname: string; port: number; where: string };
  private backoffMs = 0;
  private retryAtMs = 0;
  private lastUnavailable: BackendError | undefined;
  private connectionCounter = 0;
  private shuttingDown = false;
  /** What the broker said it is on the last connection `stats()` saw (kept when none is open). */
  private lastServer: { product: string; version: string } | undefined;

  constructor(private readonly settings: PoolSettings) {
    const url = new URL(settings.url);
    const protocol = url.protocol.replace(/:$/, "");
    if (protocol !== "amqp" && protocol !== "amqps") {
      throw new Error(`AMQP URL must start with amqp:// or amqps://, got "${settings.url}"`);
    }
    const port = url.port === "" ? (protocol === "amqps" ? 5671 : 5672) : Number(url.port);
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    this.target = { protocol, hostname, port, where: `${protocol}://${url.host}` };
  }

  /**
   * Authenticates `login` with RabbitMQ (or the cache) and returns its user's connections and the
   * connection for the connect-time queue checks, reserved: the caller must `unreserve()` it.
   */
  async attach(login: Login): Promise<AttachOutcome> {
    if (this.shuttingDown) return { ok: false, error: { kind: "unavailable", message: "the adapter is shutting down" } };
    const poolKey =
      login.clientCertificate === undefined
        ? `${login.vhost}\0${login.username}`
        : `${login.vhost}\0${login.username}\0certificate ${createHash("sha256").update(login.clientCertificate).digest("base64")}`;
    const authKey = login.clientCertificate === undefined ? `${poolKey}\0${createHash("sha256").update(login.password).digest("base64")}` : `${poolKey}\0EXTERNAL`;
    const user = this.userFor(poolKey);
    user.pending++;
    try {
      const refused = await this.checkCredentials(login, user, authKey);
      if (refused !== undefined) return { ok: false, error: refused };
      const picked = await user.forConnect(login);
      if (!picked.ok) return picked;
      picked.connection.reserve();
      return { ok: true, user, connection: picked.connection };
    } finally {
      user.pending--;
      user.checkEmpty();
    }
  }

  /** Asks RabbitMQ (one handshake for concurrent checks) unless the cache vouches for the credentials. */
  private async checkCredentials(login: Login, user: UserConnections, authKey: string): Promise<BackendError | undefined> {
    const cachedUntil = this.authCache.get(authKey);
    if (cachedUntil === undefined || cachedUntil <= Date.now()) {
      if (cachedUntil !== undefined) this.authCache.delete(authKey);
      let check = this.authInFlight.get(authKey);
      if (check === undefined) {
        check = this.authenticate(login, user, authKey).finally(() => this.authInFlight.delete(authKey));
        this.authInFlight.set(authKey, check);
      }
      return await check;
    }
    return undefined;
  }

  /** Live connections of a (vhost, user) pool, or only those with `role`: for tests and metrics. */
  connectionCount(vhost: string, username: string, role?: ConnectionRole): number {
    return this.users.get(`${vhost}\0${username}`)?.count(role) ?? 0;
  }

  /** Every live connection, for `status` and metrics; the broker's product and version as last seen. */
  stats(): BackendStats {
    const connections: BrokerConnectionStats[] = [];
    for (const [poolKey, user] of this.users) {
      const [vhost = "", username = ""] = poolKey.split("\0");
      for (const member of user.members) {
        if (member.dead !== undefined) continue;
        const server = member.serverProperties;
        if (typeof server?.version === "string") this.lastServer = { product: String(server.product ?? ""), version: server.version };
        connections.push({
          name: member.name,
          vhost,
          username,
          channels: member.openChannels,
          sessions: member.sessions.size,
          publishBlocked: member.publishBlocked,
        });
      }
    }
    return {
      ...(this.lastServer === undefined ? {} : { serverProduct: this.lastServer.product, serverVersion: this.lastServer.version }),
      connections,
    };
  }

  /** Closes every connection after waiting up to `flushTimeoutMs` for pending confirms. */
  async shutdown(flushTimeoutMs: number): Promise<void> {
    this.shuttingDown = true;
    const all = [...this.users.values()].flatMap((user) => user.members);
    const reason: BackendError = { kind: "unavailable", message: "the adapter is shutting down" };
    await Promise.all(all.map((connection) => connection.close(reason, flushTimeoutMs)));
  }

  /** The user's connections, made on first use and forgotten once nothing is left in them. */
  private userFor(poolKey: string): UserConnections {
    let user = this.users.get(poolKey);
    if (user === undefined) {
      user = new UserConnections(
        (login, owner) => this.openMember(login, owner),
        (empty) => {
          if (this.users.get(poolKey) === empty) this.users.delete(poolKey);
        },
      );
      this.users.set(poolKey, user);
    }
    return user;
  }

  /** The login's connection joins the pool (without a role yet) if the user has none open; else it is closed. */
  private async authenticate(login: Login, user: UserConnections, authKey: string): Promise<BackendError | undefined> {
    const opened = await this.open(login);
    if (!opened.ok) return opened.error;
    if (this.settings.authCacheTtlMs > 0) this.authCache.set(authKey, Date.now() + this.settings.authCacheTtlMs);
    if (user.count() === 0 && !this.shuttingDown) {
      user.add(this.adopt(opened.model, login, user));
    } else {
      opened.model.on("error", () => {});
      opened.model.close().catch(() => {});
    }
    return undefined;
  }

  private async openMember(login: Login, owner: ConnectionOwner): Promise<Acquired> {
    const opened = await this.open(login);
    if (!opened.ok) return opened;
    if (this.shuttingDown) {
      opened.model.on("error", () => {});
      opened.model.close().catch(() => {});
      return { ok: false, error: { kind: "unavailable", message: "the adapter is shutting down" } };
    }
    return { ok: true, connection: this.adopt(opened.model, login, owner) };
  }

  private adopt(model: amqp.ChannelModel, login: Login, owner: ConnectionOwner): PooledConnection {
    const name = `vhost '${login.vhost}' user '${login.username}' #${this.connectionCounter}`;
    const { prefetch, idleConnectionMs, log } = this.settings;
    const connection = new PooledConnection(model, name, prefetch, idleConnectionMs, log, owner);
    this.settings.log.info(`opened AMQP connection ${name} (channel_max ${connection.channelMax})`);
    return connection;
  }

  /** Opens an AMQP connection as `login` (= asks RabbitMQ to authenticate it), with backoff. */
  private async open(login: Login): Promise<{ ok: true; model: amqp.ChannelModel } | { ok: false; error: BackendError }> {
    const now = Date.now();
    if (now < this.retryAtMs && this.lastUnavailable !== undefined) {
      return {
        ok: false,
        error: {
          kind: "unavailable",
          message: `${this.lastUnavailable.message} (next attempt in ${this.retryAtMs - now} ms)`,
        },
      };
    }
    let external: Record<string, unknown> = {};
    if (login.clientCertificate !== undefined) {
      const minted = this.externalOptions(login.clientCertificate);
      if (!minted.ok) return minted;
      external = minted.options;
    }
    this.connectionCounter++;
    try {
      const { protocol, hostname, port } = this.target;
      // amqplib unescapes the vhost (querystring rules), so a vhost with a `%` must be escaped.
      const model = await amqp.connect(
        { protocol, hostname, port, username: login.username, password: login.password, vhost: encodeURIComponent(login.vhost), heartbeat: this.settings.heartbeatSeconds },
        {
          noDelay: true,
          timeout: 10_000,
          ...this.settings.socketOptions,
          ...external,
          clientProperties: { connection_name: `rabbitmq-mqtt ${login.vhost}/${login.username}` },
        },
      );
      // One socket write per event-loop turn instead of one per frame (coalesce-writes.ts).
      coalesceWrites((model as unknown as { connection: { stream: Duplex } }).connection.stream);
      this.backoffMs = 0;
      this.lastUnavailable = undefined;
      return { ok: true, model };
    } catch (error) {
      const refused = fromConnectError(error, { ...login, where: this.target.where });
      if (refused.kind === "unavailable") {
        this.backoffMs = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, this.backoffMs * 2));
        this.retryAtMs = Date.now() + this.backoffMs;
        this.lastUnavailable = refused;
      }
      return { ok: false, error: refused };
    }
  }

  /** amqplib options for an EXTERNAL login as `clientCertificate`'s identity, or why that is impossible. */
  private externalOptions(clientCertificate: Uint8Array): { ok: true; options: Record<string, unknown> } | { ok: false; error: BackendError } {
    const mint = this.settings.externalCredentials;
    if (mint === undefined || this.target.protocol !== "amqps") {
      const error: BackendError = {
        kind: "not-authorised",
        message:
          "certificate login needs RabbitMQ's EXTERNAL mechanism over TLS: set adapter.amqp_url = amqps://… and " +
          "adapter.ssl_cert_login.ca_certfile / ca_keyfile (see the README, TLS and WebSocket)",
      };
      return { ok: false, error };
    }
    const minted = mint(clientCertificate);
    if ("error" in minted) return { ok: false, error: { kind: "not-authorised", message: `no RabbitMQ login for this client certificate: ${minted.error}` } };
    // The passphrase of adapter.amqp_ssl_options.keyfile does not belong to the minted key.
    return { ok: true, options: { cert: minted.cert, key: minted.key, passphrase: undefined, credentials: amqp.credentials.external() } };
  }
}
