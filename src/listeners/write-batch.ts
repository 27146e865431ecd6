/**
 * WriteBatch: the per-turn write batching every transport shares (TCP and TLS sockets,
 * WebSocket). Everything a connection writes during one turn of the event loop (all the PUBACKs
 * for a chunk of PUBLISHes, all the deliveries from one AMQP frame batch) is copied into one
 * pooled buffer and handed to the transport's `send` ONCE, when the turn's microtasks run.
 * Buffers come from one free list and go back after the flush, so an idle connection holds no
 * write buffer at all (memory per connection is a product target).
 *
 * Invariants: bytes reach `send` in `add()` order; a pooled buffer belongs to at most one batch
 * at a time; every batch holding bytes is in `dirty` until the turn's flush.
 */

/** Size of a pooled batch buffer; bigger writes are sent on their own. */
export const BATCH_BUFFER_BYTES = 16 * 1024;
/** How many idle batch buffers the free list keeps (the rest is left to the GC). */
const MAX_FREE_BUFFERS = 64;

const freeBuffers: Uint8Array[] = [];
/** Batches holding bytes for this turn's flush. */
const dirty: WriteBatch[] = [];
let flushQueued = false;

function flushDirty(): void {
  flushQueued = false;
  // A flush may make a transport write again (it cannot today, but keep the loop honest).
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

export class WriteBatch {
  /** Pooled buffer collecting this turn's writes; undefined when nothing is pending. */
  private buffer: Uint8Array | undefined;
  private length = 0;

  /**
   * `send` gets the batch (or one large write) as a view that is reused after it returns: it
   * must write or copy the bytes before returning.
   */
  constructor(private readonly send: (bytes: Uint8Array) => void) {}

  /** Copies `bytes` into this turn's batch (it may be a view into a reused encoder buffer). */
  add(bytes: Uint8Array): void {
    if (this.buffer !== undefined && this.length + bytes.length > this.buffer.length) this.flush();
    if (bytes.length > BATCH_BUFFER_BYTES) {
      this.send(bytes);
      return;
    }
    if (this.buffer === undefined) {
      this.buffer = freeBuffers.pop() ?? new Uint8Array(BATCH_BUFFER_BYTES);
      this.length = 0;
      dirty.push(this);
      if (!flushQueued) {
        flushQueued = true;
        queueMicrotask(flushDirty);
      }
    }
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Sends what is pending now (end of turn, a full buffer, or the transport closing). */
  flush(): void {
    const buffer = this.buffer;
    if (buffer === undefined) return;
    this.buffer = undefined;
    const length = this.length;
    this.length = 0;
    if (length > 0) this.send(buffer.subarray(0, length));
    if (freeBuffers.length < MAX_FREE_BUFFERS) freeBuffers.push(buffer);
  }

  /** Bytes added and not yet sent. */
  get pendingBytes(): number {
    return this.length;
  }
}
