/**
 * A Prometheus histogram with fixed buckets, kept as plain numbers: `observe()` is a short
 * linear scan over a dozen bounds and three additions, no allocation (it runs once per QoS 1
 * PUBLISH). Counts are kept per bucket and made cumulative only when rendered.
 *
 * Invariant: `bucketCounts[i]` counts observations in (upperBounds[i-1], upperBounds[i]]; the last
 * slot counts those above every bound (the `+Inf` bucket's own share); their sum is `count`.
 */
export class Histogram {
  /** Ascending bucket upper bounds, in the unit observed (e.g. ms). */
  readonly upperBounds: Float64Array;
  readonly bucketCounts: Float64Array;
  count = 0;
  sum = 0;

  constructor(upperBounds: readonly number[]) {
    for (let i = 1; i < upperBounds.length; i++) {
      if (!(upperBounds[i]! > upperBounds[i - 1]!)) throw new Error(`histogram bounds must ascend: ${upperBounds.join(", ")}`);
    }
    this.upperBounds = Float64Array.from(upperBounds);
    this.bucketCounts = new Float64Array(upperBounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.bucketCounts[i]! += 1;
    this.count++;
    this.sum += value;
  }

  /** Cumulative counts per bound, then the `+Inf` total (what Prometheus' `_bucket` series show). */
  cumulative(): number[] {
    const out: number[] = [];
    let running = 0;
    for (const n of this.bucketCounts) out.push((running += n));
    return out;
  }
}
