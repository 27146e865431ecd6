import { describe, expect, test } from "bun:test";
import { ReasonCode } from "./constants.ts";
import { DecodeError } from "./errors.ts";
import { parseSharedSubscription, validateTopicFilter, validateTopicName } from "./topic.ts";

describe("validateTopicName", () => {
  for (const topic of ["a", "/", "a/b", "/a/", "$SYS/x", "ü/€", " ", "a//b", "sport/tennis/player1"]) {
    test(`accepts ${JSON.stringify(topic)}`, () => expect(validateTopicName(topic)).toBeUndefined());
  }
  const bad: Array<[string, string]> = [
    ["", "[MQTT-4.7.3-1]"],
    ["+", "[MQTT-3.3.2-2]"],
    ["a/#", "[MQTT-3.3.2-2]"],
    ["a+b", "[MQTT-3.3.2-2]"],
    ["a\u0000b", "[MQTT-4.7.3-2]"],
  ];
  for (const [topic, rule] of bad) {
    test(`rejects ${JSON.stringify(topic)} ${rule}`, () => {
      const error = validateTopicName(topic, "PUBLISH Topic Name");
      expect(error?.reasonCode).toBe(ReasonCode.TopicNameInvalid);
      expect(error?.field).toBe("PUBLISH Topic Name");
      expect(error?.message).toContain(rule);
    });
  }
  test("cuts a long topic short in its message", () => {
    expect(validateTopicName(`${"x".repeat(500)}+`)!.message.length).toBeLessThan(250);
  });
});

describe("validateTopicFilter", () => {
  for (const filter of ["#", "+", "+/+", "/+", "+/", "a/#", "a/+/b", "a/+/#", "/#", "sport/tennis/#", "$SYS/#", "a//b", "x"]) {
    test(`accepts ${JSON.stringify(filter)}`, () => expect(validateTopicFilter(filter)).toBeUndefined());
  }
  const bad: Array<[string, string]> = [
    ["", "[MQTT-4.7.3-1]"],
    ["a#", "[MQTT-4.7.1-2]"],
    ["#/a", "[MQTT-4.7.1-2]"],
    ["a/#/", "[MQTT-4.7.1-2]"],
    ["##", "[MQTT-4.7.1-2]"],
    ["a+", "[MQTT-4.7.1-3]"],
    ["+a", "[MQTT-4.7.1-3]"],
    ["a/++/b", "[MQTT-4.7.1-3]"],
    ["sport+", "[MQTT-4.7.1-3]"],
    ["a\u0000", "[MQTT-4.7.3-2]"],
  ];
  for (const [filter, rule] of bad) {
    test(`rejects ${JSON.stringify(filter)} ${rule}`, () => {
      const error = validateTopicFilter(filter);
      expect(error?.reasonCode).toBe(ReasonCode.TopicFilterInvalid);
      expect(error?.message).toContain(rule);
    });
  }
});

describe("validateTopicFilter with multiLevelWildcardAnywhere (AMQP semantics, MQTT syntax)", () => {
  const anywhere = { multiLevelWildcardAnywhere: true };
  // [filter, strict result (undefined = accepted, else rule id), result with the option]
  const table: Array<[string, string | undefined, string | undefined]> = [
    ["a/#", undefined, undefined],
    ["#", undefined, undefined],
    ["a/#/b", "[MQTT-4.7.1-2]", undefined],
    ["#/a", "[MQTT-4.7.1-2]", undefined],
    ["a/#/", "[MQTT-4.7.1-2]", undefined],
    ["#/#", "[MQTT-4.7.1-2]", undefined],
    ["+/#/+/#", "[MQTT-4.7.1-2]", undefined],
    ["$share/g/#/x", "[MQTT-4.7.1-2]", undefined],
    ["a#", "[MQTT-4.7.1-2]", "must fill a whole level"],
    ["a/#b", "[MQTT-4.7.1-2]", "must fill a whole level"],
    ["a/b#/c", "[MQTT-4.7.1-2]", "must fill a whole level"],
    ["##", "[MQTT-4.7.1-2]", "must fill a whole level"],
    ["#a/b", "[MQTT-4.7.1-2]", "must fill a whole level"],
    ["a+/#/b", "[MQTT-4.7.1-3]", "[MQTT-4.7.1-3]"],
    ["#/+a", "[MQTT-4.7.1-2]", "[MQTT-4.7.1-3]"],
    ["", "[MQTT-4.7.3-1]", "[MQTT-4.7.3-1]"],
    ["#/\u0000", "[MQTT-4.7.1-2]", "[MQTT-4.7.3-2]"],
  ];
  for (const [filter, strict, loose] of table) {
    const expectResult = (error: DecodeError | undefined, want: string | undefined): void => {
      if (want === undefined) {
        expect(error).toBeUndefined();
      } else {
        expect(error?.reasonCode).toBe(ReasonCode.TopicFilterInvalid);
        expect(error?.message).toContain(want);
      }
    };
    test(`${JSON.stringify(filter)}: strict ${strict ?? "accepts"}, anywhere ${loose ?? "accepts"} [MQTT-4.7.1-2]`, () => {
      expectResult(validateTopicFilter(filter), strict);
      expectResult(validateTopicFilter(filter, "f", {}), strict);
      expectResult(validateTopicFilter(filter, "f", { multiLevelWildcardAnywhere: false }), strict);
      expectResult(validateTopicFilter(filter, "f", anywhere), loose);
    });
  }
  test("the option names itself in its message so an operator sees why the rule differs", () => {
    expect(validateTopicFilter("a#/b", "f", anywhere)!.message).toContain("multi-level wildcard anywhere is enabled");
  });
  test("parseSharedSubscription checks the inner filter with the same option", () => {
    expect(parseSharedSubscription("$share/g/a/#/b")).toBeInstanceOf(DecodeError);
    expect(parseSharedSubscription("$share/g/a/#/b", "f", anywhere)).toEqual({ shareName: "g", topicFilter: "a/#/b" });
    expect(parseSharedSubscription("$share/g/a/b#", "f", anywhere)).toBeInstanceOf(DecodeError);
  });
});

describe("parseSharedSubscription", () => {
  test("is undefined for an ordinary filter", () => {
    expect(parseSharedSubscription("a/b")).toBeUndefined();
    expect(parseSharedSubscription("$shared/g/t")).toBeUndefined();
    expect(parseSharedSubscription("$share")).toBeUndefined();
  });
  test("splits $share/{ShareName}/{filter}", () => {
    expect(parseSharedSubscription("$share/group/a/+/#")).toEqual({ shareName: "group", topicFilter: "a/+/#" });
    expect(parseSharedSubscription("$share/g//")).toEqual({ shareName: "g", topicFilter: "/" });
  });
  for (const [filter, rule] of [["$share/", "[MQTT-4.8.2-1]"], ["$share//a", "[MQTT-4.8.2-1]"], ["$share/#/a", "[MQTT-4.8.2-1]"], ["$share/g", "[MQTT-4.8.2-2]"], ["$share/g/", "[MQTT-4.8.2-2]"], ["$share/g/a+", "[MQTT-4.7.1-3]"]] as const) {
    test(`rejects ${JSON.stringify(filter)} ${rule}`, () => {
      const result = parseSharedSubscription(filter);
      expect(result).toBeInstanceOf(DecodeError);
      expect((result as DecodeError).message).toContain(rule);
    });
  }
});
