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
 * Invariants: each bucket is in the order `expect` was called (so its expired entries are at the
 * front); no bucket or key map is left empty; `count` and `bytes` are the entries and payload
 * bytes of all buckets; every entry's `onSeen` is called at most once: by the consumer when its
 * echo arrives, here when it expires or the ledger is cleared.
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
  hash: number;
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
 * Entries of one routing key and payload hash, oldest first: `items[head..]`. Echoes mostly come
 * back in the order they were expected, so the one taken is nearly always the front, taken by
 * moving `head` (a splice there would move every entry behind it: quadratic under load).
 */
class Bucket {
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

/** Hash of a payload, to find its bucket: equal payloads share one; a collision only shares a bucket. */
const payloadHash = (payload: Uint8Array): number => Bun.hash.xxHash32(payload);

export class EchoLedger {
  /**
   * routing key → payload hash → entries. A message that is nobody's echo (an AMQP publisher's,
   * another adapter's) costs one lookup, not a comparison with every entry of its routing key.
   */
  private readonly byKey = new Map<string, Map<number, Bucket>>();
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
    const hash = payloadHash(payload);
    const entry: ExpectedEcho = { ledger: this, routingKey, hash, payload: Buffer.from(payload), qos, expiresAt: now + ECHO_TIMEOUT_MS, onSeen };
    let buckets = this.byKey.get(routingKey);
    if (buckets === undefined) this.byKey.set(routingKey, (buckets = new Map()));
    let bucket = buckets.get(hash);
    if (bucket === undefined) buckets.set(hash, (bucket = new Bucket()));
    bucket.items.push(entry);
    this.count++;
    this.bytes += entry.payload.byteLength;
    return entry;
  }

  /**
   * The message will not come back after all (RabbitMQ discarded its publish): forgets the entry
   * (its `onSeen(false)` called) unless it is gone already.
   */
  withdraw(entry: ExpectedEcho): void {
    const bucket = this.byKey.get(entry.routingKey)?.get(entry.hash);
    if (bucket === undefined) return;
    const at = bucket.items.indexOf(entry, bucket.head);
    if (at < 0) return;
    this.remove(entry.routingKey, entry.hash, bucket, at);
    entry.onSeen?.(false);
  }

  /** If a message is an expected echo: that entry, removed from the ledger. */
  take(routingKey: string, content: Uint8Array, qos: number): ExpectedEcho | undefined {
    const buckets = this.byKey.get(routingKey);
    if (buckets === undefined) return undefined;
    const hash = payloadHash(content);
    const bucket = buckets.get(hash);
    if (bucket === undefined) return undefined;
    this.dropExpired(routingKey, hash, bucket, this.now());
    const { items } = bucket;
    for (let i = bucket.head; i < items.length; i++) {
      const entry = items[i]!;
      if (entry.qos !== qos || !entry.payload.equals(content)) continue;
      this.remove(routingKey, hash, bucket, i);
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
    for (const buckets of all) {
      for (const bucket of buckets.values()) for (let i = bucket.head; i < bucket.items.length; i++) bucket.items[i]!.onSeen?.(false);
    }
  }

  /** Forgets the expired entries of every key. */
  sweep(): void {
    const now = this.now();
    for (const [key, buckets] of this.byKey) for (const [hash, bucket] of buckets) this.dropExpired(key, hash, bucket, now);
  }

  private remove(routingKey: string, hash: number, bucket: Bucket, index: number): void {
    this.bytes -= bucket.items[index]!.payload.byteLength;
    bucket.removeAt(index);
    this.count--;
    if (bucket.length > 0) return;
    const buckets = this.byKey.get(routingKey)!;
    buckets.delete(hash);
    if (buckets.size === 0) this.byKey.delete(routingKey);
  }

  private dropExpired(routingKey: string, hash: number, bucket: Bucket, now: number): void {
    while (bucket.length > 0) {
      const oldest = bucket.items[bucket.head]!;
      if (oldest.expiresAt > now) return;
      this.remove(routingKey, hash, bucket, bucket.head);
      oldest.onSeen?.(false);
    }
  }
}
