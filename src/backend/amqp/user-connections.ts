/**
 * The AMQP connections of one (vhost, user) pool, each with one role:
 *
 *   role     | carries                                  | blocked by a memory/disk alarm?
 *   ---------+------------------------------------------+-----------------------------------------
 *   publish  | the shared confirm-mode publish channel  | yes: RabbitMQ stops reading it as soon
 *            | (every session's PUBLISH and will), and  | as it publishes during the alarm
 *            | connect-time queue checks while unblocked|
 *   consume  | consumer channels (deliveries, acks) and | no: it never publishes, so RabbitMQ keeps
 *            | ops channels (declare, bind, delete, …)  | reading it (acks drain queues, which is
 *            |                                          | what usually ends a memory alarm)
 *   (none)   | the login connection until a role is     | no
 *            | needed; connect-time queue checks        |
 *
 * Why two roles and not one shared connection: RabbitMQ blocks a whole connection (it stops
 * reading its socket) once that connection publishes during a resource alarm; everything else
 * on it (acks, basic.consume, queue.declare, queue.bind) then waits until the alarm clears. With
 * publishes on a connection of their own, a publish held by an alarm delays only publishes.
 * RabbitMQ's own advice is the same: publish and consume on separate connections.
 *
 * Lazily: the login (authentication) connection stays in the pool without a role and becomes the
 * first member of whichever role is needed first, so a client that only publishes holds one
 * connection and a client that only subscribes holds one too; a user whose clients do both has
 * two. Connect-time checks (delete a leftover clean-session queue, find a stored one) run on the
 * consume connection if there is one, else on the role-less one, else on the publish connection
 * unless publishing is blocked, and only then open the consume connection. (A check sent to the
 * publish connection in the instant between RabbitMQ blocking it and its connection.blocked
 * arriving waits for the alarm to clear; a window of one round trip, accepted so that publish-only
 * users, e.g. one RabbitMQ user per device, need one connection, not two.)
 *
 * Flow control: `publishBlocked` is true while a publish connection is blocked (connection.blocked,
 * or its write buffer full); every session of the pool is told when that changes, and the
 * protocol then pauses only the clients that PUBLISH meanwhile. A connection.blocked on a
 * connection without the publish role (RabbitMQ sends it only to connections that published, so
 * in practice never) is logged and pauses nobody.
 *
 * Invariants: `members` holds the live connections of this pool (a closed one is removed by
 * `connectionClosed`); a member's role, once set, never changes; at most one open per role is in
 * flight (`opening`); `sessions` holds the sessions not yet closed or lost.
 */
import type { BackendError } from "../backend.ts";
import type { Login } from "./pool.ts";
import type { ConnectionOwner, ConnectionRole, PooledConnection, SessionLink } from "./pooled-connection.ts";

export type { ConnectionRole } from "./pooled-connection.ts";

/** A pool member for the caller, or why none could be had. */
export type Acquired = { ok: true; connection: PooledConnection } | { ok: false; error: BackendError };

/** Opens a new AMQP connection as `login` (authenticated, with backoff) owned by `owner`. */
export type OpenConnection = (login: Login, owner: ConnectionOwner) => Promise<Acquired>;

export class UserConnections implements ConnectionOwner {
  /** Live connections of this pool, in the order they opened. */
  readonly members: PooledConnection[] = [];
  /** Sessions of this (vhost, user) not yet closed or lost: told when publishing is (un)blocked. */
  private readonly sessions = new Set<SessionLink>();
  private readonly opening = new Map<ConnectionRole, Promise<Acquired>>();
  private blockedNow = false;
  /** Connects in progress (authenticating or choosing a connection): the pool keeps this object. */
  pending = 0;

  constructor(
    private readonly open: OpenConnection,
    /** Called when nothing is left (no member, session, open or connect): the pool forgets us. */
    private readonly onEmpty: (user: UserConnections) => void,
  ) {}

  /** True while a publish connection of this user is blocked: a PUBLISH now waits. */
  get publishBlocked(): boolean {
    return this.blockedNow;
  }

  /** Live members, optionally only those of one role. */
  count(role?: ConnectionRole): number {
    let n = 0;
    for (const member of this.members) if (member.dead === undefined && (role === undefined || member.role === role)) n++;
    return n;
  }

  /** Adds a connection the pool opened for a login (no role yet). */
  add(connection: PooledConnection): void {
    this.members.push(connection);
  }

  /**
   * A connection for the connect-time queue checks: one that never blocks if there is one, the
   * publish connection while it is not blocked, else a consume connection (opened if need be).
   */
  forConnect(login: Login): Promise<Acquired> | Acquired {
    const usable = this.pick("consume") ?? this.pick(undefined);
    if (usable !== undefined) return { ok: true, connection: usable };
    const publisher = this.pick("publish");
    if (publisher !== undefined && !publisher.publishBlocked) return { ok: true, connection: publisher };
    return this.acquire("consume", login);
  }

  /** The connection for `role`: a member with it, the role-less login connection, or a new one. */
  acquire(role: ConnectionRole, login: Login): Promise<Acquired> | Acquired {
    const member = this.pick(role);
    if (member !== undefined) return { ok: true, connection: member };
    const spare = this.pick(undefined);
    if (spare !== undefined) {
      spare.assign(role);
      this.updateBlocked();
      return { ok: true, connection: spare };
    }
    let opening = this.opening.get(role);
    if (opening === undefined) {
      opening = this.openFor(role, login).finally(() => {
        this.opening.delete(role);
        this.checkEmpty();
      });
      this.opening.set(role, opening);
    }
    return opening;
  }

  /** A session of this user starts: it hears about publishing being blocked from now on. */
  join(session: SessionLink): void {
    this.sessions.add(session);
  }

  leave(session: SessionLink): void {
    this.sessions.delete(session);
    this.checkEmpty();
  }

  /** Called by the pool once a connect is done with this object (`pending` went down). */
  checkEmpty(): void {
    if (this.members.length === 0 && this.sessions.size === 0 && this.opening.size === 0 && this.pending === 0) this.onEmpty(this);
  }

  /** ConnectionOwner: a member's publish-blocked state changed. */
  publishBlockedChanged(): void {
    this.updateBlocked();
  }

  /** ConnectionOwner: a member closed; it is no longer handed out. */
  connectionClosed(connection: PooledConnection): void {
    const index = this.members.indexOf(connection);
    if (index >= 0) this.members.splice(index, 1);
    this.updateBlocked();
    this.checkEmpty();
  }

  private async openFor(role: ConnectionRole, login: Login): Promise<Acquired> {
    const opened = await this.open(login, this);
    if (!opened.ok) return opened;
    opened.connection.assign(role);
    this.members.push(opened.connection);
    this.updateBlocked();
    return opened;
  }

  /** The live, not-full member of `role` (undefined: without a role) with the fewest sessions. */
  private pick(role: ConnectionRole | undefined): PooledConnection | undefined {
    let best: PooledConnection | undefined;
    for (const connection of this.members) {
      if (connection.role !== role || connection.dead !== undefined || connection.full) continue;
      if (best === undefined || connection.sessions.size < best.sessions.size) best = connection;
    }
    return best;
  }

  private updateBlocked(): void {
    const blocked = this.members.some((m) => m.role === "publish" && m.dead === undefined && m.publishBlocked);
    if (blocked === this.blockedNow) return;
    this.blockedNow = blocked;
    for (const session of [...this.sessions]) session.publishBlocked(blocked);
  }
}
