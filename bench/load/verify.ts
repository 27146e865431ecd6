/**
 * Message numbering and the count checks every scenario makes: lost, duplicated, out of order.
 *
 * Every benchmark payload starts with a 14-byte stamp: publisher index (u16), sequence number
 * (u32, from 0), send time (f64, performance.now() of the generator, which is one process,
 * so send and receive times share a clock). The rest is filler up to the scenario's size.
 */

export const STAMP_BYTES = 14;

/** A payload of `sizeBytes` to be stamped before each send (reused: the client copies it at once). */
export function makePayload(sizeBytes: number): Uint8Array {
  if (sizeBytes < STAMP_BYTES) throw new RangeError(`payload must be at least ${STAMP_BYTES} bytes, got ${sizeBytes}`);
  return new Uint8Array(sizeBytes).fill(0x61);
}

/** Writes publisher, sequence and the current time into `payload`. */
export function stamp(payload: Uint8Array, publisher: number, sequence: number): void {
  const view = new DataView(payload.buffer, payload.byteOffset, STAMP_BYTES);
  view.setUint16(0, publisher);
  view.setUint32(2, sequence);
  view.setFloat64(6, performance.now());
}

export interface Counts {
  expected: number;
  /** Distinct messages received. */
  received: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
}

/**
 * What one subscriber received from each publisher. A message whose sequence is below the
 * highest already seen from its publisher is out of order; one seen before is a duplicate.
 */
export class SequenceTracker {
  received = 0;
  duplicated = 0;
  outOfOrder = 0;
  /** Receive minus send time of each distinct message, ms, when latencies are kept. */
  readonly latenciesMs: number[] = [];
  private readonly seen: Uint8Array[];
  private readonly highest: Int32Array;

  constructor(
    publisherCount: number,
    private readonly perPublisher: number,
    private readonly keepLatencies = false,
  ) {
    this.seen = Array.from({ length: publisherCount }, () => new Uint8Array(perPublisher));
    this.highest = new Int32Array(publisherCount).fill(-1);
  }

  /** Records one received payload; returns false if it is not one of ours. */
  record(payload: Uint8Array): boolean {
    if (payload.length < STAMP_BYTES) return false;
    const view = new DataView(payload.buffer, payload.byteOffset, STAMP_BYTES);
    const publisher = view.getUint16(0);
    const sequence = view.getUint32(2);
    const seen = this.seen[publisher];
    if (seen === undefined || sequence >= this.perPublisher) return false;
    if (seen[sequence] === 1) {
      this.duplicated++;
      return true;
    }
    seen[sequence] = 1;
    this.received++;
    if (sequence < this.highest[publisher]!) this.outOfOrder++;
    else this.highest[publisher] = sequence;
    if (this.keepLatencies) this.latenciesMs.push(performance.now() - view.getFloat64(6));
    return true;
  }
}

/** Sums trackers into the counts of a scenario that expected `expectedPerTracker` each. */
export function sumCounts(trackers: SequenceTracker[], expectedPerTracker: number): Counts {
  let received = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  for (const tracker of trackers) {
    received += tracker.received;
    duplicated += tracker.duplicated;
    outOfOrder += tracker.outOfOrder;
  }
  const expected = expectedPerTracker * trackers.length;
  return { expected, received, lost: expected - received, duplicated, outOfOrder };
}

/** The q-quantile (0..1) of `values` by nearest rank; NaN when empty. Sorts a copy. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}
