/**
 * OperationQueue: runs a connection's SUBSCRIBE / UNSUBSCRIBE work one after the other, so the
 * broker binds and unbinds in the order the client asked (an UNSUBSCRIBE overtaking the
 * SUBSCRIBE of the same filter would leave the binding in place). Bounded: at `limit` queued
 * operations it asks its owner to stop reading, and to resume once below (no unbounded queue).
 */
export class OperationQueue {
  /** Tail of the chain; resolves when everything queued so far has finished. */
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(
    private readonly limit: number,
    /** Full (true) or below the limit again (false). */
    private readonly onFull: (full: boolean) => void,
    /** An operation rejected (a bug): the owner closes. */
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Queues `operation`; it runs after every earlier one has settled, if `runnable()` still holds. */
  enqueue(operation: () => Promise<void>, runnable: () => boolean): void {
    this.queued++;
    if (this.queued >= this.limit) this.onFull(true);
    this.tail = this.tail
      .then(() => (runnable() ? operation() : undefined))
      .catch((error: unknown) => this.onError(error))
      .finally(() => {
        this.queued--;
        if (this.queued < this.limit) this.onFull(false);
      });
  }

  /** Resolves once every operation queued so far has finished. */
  whenIdle(): Promise<void> {
    return this.tail;
  }
}
