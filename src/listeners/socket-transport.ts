/**
 * Turns a Bun socket (TCP or TLS: same API) into the `Transport` a protocol `Connection` writes to.
 *
 * Writes are batched: everything a connection writes during one turn of the event loop (all the
 * PUBACKs for a chunk of PUBLISHes, all the deliveries from one AMQP frame batch) is copied into
 * one batch buffer and handed to the socket in ONE write when the turn's microtasks run.
 * Batch buffers come from a shared free list and go back after the flush, so an idle connection
 * holds no write buffer at all (memory per connection is a product target).
 *
 * Invariants:
 * - bytes reach the socket in the order `write()` was called;
 * - `backlog` holds only what the socket refused; while it is non-empty nothing is written
 *   directly (order), and once it passes `HIGH_WATER_BYTES` reading is paused and `write()`
 *   returns false, so a client that does not read cannot make us buffer without bound;
 * - a batch buffer is owned by at most one transport at a time.
 */
import type { Socket } from "bun";

/** What the transport tells its owner (the protocol connection). */
export interface TransportEvents {
  /** The backlog fell below the low-water mark after `write()` returned false. */
  onDrain(): void;
}

/** Size of a pooled batch buffer; bigger packets are written on their own. */
const BATCH_BUFFER_BYTES = 16 * 1024;
/** Above this many refused bytes we stop reading the client and report backpressure. */
export const HIGH_WATER_BYTES = 64 * 1024;
/** How many idle batch buffers the free list keeps (the rest is left to the GC). */
const MAX_FREE_BUFFERS = 64;

const freeBuffers: Uint8Array[] = [];

function takeBuffer(): Uint8Array {
  return freeBuffers.pop() ?? new Uint8Array(BATCH_BUFFER_BYTES);
}

function returnBuffer(buffer: Uint8Array): void {
  if (freeBuffers.length < MAX_FREE_BUFFERS) freeBuffers.push(buffer);
}

/** Transports with a batch waiting for this turn's flush. */
const dirty: SocketTransport[] = [];
let flushQueued = false;

function flushDirty(): void {
  flushQueued = false;
  // A flush may make a transport write again (it cannot today, but keep the loop honest).
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flushBatch();
  dirty.length = 0;
}

export class SocketTransport {
  /** Pooled buffer collecting this turn's writes; undefined when nothing is pending. */
  private batch: Uint8Array | undefined;
  private batchLength = 0;
  /** Bytes the socket refused, oldest first (copies: we own them). */
  private backlog: Uint8Array[] = [];
  private backlogBytes = 0;
  /** Set when write() reported backpressure; cleared (with onDrain) once the backlog empties. */
  private congested = false;
  private readingPausedByUs = false;
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
    const length = bytes.length;
    if (this.batch !== undefined && this.batchLength + length > this.batch.length) this.flushBatch();
    if (length > BATCH_BUFFER_BYTES) {
      this.writeNow(bytes);
    } else {
      if (this.batch === undefined) {
        this.batch = takeBuffer();
        this.batchLength = 0;
        dirty.push(this);
        if (!flushQueued) {
          flushQueued = true;
          queueMicrotask(flushDirty);
        }
      }
      this.batch.set(bytes, this.batchLength);
      this.batchLength += length;
    }
    return !this.congested;
  }

  /** Writes the pending batch to the socket (called at the end of the turn, or when it is full). */
  flushBatch(): void {
    const batch = this.batch;
    if (batch === undefined) return;
    this.batch = undefined;
    if (this.batchLength > 0 && !this.closed) this.writeNow(batch.subarray(0, this.batchLength));
    this.batchLength = 0;
    returnBuffer(batch);
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
        this.socket.resume();
      }
      this.events?.onDrain();
    }
  }

  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    // Backpressure on our side wins: reading resumes when the backlog drains.
    if (!this.readingPausedByUs) this.socket.resume();
  }

  /** Sends what is queued, then closes. */
  close(): void {
    if (this.closing || this.closed) return;
    this.closing = true;
    this.flushBatch();
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
    return this.backlogBytes + this.batchLength;
  }
}
