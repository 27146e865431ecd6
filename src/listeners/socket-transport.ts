/**
 * Turns a Bun socket (TCP or TLS: same API) into the `Transport` a protocol `Connection` writes to.
 *
 * Writes are batched per event-loop turn (write-batch.ts): one socket write per turn, from a
 * pooled buffer, so an idle connection holds no write buffer at all.
 *
 * Invariants:
 * - bytes reach the socket in the order `write()` was called;
 * - `backlog` holds only what the socket refused; while it is non-empty nothing is written
 *   directly (order), and once it passes `HIGH_WATER_BYTES` reading is paused and `write()`
 *   returns false, so a client that does not read cannot make us buffer without bound;
 * - reading runs only when neither the owner (pauseReading) nor our backpressure stopped it.
 */
import type { Socket } from "bun";
import { WriteBatch } from "./write-batch.ts";

/** What the transport tells its owner (the protocol connection). */
export interface TransportEvents {
  /** The backlog fell below the low-water mark after `write()` returned false. */
  onDrain(): void;
}

/** Above this many refused bytes we stop reading the client and report backpressure. */
export const HIGH_WATER_BYTES = 64 * 1024;

export class SocketTransport {
  /** This turn's writes, sent to the socket in one write. */
  private readonly batch = new WriteBatch((bytes) => {
    if (!this.closed) this.writeNow(bytes);
  });
  /** Bytes the socket refused, oldest first (copies: we own them). */
  private backlog: Uint8Array[] = [];
  private backlogBytes = 0;
  /** Set when write() reported backpressure; cleared (with onDrain) once the backlog empties. */
  private congested = false;
  private readingPausedByUs = false;
  private readingPausedByOwner = false;
  private closing = false;
  private closed = false;
  events: TransportEvents | undefined;

  readonly remoteAddress: string;
  readonly localPort: number;

  constructor(private readonly socket: Socket<unknown>) {
    // Dual-stack listeners see IPv4 clients as ::ffff:a.b.c.d; show them as plain IPv4.
    const address = socket.remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
    const host = address.includes(":") ? `[${address}]` : address;
    this.remoteAddress = `${host}:${socket.remotePort}`;
    this.localPort = socket.localPort;
  }

  /**
   * Queues `bytes` (copied: it may be a view into a reused encoder buffer). Returns false when
   * the client is not reading fast enough: the caller should stop producing until `onDrain`.
   */
  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.batch.add(bytes);
    return !this.congested;
  }

  /** Writes what the socket takes; copies the rest (the caller's bytes are reused after return). */
  private writeNow(bytes: Uint8Array): void {
    let written = 0;
    if (this.backlog.length === 0) {
      written = this.socket.write(bytes);
      if (written < 0) written = 0;
      if (written === bytes.length) return;
    }
    const rest = bytes.subarray(written);
    this.backlog.push(rest.slice());
    this.backlogBytes += rest.length;
    if (this.backlogBytes > HIGH_WATER_BYTES && !this.congested) {
      this.congested = true;
      if (!this.readingPausedByUs) {
        this.readingPausedByUs = true;
        this.socket.pause();
      }
    }
  }

  /** The socket can take more: push the backlog, then tell the owner if pressure is gone. */
  handleDrain(): void {
    while (this.backlog.length > 0) {
      const head = this.backlog[0]!;
      let written = this.socket.write(head);
      if (written < 0) written = 0;
      this.backlogBytes -= written;
      if (written < head.length) {
        this.backlog[0] = head.subarray(written);
        return;
      }
      this.backlog.shift();
    }
    if (this.closing) {
      this.finishClose();
      return;
    }
    if (this.congested) {
      this.congested = false;
      if (this.readingPausedByUs) {
        this.readingPausedByUs = false;
        // The owner's pause (e.g. too many unconfirmed PUBLISHes) outlasts our backpressure.
        if (!this.readingPausedByOwner) this.socket.resume();
      }
      this.events?.onDrain();
    }
  }

  pauseReading(): void {
    this.readingPausedByOwner = true;
    this.socket.pause();
  }

  resumeReading(): void {
    this.readingPausedByOwner = false;
    // Backpressure on our side wins: reading resumes when the backlog drains.
    if (!this.readingPausedByUs) this.socket.resume();
  }

  /** Sends what is queued, then closes. */
  close(): void {
    if (this.closing || this.closed) return;
    this.closing = true;
    this.batch.flush();
    if (this.backlog.length === 0) this.finishClose();
  }

  private finishClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
  }

  /** Drops the connection at once (no flush): for shutdown timeouts and abusive peers. */
  destroy(): void {
    this.closed = true;
    this.backlog = [];
    this.backlogBytes = 0;
    this.socket.terminate();
  }

  /** The socket closed (by either side): release what we hold. */
  handleClosed(): void {
    this.closed = true;
    this.backlog = [];
    this.backlogBytes = 0;
  }

  /** Bytes accepted by write() but not yet taken by the socket. */
  get bufferedBytes(): number {
    return this.backlogBytes + this.batch.pendingBytes;
  }
}
