/**
 * The shared confirm-mode publish channel of one pooled AMQP connection: every session of that
 * connection publishes here, so a client that publishes costs RabbitMQ nothing of its own.
 *
 * Why shared and how a refusal is contained: RabbitMQ closes the channel at the first publish it
 * refuses (403 no write permission / topic permission, 404 no exchange), and every unconfirmed
 * publish on it is then unconfirmed forever. We keep each unconfirmed publish (in publish order)
 * with its owner and, on such a close:
 * - fail exactly the publishes the close text names (RabbitMQ says which routing key, or which
 *   exchange: then all publishes to it, which would all be refused alike since a pool is one user);
 *   a QoS >= 1 publish resolves with the refusal, a QoS 0 one ends its session (`onRefused`);
 * - re-publish every other QoS >= 1 publish on a fresh channel, in the original order, ahead of
 *   anything published meanwhile (per-client order kept; a message may arrive twice: at least
 *   once, as DESIGN.md allows). A confirmed publish was already resolved and is never touched.
 * - innocent QoS 0 publishes caught in the close are dropped (at most once; keeping a copy of
 *   every QoS 0 payload just for this rare case would cost more than it is worth).
 *
 * Payloads: amqplib copies the content into its frame synchronously inside publish() (checked in
 * amqplib 0.10.9 lib/connection.js sendMessage / frame.js makeBodyFrame), so a QoS 0 payload sent
 * at once is wrapped as a Buffer over the caller's memory without copying. A QoS >= 1 payload is
 * copied once, because it must survive until its confirm for a possible re-publish; so is
 * anything that has to wait for a channel.
 *
 * Flow control: `paused` is true while amqplib's write buffer is over its high-water mark (until
 * 'drain') or too many publishes wait for a channel; the connection turns that into
 * `publishBlocked` for its sessions, which stop reading their sockets. Nothing grows unbounded.
 *
 * Invariants: every entry is in exactly one of `unconfirmed` (sent on the current channel) or
 * `waiting` (to send once a channel is open); an entry's `resolve` is called exactly once.
 */
import type { ChannelModel, ConfirmChannel, Options } from "amqplib";
import type { BackendError } from "../backend.ts";
import { fromOperationError, refusalTarget } from "./errors.ts";
import { closeQuietly } from "./ops-channels.ts";

/** Publishes waiting for a channel beyond which publishers are paused. */
const WAITING_HIGH_WATER = 256;

/** One publish, from the session's call until its confirm (or failure). */
export interface PublishEntry {
  exchange: string;
  routingKey: string;
  /** Kept until the confirm for QoS >= 1 (a copy); for QoS 0 only until sent. */
  content: Buffer;
  options: Options.Publish;
  qos: number;
  /** Size of the content in bytes (the content itself is dropped once a QoS 0 publish is sent). */
  bytes: number;
  /** QoS >= 1: called once with undefined (confirmed) or the refusal. QoS 0: not called. */
  resolve: ((error: BackendError | undefined) => void) | undefined;
  /** For a refused QoS 0 publish, which has nobody waiting: tells its session. */
  onRefused: (error: BackendError) => void;
  /** Set when the publish reaches a shared fan-out of this process (local-qos0.ts). */
  local: LocalPublishHooks | undefined;
}

/** What local delivery (local-qos0.ts) needs to hear about a publish that reaches one of its fan-outs. */
export interface LocalPublishHooks {
  /** Once confirmed, mark exchange + routing key as verified. */
  readonly verify: boolean;
  /** RabbitMQ discarded the publish: its copy will not come back to the fan-out. */
  discarded(): void;
}

/** Verified routing keys kept per exchange (beyond it the set starts again: a bound, not a tuning knob). */
const VERIFIED_MAX = 4096;

export class PublishChannel {
  private channel: ConfirmChannel | undefined;
  private opening = false;
  private readonly unconfirmed = new Set<PublishEntry>();
  private waiting: PublishEntry[] = [];
  private writeBlocked = false;
  private closed = false;
  private pausedNow = false;
  private readonly flushWaiters: Array<() => void> = [];
  /**
   * Exchange → routing keys RabbitMQ has confirmed a publish to on the current channel: it would
   * take another one (it checks permissions once per channel too). Local delivery (local-qos0.ts)
   * relies on it; dropped with the channel.
   */
  private verified = new Map<string, Set<string>>();

  constructor(
    private readonly connection: ChannelModel,
    /** Called when `paused` changes. */
    private readonly onPausedChange: (paused: boolean) => void,
    private readonly logWarning: (message: string) => void,
  ) {}

  /** True while publishers should stop (write buffer full, or too many waiting for a channel). */
  get paused(): boolean {
    return this.pausedNow;
  }

  /** Whether RabbitMQ confirmed a publish to `exchange` with `routingKey` on the current channel. */
  isVerified(exchange: string, routingKey: string): boolean {
    return this.verified.get(exchange)?.has(routingKey) === true;
  }

  /** Publishes not yet confirmed or failed. */
  get pendingCount(): number {
    return this.unconfirmed.size + this.waiting.length;
  }

  /** Sends now if a channel is open and nothing waits ahead; else queues (copying the content). */
  publish(entry: PublishEntry): void {
    if (this.closed) {
      entry.resolve?.({ kind: "unavailable", message: "the AMQP connection is closed" });
      return;
    }
    if (this.channel !== undefined && this.waiting.length === 0) {
      this.send(this.channel, entry);
      return;
    }
    if (entry.qos === 0) entry.content = Buffer.from(entry.content); // the caller's view dies soon
    this.waiting.push(entry);
    this.updatePaused();
    this.ensureChannel();
  }

  /** Resolves once nothing is pending (or after `timeoutMs`): for a graceful shutdown. */
  flush(timeoutMs: number): Promise<void> {
    if (this.pendingCount === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.flushWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The connection is gone: fail everything pending with `error`. */
  fail(error: BackendError): void {
    this.closed = true;
    // Never sent: RabbitMQ has none of them. (Whether the unconfirmed ones were routed is unknown.)
    for (const entry of this.waiting) entry.local?.discarded();
    const entries = [...this.unconfirmed, ...this.waiting];
    this.unconfirmed.clear();
    this.waiting = [];
    for (const entry of entries) entry.resolve?.(error);
    this.channel = undefined;
    this.verified = new Map();
    this.checkFlushed();
  }

  /** Fails the publishes waiting for a channel: QoS >= 1 with the error, QoS 0 by ending their sessions. */
  private failWaiting(error: BackendError): void {
    const entries = this.waiting;
    this.waiting = [];
    const owners = new Set<PublishEntry["onRefused"]>();
    for (const entry of entries) {
      entry.local?.discarded();
      if (entry.resolve !== undefined) entry.resolve(error);
      else owners.add(entry.onRefused);
    }
    for (const onRefused of owners) onRefused(error);
    this.updatePaused();
    this.checkFlushed();
  }

  private send(channel: ConfirmChannel, entry: PublishEntry): void {
    this.unconfirmed.add(entry);
    let writable: boolean;
    try {
      writable = channel.publish(entry.exchange, entry.routingKey, entry.content, entry.options, (error) =>
        this.onConfirm(entry, error),
      );
    } catch {
      // amqplib throws when the channel is already closing (its 'close' event is still to come):
      // the entry waits for the next channel like the ones the close handler will re-publish.
      this.unconfirmed.delete(entry);
      if (entry.qos === 0) entry.content = Buffer.from(entry.content);
      this.waiting.push(entry);
      this.updatePaused();
      return;
    }
    if (entry.qos === 0) {
      // Accepted for sending: nothing to wait for, but the entry stays in `unconfirmed` (without
      // its content, which was the caller's memory) until the broker confirms or refuses it.
      entry.content = EMPTY;
    }
    if (!writable && !this.writeBlocked) {
      this.writeBlocked = true;
      this.updatePaused();
    }
  }

  private onConfirm(entry: PublishEntry, error: unknown): void {
    if (!this.unconfirmed.has(entry)) return;
    if (error instanceof Error && error.message === "channel closed") {
      // amqplib reports every unconfirmed publish of a closing channel this way, before the
      // channel's 'close' event: leave the entry for `onChannelClosed` to decide.
      return;
    }
    this.unconfirmed.delete(entry);
    const confirmed = error === null || error === undefined;
    if (confirmed && entry.local?.verify === true) this.markVerified(entry);
    if (confirmed) entry.resolve?.(undefined);
    else entry.resolve?.({ kind: "failed", message: "RabbitMQ could not take responsibility for the message (basic.nack)" });
    this.checkFlushed();
  }

  private markVerified(entry: PublishEntry): void {
    let keys = this.verified.get(entry.exchange);
    if (keys === undefined) this.verified.set(entry.exchange, (keys = new Set()));
    if (keys.size >= VERIFIED_MAX) keys.clear();
    keys.add(entry.routingKey);
  }

  private ensureChannel(): void {
    if (this.opening || this.channel !== undefined || this.closed) return;
    this.opening = true;
    this.connection.createConfirmChannel().then(
      (channel) => {
        this.opening = false;
        if (this.closed) {
          closeQuietly(channel);
          return;
        }
        let closeError: unknown;
        channel.on("error", (error: unknown) => (closeError = error));
        channel.on("close", () => this.onChannelClosed(channel, closeError));
        channel.on("drain", () => {
          if (!this.writeBlocked) return;
          this.writeBlocked = false;
          this.updatePaused();
        });
        this.channel = channel;
        this.writeBlocked = false;
        const queued = this.waiting;
        this.waiting = [];
        for (const entry of queued) {
          if (this.channel !== channel) {
            this.waiting.push(entry); // closed again while replaying: wait for the next one
          } else {
            this.send(channel, entry);
          }
        }
        this.updatePaused();
      },
      (error: unknown) => {
        this.opening = false;
        // The connection is closing (the pool will call fail()) or, in theory, out of channels:
        // fail what waits now, and let the next publish try again.
        this.failWaiting(fromOperationError(error));
      },
    );
  }

  private onChannelClosed(channel: ConfirmChannel, closeError: unknown): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    this.verified = new Map();
    const entries = [...this.unconfirmed];
    this.unconfirmed.clear();
    if (closeError === undefined || this.closed) {
      // No close frame from the broker: the connection itself is going, and the pool will call
      // fail(). Should the connection still be alive after all, carry on on a fresh channel.
      // QoS 0 ones were sent and their content released: at most once, they are not re-sent.
      this.waiting = [...entries.filter((e) => e.qos > 0), ...this.waiting];
      setImmediate(() => {
        if (this.waiting.length > 0) this.ensureChannel();
      });
      return;
    }
    const refusal = fromOperationError(closeError);
    const culprits = findCulprits(entries, refusal.message);
    this.logWarning(
      `RabbitMQ closed the shared publish channel (${refusal.message}); failing ${culprits.size} publish(es), ` +
        `re-publishing ${[...entries].filter((e) => !culprits.has(e) && e.qos > 0).length}`,
    );
    const replay: PublishEntry[] = [];
    const refusedOwners = new Set<PublishEntry["onRefused"]>();
    // RabbitMQ routed every publish before the first refused one and none from it on.
    let routed = true;
    for (const entry of entries) {
      const culprit = culprits.has(entry);
      if (culprit) routed = false;
      if (!routed && (culprit || entry.qos === 0)) entry.local?.discarded();
      if (culprit) {
        if (entry.resolve !== undefined) entry.resolve(refusal);
        else refusedOwners.add(entry.onRefused);
      } else if (entry.qos > 0) {
        replay.push(entry);
      }
    }
    for (const onRefused of refusedOwners) onRefused(refusal);
    this.waiting = [...replay, ...this.waiting];
    this.updatePaused();
    if (this.waiting.length > 0) this.ensureChannel();
    this.checkFlushed();
  }

  private updatePaused(): void {
    const paused = this.writeBlocked || this.waiting.length >= WAITING_HIGH_WATER;
    if (paused === this.pausedNow) return;
    this.pausedNow = paused;
    this.onPausedChange(paused);
  }

  private checkFlushed(): void {
    if (this.pendingCount === 0) for (const wake of this.flushWaiters.splice(0)) wake();
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Which unconfirmed publishes a channel-close text refers to. RabbitMQ processes a channel's
 * publishes in order and stops at the first refusal, so when the text names nothing we can match
 * (e.g. a 406 for an over-sized message) the earliest unconfirmed publish is the best guess.
 */
function findCulprits(entries: PublishEntry[], text: string): Set<PublishEntry> {
  const target = refusalTarget(text);
  if (target !== undefined) {
    const named = entries.filter(
      (e) => e.exchange === target.exchange && (!("routingKey" in target) || e.routingKey === target.routingKey),
    );
    if (named.length > 0) return new Set(named);
  }
  const size = /message size (\d+)/.exec(text);
  if (size !== null) {
    const sized = entries.find((e) => e.bytes === Number(size[1]));
    if (sized !== undefined) return new Set([sized]);
  }
  return new Set(entries.slice(0, 1));
}
