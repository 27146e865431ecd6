/**
 * The AMQP connections one session uses (user-connections.ts explains the roles):
 *
 *   connection | from                          | used for
 *   -----------+-------------------------------+-------------------------------------------
 *   home       | connect (the pool's choice)   | the connect-time queue checks
 *   publish    | the session's first publish   | its PUBLISHes and will (shared publish channel)
 *   consume    | its first SUBSCRIBE or stored | queue declare/bind/unbind/delete, its consumer
 *              | queue                         |
 *
 * Each is acquired from the user's pool at first need, with the client's own credentials if a
 * connection must be opened. The session is attached to each (so it hears when one is lost, and
 * keeps it from closing as idle) until it ends. A connection that cannot be had ends the session:
 * the broker is unreachable or the credentials no longer work, so the client must reconnect.
 *
 * Publishes made while the publish connection is being acquired wait in `queued`, in call order,
 * and go to the channel before any later publish (QoS 0 ones copied by the caller and resolved
 * once handed over, so the protocol's in-flight limit bounds them).
 */
import type { BackendError } from "../backend.ts";
import type { Login } from "./pool.ts";
import type { PooledConnection, SessionLink } from "./pooled-connection.ts";
import type { PublishChannel, PublishEntry } from "./publish-channel.ts";
import type { Acquired, UserConnections } from "./user-connections.ts";

/** The session the connections are for: whether it ended, and how to end it. */
export interface ConnectionUser extends SessionLink {
  /** Why the session ended (closed or lost); undefined while it lives. */
  readonly endedBecause: BackendError | undefined;
}

/** A publish waiting for the publish connection. */
interface QueuedPublish {
  entry: PublishEntry;
  /** Resolves the caller's promise: with undefined once handed over (QoS 0), or with a failure. */
  settle: (error: BackendError | undefined) => void;
}

export class SessionConnections {
  /** Connections whose loss ends the session, each attached to it. */
  private readonly dependsOn = new Set<PooledConnection>();
  private publishing: PooledConnection | undefined;
  /** Publishes waiting for `publishing` (set while it is being acquired). */
  private queued: QueuedPublish[] | undefined;
  private consuming: PooledConnection | undefined;

  constructor(
    readonly user: UserConnections,
    /** The client's own credentials: a connection this session is the first to need opens with them. */
    private readonly login: Login,
    home: PooledConnection,
    private readonly session: ConnectionUser,
  ) {
    this.dependOn(home);
  }

  /** The publish channel, when a publish may go straight to it (acquired, and nothing queued ahead). */
  get publisher(): PublishChannel | undefined {
    return this.queued === undefined ? this.publishing?.publisher : undefined;
  }

  /** The consume connection if the session has acquired it (else it never had a queue of its own). */
  get consumeConnection(): PooledConnection | undefined {
    return this.consuming;
  }

  /** Queues `entry` until the publish connection is there (acquired once for everything queued). */
  queuePublish(entry: PublishEntry, settle: (error: BackendError | undefined) => void): void {
    if (this.queued !== undefined) {
      this.queued.push({ entry, settle });
      return;
    }
    this.queued = [{ entry, settle }];
    void Promise.resolve(this.user.acquire("publish", this.login)).then((acquired) => {
      const waiting = this.queued ?? [];
      this.queued = undefined;
      const failure = this.use(acquired, (connection) => (this.publishing = connection));
      if (failure !== undefined) {
        for (const queued of waiting) queued.settle(failure);
        return;
      }
      const publisher = this.publishing!.publisher;
      for (const queued of waiting) {
        publisher.publish(queued.entry);
        if (queued.entry.resolve === undefined) queued.settle(undefined); // QoS 0: handed over is done
      }
    });
  }

  /** The consume connection, acquired at the first need; call it from one operation at a time. */
  async consume(): Promise<Acquired> {
    if (this.consuming !== undefined) return { ok: true, connection: this.consuming };
    const acquired = await this.user.acquire("consume", this.login);
    const failure = this.use(acquired, (connection) => (this.consuming = connection));
    return failure === undefined ? acquired : { ok: false, error: failure };
  }

  /** The session ended: no connection waits for it any longer, nor does its user's blocked notice. */
  detachAll(): void {
    for (const connection of this.dependsOn) connection.detach(this.session);
    this.dependsOn.clear();
    this.user.leave(this.session);
  }

  /** Takes an acquired connection into use (`keep` it, depend on it), or returns why not (ending the session). */
  private use(acquired: Acquired, keep: (connection: PooledConnection) => void): BackendError | undefined {
    const ended = this.session.endedBecause;
    if (ended !== undefined) return ended;
    if (!acquired.ok) {
      this.session.lost(acquired.error);
      return acquired.error;
    }
    const { connection } = acquired;
    if (connection.dead !== undefined) {
      this.session.lost(connection.dead);
      return connection.dead;
    }
    keep(connection);
    this.dependOn(connection);
    return undefined;
  }

  private dependOn(connection: PooledConnection): void {
    if (this.dependsOn.has(connection)) return;
    this.dependsOn.add(connection);
    connection.attach(this.session);
  }
}
