import { describe, expect, test } from "bun:test";
import { bindingMatches, matchesBindingKey, splitWords } from "./binding-match.ts";

// Cases from RabbitMQ's topic exchange semantics (rabbit_exchange_type_topic, its test suite's
// table) plus the MQTT filters the adapter translates (a/# → a.#, +/b → *.b).
const CASES: Array<[binding: string, routing: string, matches: boolean]> = [
  ["a.b.c", "a.b.c", true],
  ["a.b.c", "a.b", false],
  ["a.b", "a.b.c", false],
  ["a.*.c", "a.b.c", true],
  ["a.*.c", "a.c", false],
  ["*", "a", true],
  ["*", "", false], // the empty key has no words
  ["*", ".", false], // two empty words
  ["*.*", ".", true],
  ["*", "a.b", false],
  ["#", "", true],
  ["#", "a.b.c", true],
  ["a.#", "a", true], // MQTT a/# matches a [MQTT-4.7.1-2]
  ["a.#", "a.b.c", true],
  ["a.#", "b.a", false],
  ["#.c", "c", true],
  ["#.c", "a.b.c", true],
  ["#.c", "a.b.c.d", false],
  ["a.#.c", "a.c", true],
  ["a.#.c", "a.b.b.c", true],
  ["a.#.c", "a.b.b.d", false],
  ["a.#.#.c", "a.x.c", true],
  ["#.#", "a", true],
  ["*.#", "", false],
  ["*.*", "a", false],
  ["a.*.#", "a", false],
  ["a.*.#", "a.b", true],
  ["a..b", "a..b", true],
  ["a.*.b", "a..b", true],
  ["a.b", "a.B", false],
  ["a.*", "a.", true], // `*` matches one empty word
  ["a/b.c", "a/b.c", true], // `/` is an ordinary character in AMQP
  ["a.*", "a/b", false],
];

describe("bindingMatches: RabbitMQ topic exchange rules", () => {
  test.each(CASES)("binding %p, routing key %p → %p", (binding, routing, matches) => {
    expect(bindingMatches(splitWords(binding), splitWords(routing))).toBe(matches);
  });
});

test("matchesBindingKey splits both keys itself", () => {
  expect(matchesBindingKey("a.#", "a.b.c")).toBe(true);
  expect(matchesBindingKey("a.*", "a.b.c")).toBe(false);
});
