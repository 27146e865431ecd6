/**
 * Prometheus text exposition format 0.0.4: `# HELP` / `# TYPE` once per family, then one
 * `name{label="value"} number` line per sample. Only what the adapter needs: counters, gauges
 * and histograms, label values escaped (backslash, double quote, newline) as the format says.
 */

/** The Content-Type of a scrape answer in this format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "counter" | "gauge" | "histogram";
export type Labels = Readonly<Record<string, string>>;

/** `\` → `\\`, `"` → `\"`, newline → `\n`. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value as the format writes it: integers plainly, `+Inf`, `-Inf`, `NaN`. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: Labels | undefined): string {
  if (labels === undefined) return "";
  const parts = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Collects families and samples; `text()` is the scrape body. */
export class PrometheusText {
  private readonly lines: string[] = [];

  /** Starts a family: its HELP (one line, escaped) and TYPE. */
  family(name: string, type: MetricType, help: string): this {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, labels: Labels | undefined, value: number): this {
    this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
    return this;
  }

  /**
   * A histogram's samples: cumulative `_bucket{le=…}` per bound and `+Inf`, `_sum`, `_count`.
   * `scale` converts the observed unit to the exported one (ms → s: 0.001).
   */
  histogram(name: string, labels: Labels | undefined, upperBounds: ArrayLike<number>, cumulative: readonly number[], sum: number, scale = 1): this {
    for (let i = 0; i < upperBounds.length; i++) {
      this.sample(`${name}_bucket`, { ...labels, le: formatValue(roundScaled(upperBounds[i]!, scale)) }, cumulative[i]!);
    }
    this.sample(`${name}_bucket`, { ...labels, le: "+Inf" }, cumulative[upperBounds.length]!);
    this.sample(`${name}_sum`, labels, roundScaled(sum, scale));
    this.sample(`${name}_count`, labels, cumulative[upperBounds.length]!);
    return this;
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

/** `value × scale` without binary noise in the printed number (0.5 × 0.001 → 0.0005, not 0.0005000000000000001). */
function roundScaled(value: number, scale: number): number {
  return scale === 1 ? value : Number((value * scale).toPrecision(12));
}
