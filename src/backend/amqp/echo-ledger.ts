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
/**
 * Entries and payload bytes at most; `expect` refuses beyond (a bound on memory should RabbitMQ
 * stop delivering). The caller then sends that message the normal way (local-qos0.ts).
 */
export const ECHO_LEDGER_MAX = 100_000;
export const ECHO_LEDGER_MAX_BYTES = 16 * 1024 * 1024;
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

/**
 * The entries of one routing key, oldest first: `items[head..]`. Echoes mostly come back in the
 * order they were expected, so the one taken is nearly always the front, taken by moving `head`
 * (a splice there would move every entry behind it: quadratic under load).
 */
class KeyEntries {
  items: Array<ExpectedEcho | undefined> = [];
  head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** Removes the entry at `index` (>= head). */
  removeAt(index: number): void {
    if (index !== this.head) {
      this.items.splice(index, 1);
      return;
    }
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

export class EchoLedger {
  private readonly byKey = new Map<string, KeyEntries>();
  private count = 0;
  private bytes = 0;
  /** No timer (one per message would cost more than the work): `expect` sweeps when it is due. */
  private nextSweepAt = 0;

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.count;
  }

  /** Records an expected echo (the payload is copied). Undefined when the ledger is full. */
  expect(routingKey: string, payload: Uint8Array, qos: number, onSeen: ((arrived: boolean) => void) | undefined): ExpectedEcho | undefined {
    const now = this.now();
    if (now >= this.nextSweepAt) {
      this.nextSweepAt = now + SWEEP_INTERVAL_MS;
      this.sweep();
    }
    if (this.count >= ECHO_LEDGER_MAX || this.bytes + payload.byteLength > ECHO_LEDGER_MAX_BYTES) return undefined;
    const entry: ExpectedEcho = { ledger: this, routingKey, payload: Buffer.from(payload), qos, expiresAt: now + ECHO_TIMEOUT_MS, onSeen };
    let entries = this.byKey.get(routingKey);
    if (entries === undefined) this.byKey.set(routingKey, (entries = new KeyEntries()));
    entries.items.push(entry);
    this.count++;
    this.bytes += entry.payload.byteLength;
    return entry;
  }

  /**
   * The message will not come back after all (RabbitMQ discarded its publish): forgets the entry
   * (its `onSeen(false)` called) unless it is gone already.
   */
  withdraw(entry: ExpectedEcho): void {
    const entries = this.byKey.get(entry.routingKey);
    if (entries === undefined) return;
    const at = entries.items.indexOf(entry, entries.head);
    if (at < 0) return;
    this.remove(entry.routingKey, entries, at);
    entry.onSeen?.(false);
  }

  /** If a message is an expected echo: that entry, removed from the ledger. */
  take(routingKey: string, content: Uint8Array, qos: number): ExpectedEcho | undefined {
    const entries = this.byKey.get(routingKey);
    if (entries === undefined) return undefined;
    this.dropExpired(routingKey, entries, this.now());
    const { items } = entries;
    for (let i = entries.head; i < items.length; i++) {
      const entry = items[i]!;
      if (entry.qos !== qos || !entry.payload.equals(content)) continue;
      this.remove(routingKey, entries, i);
      return entry;
    }
    return undefined;
  }

  /** Forgets every entry (their `onSeen(false)` called): the queue they were expected on is gone. */
  clear(): void {
    const all = [...this.byKey.values()];
    this.byKey.clear();
    this.count = 0;
    this.bytes = 0;
    for (const entries of all) for (let i = entries.head; i < entries.items.length; i++) entries.items[i]!.onSeen?.(false);
  }

  /** Forgets the expired entries of every key. */
  sweep(): void {
    const now = this.now();
    for (const [key, entries] of this.byKey) this.dropExpired(key, entries, now);
  }

  private remove(routingKey: string, entries: KeyEntries, index: number): void {
    this.bytes -= entries.items[index]!.payload.byteLength;
    entries.removeAt(index);
    this.count--;
    if (entries.length === 0) this.byKey.delete(routingKey);
  }

  private dropExpired(routingKey: string, entries: KeyEntries, now: number): void {
    while (entries.length > 0) {
      const oldest = entries.items[entries.head]!;
      if (oldest.expiresAt > now) return;
      this.remove(routingKey, entries, entries.head);
      oldest.onSeen?.(false);
    }
  }
}
