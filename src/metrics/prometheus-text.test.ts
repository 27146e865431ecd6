import { describe, expect, test } from "bun:test";
import { escapeLabelValue, formatValue, PrometheusText } from "./prometheus-text.ts";

describe("Prometheus text format", () => {
  test.each<[string, string]>([
    ["plain", "plain"],
    ['a "quoted" value', 'a \\"quoted\\" value'],
    ["back\\slash", "back\\\\slash"],
    ["two\nlines", "two\\nlines"],
  ])("label value %p is written as %p", (value, written) => {
    expect(escapeLabelValue(value)).toBe(written);
  });

  test.each<[number, string]>([
    [0, "0"],
    [42, "42"],
    [0.25, "0.25"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
    [NaN, "NaN"],
  ])("value %p is written as %p", (value, written) => {
    expect(formatValue(value)).toBe(written);
  });

  test("a family is HELP, TYPE, then its samples; labels in the order given", () => {
    const text = new PrometheusText()
      .family("x_total", "counter", "Things, counted")
      .sample("x_total", { a: "1", b: 'q"' }, 3)
      .sample("x_total", undefined, 4)
      .text();
    expect(text).toBe('# HELP x_total Things, counted\n# TYPE x_total counter\nx_total{a="1",b="q\\""} 3\nx_total 4\n');
  });

  test("a histogram renders cumulative buckets, +Inf, _sum and _count, scaled from ms to seconds", () => {
    const text = new PrometheusText().histogram("lat_seconds", undefined, [0.5, 2], [1, 3, 4], 12.5, 0.001).text();
    expect(text.split("\n")).toEqual([
      'lat_seconds_bucket{le="0.0005"} 1',
      'lat_seconds_bucket{le="0.002"} 3',
      'lat_seconds_bucket{le="+Inf"} 4',
      "lat_seconds_sum 0.0125",
      "lat_seconds_count 4",
      "",
    ]);
  });
});
