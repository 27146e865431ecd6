/**
 * Well-behaved QoS 1 traffic for the robustness tests: one MQTT.js publisher keeps a window of
 * QoS 1 PUBLISHes in flight to one topic, one subscriber counts what arrives. The verdict is
 * about the contract, not speed: every PUBLISH that got its PUBACK arrives (no loss), and a
 * message that arrives more than once is explained by an at-least-once rule — a copy delivered
 * with DUP set (RabbitMQ redelivered it) or a copy the publisher itself resent because its
 * connection dropped while the message was unacknowledged.
 */
import type { MqttClient } from "mqtt";

export interface TrafficVerdict {
  /** Publishes started / PUBACKed / failed (the client gave up on them, e.g. at end()). */
  sent: number;
  acked: number;
  failed: number;
  /** PUBACKed message numbers the subscriber never got. */
  lost: number[];
  /** Message numbers received more than once. */
  duplicates: number[];
  /** Of those, the ones neither DUP nor a publisher-side resend explains. */
  unexplainedDuplicates: number[];
  /** Messages received with DUP set. */
  dupFlagged: number;
}

export class Qos1Traffic {
  private next = 0;
  private running = false;
  readonly acked = new Set<number>();
  readonly failed = new Set<number>();
  readonly inFlight = new Set<number>();
  /** In flight when the publisher's connection dropped: MQTT.js may resend them (a duplicate). */
  readonly maybeResent = new Set<number>();
  readonly received = new Map<number, { copies: number; dupCopies: number }>();
  private readonly waiters = new Set<() => void>();
  private readonly padding: string;

  constructor(
    private readonly publisher: MqttClient,
    private readonly subscriber: MqttClient,
    readonly topic: string,
    private readonly options: { window?: number; payloadBytes?: number } = {},
  ) {
    this.padding = ".".repeat(Math.max(0, (options.payloadBytes ?? 32) - 8));
    publisher.on("close", () => {
      for (const n of this.inFlight) this.maybeResent.add(n);
    });
    subscriber.on("message", (topic, payload, packet) => {
      if (topic !== this.topic) return;
      const n = Number.parseInt(payload.toString("latin1"), 10);
      const entry = this.received.get(n) ?? { copies: 0, dupCopies: 0 };
      entry.copies++;
      if (packet.dup) entry.dupCopies++;
      this.received.set(n, entry);
      this.wake();
    });
  }

  /** Starts publishing; keeps `window` (default 10) PUBLISHes unacknowledged at a time. */
  start(): void {
    this.running = true;
    this.fill();
  }

  /** Publishes exactly `count` more messages (on top of whatever runs), then resolves once each is answered. */
  async publishCount(count: number, timeoutMs: number): Promise<void> {
    const target = this.next + count;
    const window = this.options.window ?? 10;
    while (this.next < target) {
      if (this.inFlight.size >= window) {
        await this.waitFor(() => this.inFlight.size < window, timeoutMs, "a free slot in the publish window");
        continue;
      }
      this.publishOne();
    }
    await this.waitFor(() => this.inFlight.size === 0, timeoutMs, "PUBACKs for every publish");
  }

  /** Stops starting new publishes and waits until every started one is answered (PUBACK or error). */
  async stop(timeoutMs: number): Promise<void> {
    this.running = false;
    await this.waitFor(() => this.inFlight.size === 0, timeoutMs, `answers to ${this.inFlight.size} publish(es) still in flight`);
  }

  /** Waits until every PUBACKed message has arrived at least once. */
  async waitForDelivery(timeoutMs: number): Promise<void> {
    await this.waitFor(() => [...this.acked].every((n) => this.received.has(n)), timeoutMs, "every PUBACKed message at the subscriber");
  }

  verdict(): TrafficVerdict {
    const lost = [...this.acked].filter((n) => !this.received.has(n)).sort((a, b) => a - b);
    const duplicates = [...this.received].filter(([, e]) => e.copies > 1).map(([n]) => n);
    const unexplainedDuplicates = duplicates.filter((n) => this.received.get(n)!.dupCopies === 0 && !this.maybeResent.has(n));
    let dupFlagged = 0;
    for (const entry of this.received.values()) dupFlagged += entry.dupCopies;
    return { sent: this.next, acked: this.acked.size, failed: this.failed.size, lost, duplicates, unexplainedDuplicates, dupFlagged };
  }

  get sent(): number {
    return this.next;
  }

  private fill(): void {
    const window = this.options.window ?? 10;
    while (this.running && this.inFlight.size < window) this.publishOne();
  }

  private publishOne(): void {
    const n = this.next++;
    this.inFlight.add(n);
    this.publisher.publish(this.topic, `${n}:${this.padding}`, { qos: 1 }, (error) => {
      this.inFlight.delete(n);
      if (error) this.failed.add(n);
      else this.acked.add(n);
      this.wake();
      // Refill from a fresh turn: MQTT.js may call back synchronously inside publish().
      if (this.running) queueMicrotask(() => this.fill());
    });
  }

  private async waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        const v = this.verdict();
        throw new Error(`${this.topic}: waited ${timeoutMs} ms for ${what} (sent ${v.sent}, acked ${v.acked}, failed ${v.failed}, in flight ${this.inFlight.size}, received ${this.received.size}, lost so far ${v.lost.length})`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 250));
        this.waiters.add(wake);
      });
    }
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/**
 * Polls `check` every `stepMs` until it holds; rejects after `timeoutMs` with `what` (a function
 * to describe the state at the time of failure). Resolves with the time it took, in ms.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs: number,
  stepMs = 50,
): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) {
      throw new Error(`gave up after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
    }
    await Bun.sleep(stepMs);
  }
  return Date.now() - started;
}
