import { describe, expect, test } from "bun:test";
import { matchesBindingKey } from "./topic-match.ts";

describe("AMQP topic matching (RabbitMQ topic exchange semantics)", () => {
  const table: Array<[bindingKey: string, routingKey: string, matches: boolean]> = [
    ["a.b.c", "a.b.c", true],
    ["a.b.c", "a.b", false],
    ["a.*.c", "a.b.c", true],
    ["a.*.c", "a.c", false],
    ["a.*", "a.", true], // `*` matches one empty word
    ["#", "a.b.c", true],
    ["#", "", true],
    ["*", "", false],
    ["a.#", "a", true], // `#` matches zero words
    ["a.#", "a.b.c", true],
    ["a.#.c", "a.c", true],
    ["a.#.c", "a.b.b.c", true],
    ["a.#.c", "a.b.b.d", false],
    ["#.#", "a", true],
    ["#.c", "a.b.c", true],
    ["*.#", "", false],
    ["a/b.c", "a/b.c", true], // `/` is an ordinary character in AMQP
    ["a.*", "a/b", false],
  ];
  for (const [bindingKey, routingKey, matches] of table) {
    test(`${JSON.stringify(bindingKey)} ${matches ? "matches" : "does not match"} ${JSON.stringify(routingKey)}`, () => {
      expect(matchesBindingKey(bindingKey, routingKey)).toBe(matches);
    });
  }
});
