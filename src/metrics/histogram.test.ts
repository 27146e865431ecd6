import { describe, expect, test } from "bun:test";
import { Histogram } from "./histogram.ts";

describe("Histogram", () => {
  test.each<[string, number[], number[]]>([
    ["nothing observed", [], [0, 0, 0, 0]],
    ["a value on a bound counts in that bucket (le is inclusive)", [1], [1, 1, 1, 1]],
    ["values between bounds", [0.2, 1.5, 4], [1, 2, 3, 3]],
    ["a value above every bound counts only in +Inf", [11], [0, 0, 0, 1]],
    ["zero and negative values fall in the first bucket", [0, -1], [2, 2, 2, 2]],
  ])("%s", (_name, values, cumulative) => {
    const histogram = new Histogram([1, 2, 10]);
    for (const value of values) histogram.observe(value);
    expect(histogram.cumulative()).toEqual(cumulative);
    expect(histogram.count).toBe(values.length);
    expect(histogram.sum).toBe(values.reduce((a, b) => a + b, 0));
  });

  test("bounds that do not ascend are a bug, refused at construction", () => {
    expect(() => new Histogram([1, 1])).toThrow("histogram bounds must ascend: 1, 1");
    expect(() => new Histogram([5, 2])).toThrow("must ascend");
  });
});
