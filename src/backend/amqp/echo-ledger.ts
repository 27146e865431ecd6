/**
 * The publishes of this process that a shared QoS 0 fan-out queue is still to receive back from
 * RabbitMQ ("echoes"), so that its consumer can recognise them (local-qos0.ts says why they come
 * back and what is done with them).
 *
 * AMQP gives a message no identity of its own that would survive the trip without being visible
 * to AMQP consumers, so an echo is recognised by what the fan-out's clients would get from it:
 * routing key, payload bytes and publisher QoS (qos0-fanout.ts builds a delivery from nothing
 * else). Two messages equal in all three are interchangeable for every client, so taking the
 * wrong one of two equal messages changes nothing anybody can observe.
 *
 * An echo known not to come (RabbitMQ discarded the publish: PublishChannel says so) is withdrawn.
 * One that never comes for a reason nobody tells us (the binding was removed while the message
 * was on its way, the connection died with the publish unconfirmed) is forgotten after
 * `ECHO_TIMEOUT_MS`; until then a message equal to it from elsewhere would be taken for it (at
 * QoS 0 a lost message is allowed, a duplicate is not, so forgetting late is the safe side).
 *
 * Invariants: each key's list is in the order `expect` was called (so its expired entries are at
 * the front); `count` is the number of entries in all lists; every entry's `onSeen` is called at
 * most once: by the consumer when its echo arrives, here when it expires or the ledger is cleared.
 */

/** How long an expected echo is waited for. */
export const ECHO_TIMEOUT_MS = 30_000;
/** Entries at most; `expect` refuses beyond (a bound on memory if RabbitMQ stops delivering). */
export const ECHO_LEDGER_MAX = 100_000;
/** How often `expect` also forgets expired entries of keys nobody takes from. */
const SWEEP_INTERVAL_MS = 5_000;

export interface ExpectedEcho {
  /** Where it is kept, for `withdraw`. */
  ledger: EchoLedger;
  routingKey: string;
  payload: Buffer;
  qos: number;
  expiresAt: number;
  /**
   * Undefined: the message was delivered locally, drop its echo. Else: deliver it, then call this
   * with true; with false if it is forgotten instead (expired, cleared).
   */
  onSeen: ((arrived: boolean) => void) | undefined;
}

export class EchoLedger {
  private readonly byKey = new Map<string, ExpectedEcho[]>();
  private count = 0;
  /** No timer (one per message would cost more than the work): `expect` sweeps when it is due. */
  private nextSweepAt = 0;

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.count;
  }

  /** Records an expected echo (the payload is copied). False when the ledger is full. */
  expect(routingKey: string, payload: Uint8Array, qos: number, onSeen: ((arrived: boolean) => void) | undefined): ExpectedEcho | undefined {
    const now = this.now();
    if (now >= this.nextSweepAt) {
      this.nextSweepAt = now + SWEEP_INTERVAL_MS;
      this.sweep();
    }
    if (this.count >= ECHO_LEDGER_MAX) return undefined;
    const entry: ExpectedEcho = { ledger: this, routingKey, payload: Buffer.from(payload), qos, expiresAt: now + ECHO_TIMEOUT_MS, onSeen };
    const list = this.byKey.get(routingKey);
    if (list === undefined) this.byKey.set(routingKey, [entry]);
    else list.push(entry);
    this.count++;
    return entry;
  }

  /**
   * The message will not come back after all (RabbitMQ discarded its publish): forgets the entry
   * (its `onSeen(false)` called) unless it is gone already.
   */
  withdraw(entry: ExpectedEcho): void {
    const list = this.byKey.get(entry.routingKey);
    const at = list?.indexOf(entry) ?? -1;
    if (at < 0) return;
    list!.splice(at, 1);
    this.count--;
    if (list!.length === 0) this.byKey.delete(entry.routingKey);
    entry.onSeen?.(false);
  }

  /** If a message is an expected echo: that entry, removed from the ledger. */
  take(routingKey: string, content: Uint8Array, qos: number): ExpectedEcho | undefined {
    const list = this.byKey.get(routingKey);
    if (list === undefined) return undefined;
    this.dropExpired(list, this.now());
    for (let i = 0; i < list.length; i++) {
      const entry = list[i]!;
      if (entry.qos !== qos || !entry.payload.equals(content)) continue;
      list.splice(i, 1);
      this.count--;
      if (list.length === 0) this.byKey.delete(routingKey);
        return entry;
    }
    if (list.length === 0) this.byKey.delete(routingKey);
    return undefined;
  }

  /** Forgets every entry (their `onSeen(false)` called): the queue they were expected on is gone. */
  clear(): void {
    const lists = [...this.byKey.values()];
    this.byKey.clear();
    this.count = 0;
    for (const list of lists) for (const entry of list) entry.onSeen?.(false);
  }

  /** Forgets the expired entries of every key. */
  sweep(): void {
    const now = this.now();
    for (const [key, list] of this.byKey) {
      this.dropExpired(list, now);
      if (list.length === 0) this.byKey.delete(key);
    }
  }

  private dropExpired(list: ExpectedEcho[], now: number): void {
    let expired = 0;
    while (expired < list.length && list[expired]!.expiresAt <= now) expired++;
    if (expired === 0) return;
    const gone = list.splice(0, expired);
    this.count -= expired;
    for (const entry of gone) entry.onSeen?.(false);
  }
}
