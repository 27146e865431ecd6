/**
 * AMQP connections pooled per (vhost, user), and authentication.
 *
 * RabbitMQ, not the adapter, decides whether a username/password may log in to a vhost. The only
 * way to ask it over AMQP 0-9-1 is to open a connection with those credentials, so that is what
 * authenticating means here. The connection that proved the credentials becomes a pool member if
 * the pool needs one (none open, or all full), else it is closed. A success is remembered for
 * `authCacheTtlMs` under vhost + user + SHA-256(password), so a burst of clients with the same
 * credentials costs RabbitMQ one handshake; concurrent checks of the same credentials share one
 * handshake too. Failures are never cached (the next attempt asks RabbitMQ again).
 *
 * Clients of the same user and vhost then share that user's connections: RabbitMQ still enforces
 * the user's permissions on every operation, and sees a handful of connections instead of one per
 * device.
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
import type { BackendError, BackendStats, BrokerConnectionStats } from "../backend.ts";
import type { Logger } from "../../log.ts";
import { fromConnectError } from "./errors.ts";
import { PooledConnection } from "./pooled-connection.ts";

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

export type AttachOutcome = { ok: true; connection: PooledConnection } | { ok: false; error: BackendError };

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5_000;

export class ConnectionPool {
  private readonly members = new Map<string, PooledConnection[]>();
  /** auth key → time (ms since epoch) until which the credentials count as checked. */
  private readonly authCache = new Map<string, number>();
  private readonly authInFlight = new Map<string, Promise<BackendError | undefined>>();
  private readonly openInFlight = new Map<string, Promise<AttachOutcome>>();
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
   * Authenticates `login` with RabbitMQ (or the cache) and returns a connection of its pool,
   * reserved: the caller must `attach()` a session to it or `unreserve()` it.
   */
  async attach(login: Login): Promise<AttachOutcome> {
    const outcome = await this.attachUnreserved(login);
    if (outcome.ok) outcome.connection.reserve();
    return outcome;
  }

  private async attachUnreserved(login: Login): Promise<AttachOutcome> {
    if (this.shuttingDown) return { ok: false, error: { kind: "unavailable", message: "the adapter is shutting down" } };
    const poolKey =
      login.clientCertificate === undefined
        ? `${login.vhost}\0${login.username}`
        : `${login.vhost}\0${login.username}\0certificate ${createHash("sha256").update(login.clientCertificate).digest("base64")}`;
    const authKey = login.clientCertificate === undefined ? `${poolKey}\0${createHash("sha256").update(login.password).digest("base64")}` : `${poolKey}\0EXTERNAL`;
    const cachedUntil = this.authCache.get(authKey);
    if (cachedUntil === undefined || cachedUntil <= Date.now()) {
      if (cachedUntil !== undefined) this.authCache.delete(authKey);
      let check = this.authInFlight.get(authKey);
      if (check === undefined) {
        check = this.authenticate(login, poolKey, authKey).finally(() => this.authInFlight.delete(authKey));
        this.authInFlight.set(authKey, check);
      }
      const refused = await check;
      if (refused !== undefined) return { ok: false, error: refused };
    }
    const member = this.pickMember(poolKey);
    if (member !== undefined) return { ok: true, connection: member };
    let opening = this.openInFlight.get(poolKey);
    if (opening === undefined) {
      opening = this.openMember(login, poolKey).finally(() => this.openInFlight.delete(poolKey));
      this.openInFlight.set(poolKey, opening);
    }
    return opening;
  }

  /** Live connections of a (vhost, user) pool: for tests and metrics. */
  connectionCount(vhost: string, username: string): number {
    return this.members.get(`${vhost}\0${username}`)?.length ?? 0;
  }

  /** Every live connection, for `status` and metrics; the broker's product and version as last seen. */
  stats(): BackendStats {
    const connections: BrokerConnectionStats[] = [];
    for (const [poolKey, members] of this.members) {
      const [vhost = "", username = ""] = poolKey.split("\0");
      for (const member of members) {
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
    const all = [...this.members.values()].flat();
    const reason: BackendError = { kind: "unavailable", message: "the adapter is shutting down" };
    await Promise.all(all.map((connection) => connection.close(reason, flushTimeoutMs)));
  }

  private async authenticate(login: Login, poolKey: string, authKey: string): Promise<BackendError | undefined> {
    const opened = await this.open(login);
    if (!opened.ok) return opened.error;
    if (this.settings.authCacheTtlMs > 0) this.authCache.set(authKey, Date.now() + this.settings.authCacheTtlMs);
    if (this.pickMember(poolKey) === undefined && !this.shuttingDown) {
      this.adopt(poolKey, opened.model, login);
    } else {
      opened.model.on("error", () => {});
      opened.model.close().catch(() => {});
    }
    return undefined;
  }

  private async openMember(login: Login, poolKey: string): Promise<AttachOutcome> {
    const opened = await this.open(login);
    if (!opened.ok) return opened;
    if (this.shuttingDown) {
      opened.model.on("error", () => {});
      opened.model.close().catch(() => {});
      return { ok: false, error: { kind: "unavailable", message: "the adapter is shutting down" } };
    }
    return { ok: true, connection: this.adopt(poolKey, opened.model, login) };
  }

  private adopt(poolKey: string, model: amqp.ChannelModel, login: Login): PooledConnection {
    const name = `vhost '${login.vhost}' user '${login.username}' #${this.connectionCounter}`;
    const { prefetch, idleConnectionMs, log } = this.settings;
    const connection = new PooledConnection(model, name, prefetch, idleConnectionMs, log, (closed) => {
      const list = this.members.get(poolKey);
      const index = list?.indexOf(closed) ?? -1;
      if (list !== undefined && index >= 0) list.splice(index, 1);
      if (list?.length === 0) this.members.delete(poolKey);
    });
    const list = this.members.get(poolKey);
    if (list === undefined) this.members.set(poolKey, [connection]);
    else list.push(connection);
    this.settings.log.info(`opened AMQP connection ${name} (channel_max ${connection.channelMax})`);
    return connection;
  }

  /** The live, not-full connection with the fewest sessions. */
  private pickMember(poolKey: string): PooledConnection | undefined {
    let best: PooledConnection | undefined;
    for (const connection of this.members.get(poolKey) ?? []) {
      if (connection.dead !== undefined || connection.full) continue;
      if (best === undefined || connection.sessions.size < best.sessions.size) best = connection;
    }
    return best;
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
