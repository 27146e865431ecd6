import { describe, expect, test } from "bun:test";
import { SubscriptionMatcher, topicMatches } from "./topic-match.ts";

describe("topicMatches (AMQP topic semantics in MQTT syntax)", () => {
  const cases: Array<[filter: string, topic: string, matches: boolean]> = [
    ["a/b", "a/b", true],
    ["a/b", "a/c", false],
    ["a/b", "a/b/c", false],
    ["a/+", "a/b", true],
    ["a/+", "a", false],
    ["a/+", "a/b/c", false],
    ["+/+", "a/b", true],
    ["+", "a", true],
    ["+", "", true],
    ["a/+/c", "a//c", true],
    ["#", "a/b/c", true],
    ["#", "a", true],
    // "sport/#" also matches "sport": # matches zero levels (MQTT 3.1.1 §4.7.1.2, and AMQP)
    ["a/#", "a", true],
    ["a/#", "a/b/c", true],
    ["a/#", "b", false],
    // wildcards anywhere: AMQP semantics, which MQTT syntax rules forbid but RabbitMQ matches
    ["#/b", "b", true],
    ["#/b", "a/x/b", true],
    ["#/b", "a/b/c", false],
    ["a/#/c", "a/c", true],
    ["a/#/c", "a/b/b/c", true],
    ["a/#/c", "a/b/d", false],
    ["a/#/#", "a", true],
    ["+/#", "a", true],
    ["+/#", "", true],
    ["a/b", "a/b/", false],
    ["a/b/", "a/b/", true],
    ["a/+", "a/", true],
    // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a `$` topic
    ["#", "$SYS/broker/load", false],
    ["+/broker/load", "$SYS/broker/load", false],
    ["+/#", "$SYS", false],
    ["#/load", "$SYS/broker/load", false],
    ["$SYS/#", "$SYS/broker/load", true],
    ["$SYS/+/load", "$SYS/broker/load", true],
    ["a/#", "a/$b", true],
    ["a/+", "a/$b", true],
    ["#", "a$", true],
  ];
  for (const [filter, topic, matches] of cases) {
    test(`"${filter}" ${matches ? "matches" : "does not match"} "${topic}"`, () => {
      expect(topicMatches(filter, topic)).toBe(matches);
    });
  }
});

describe("SubscriptionMatcher", () => {
  test("gives the highest granted QoS over the matching filters", () => {
    const m = new SubscriptionMatcher();
    m.set("a/+", 0);
    m.set("a/#", 1);
    m.set("b", 1);
    expect(m.maxGrantedQos("a/x")).toBe(1);
    m.set("a/#", 0);
    expect(m.maxGrantedQos("a/x")).toBe(0);
    expect(m.maxGrantedQos("c")).toBeUndefined();
  });

  test("skips `#`/`+`-first filters for `$` topics, and says when only those matched [MQTT-4.7.2-1]", () => {
    const m = new SubscriptionMatcher();
    m.set("#", 2);
    m.set("+/status", 1);
    expect(m.maxGrantedQos("$SYS/status")).toBeUndefined();
    expect(m.matchesIgnoringDollarRule("$SYS/status")).toBe(true);
    expect(m.maxGrantedQos("dev/status")).toBe(2);
    m.set("$SYS/#", 0);
    expect(m.maxGrantedQos("$SYS/status")).toBe(0);
    expect(m.matchesIgnoringDollarRule("other")).toBe(true);
    m.delete("#");
    expect(m.matchesIgnoringDollarRule("other")).toBe(false);
  });

  test("forgets a deleted filter", () => {
    const m = new SubscriptionMatcher();
    m.set("a/b", 1);
    m.delete("a/b");
    expect(m.size).toBe(0);
    expect(m.maxGrantedQos("a/b")).toBeUndefined();
  });
});
