/**
 * Channels for operations RabbitMQ may refuse (queue.declare, passive declares, queue.bind,
 * queue.unbind, queue.delete, the basic.get read probe), leased to ONE session at a time.
 *
 * Why: any refused operation (403 on a bind, 404 on a passive declare) closes the whole channel it
 * ran on. Running them on channels nobody else is using at that moment means one client's refusal
 * can never close a channel another client depends on (its consumer, its unconfirmed publishes).
 * A channel whose operation failed is simply dropped; a healthy one goes back to a small idle list
 * so the common case (declare + bind on a reused channel) costs no channel.open round trip.
 *
 * Invariants: a channel is in `idle` only if it is open and not leased; `openCount` counts idle
 * plus leased plus opening channels and never exceeds `limit`; waiters are served in FIFO order.
 */
import type { Channel, ChannelModel } from "amqplib";
import type { BackendError } from "../backend.ts";
import { fromOperationError } from "./errors.ts";

/** How many healthy idle channels to keep per connection for the next operations. */
const IDLE_KEEP = 64;

/** Closes a channel that may already be closed, ignoring the outcome (nobody waits for it). */
export function closeQuietly(channel: { close(): Promise<void> }): void {
  try {
    channel.close().catch(() => {});
  } catch {
    // amqplib throws synchronously on a channel that is already closed: nothing left to do.
  }
}

export type OpResult<T> = { ok: true; value: T } | { ok: false; error: BackendError };

export class OpsChannels {
  private readonly idle: Channel[] = [];
  private openCount = 0;
  private readonly waiters: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly connection: ChannelModel,
    /** Most channels this pool may hold open at once (channel_max minus the shared channels). */
    private readonly limit: number,
  ) {}

  /** Channels open or being opened for operations (for the pool's "is this connection full" test). */
  get inUse(): number {
    return this.openCount;
  }

  /** A lease for one session's sequence of operations; `release()` it when done. */
  lease(): OpsLease {
    return new OpsLease(this);
  }

  /** Closes idle channels and refuses further leases (the connection is going away). */
  close(): void {
    this.closed = true;
    for (const channel of this.idle.splice(0)) closeQuietly(channel);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** @internal An open channel for a lease: an idle one, a new one, or the next one released. */
  async acquire(): Promise<OpResult<Channel>> {
    for (;;) {
      if (this.closed) return { ok: false, error: { kind: "unavailable", message: "the AMQP connection is closing" } };
      const reused = this.idle.pop();
      if (reused !== undefined) return { ok: true, value: reused };
      if (this.openCount < this.limit) break;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.openCount++;
    try {
      const channel = await this.connection.createChannel();
      // amqplib emits 'error' when the broker closes the channel; the failed operation's promise
      // already carries the reason, so the event only needs a listener (else it would throw).
      channel.on("error", () => {});
      channel.on("close", () => this.forget(channel));
      return { ok: true, value: channel };
    } catch (error) {
      this.openCount--;
      this.wakeOne();
      return { ok: false, error: fromOperationError(error) };
    }
  }

  /** @internal A healthy channel back from a lease. */
  giveBack(channel: Channel): void {
    if (this.closed || this.idle.length >= IDLE_KEEP) {
      closeQuietly(channel);
      return;
    }
    this.idle.push(channel);
    this.wakeOne();
  }

  private forget(channel: Channel): void {
    const index = this.idle.indexOf(channel);
    if (index >= 0) this.idle.splice(index, 1);
    this.openCount--;
    this.wakeOne();
  }

  private wakeOne(): void {
    this.waiters.shift()?.();
  }
}

/**
 * One session's use of an ops channel. Operations run one after another on the same channel
 * while they succeed; after a failure the channel is gone (the broker closed it) and the next
 * operation gets a fresh one.
 */
export class OpsLease {
  private channel: Channel | undefined;
  private broken = false;

  constructor(private readonly pool: OpsChannels) {}

  /** Runs `operation` on the leased channel; a failure comes back as a value. */
  async run<T>(operation: (channel: Channel) => Promise<T>): Promise<OpResult<T>> {
    if (this.channel === undefined || this.broken) {
      this.broken = false;
      const acquired = await this.pool.acquire();
      if (!acquired.ok) return acquired;
      this.channel = acquired.value;
    }
    try {
      return { ok: true, value: await operation(this.channel) };
    } catch (error) {
      // The broker closed the channel (or the connection went): never reuse it. Closing is a
      // no-op then; it matters only if amqplib refused the call before sending anything.
      this.broken = true;
      const failed = this.channel;
      this.channel = undefined;
      closeQuietly(failed);
      return { ok: false, error: fromOperationError(error) };
    }
  }

  /** Returns a healthy channel to the idle list. Safe to call more than once. */
  release(): void {
    const channel = this.channel;
    this.channel = undefined;
    if (channel !== undefined && !this.broken) this.pool.giveBack(channel);
  }
}

/**
 * Checks read permission on `queue` with basic.get on the session's own ops channel, where a
 * refusal closes nothing shared. A message it happens to take goes straight back to the head of
 * the queue (and is then delivered marked redelivered).
 */
export async function probeRead(lease: OpsLease, queue: string): Promise<BackendError | undefined> {
  const probed = await lease.run(async (ch) => {
    const message = await ch.get(queue, { noAck: false });
    if (message !== false) ch.reject(message, true);
  });
  return probed.ok ? undefined : probed.error;
}
