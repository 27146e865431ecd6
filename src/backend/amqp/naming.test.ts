import { describe, expect, test } from "bun:test";
import {
  checkShortString,
  fromBindingKey,
  fromRoutingKey,
  sessionQueueName,
  toBindingKey,
  toRoutingKey,
} from "./naming.ts";

describe("topic name ⇄ routing key", () => {
  const table: Array<[topic: string, routingKey: string, why: string]> = [
    ["a/b/c", "a.b.c", "levels become words"],
    ["a", "a", "one level"],
    ["/a", ".a", "leading empty level kept"],
    ["a/", "a.", "trailing empty level kept"],
    ["a//b", "a..b", "empty level in the middle kept"],
    ["a.b/c", "a/b.c", "literal dot swapped with slash (we differ from the plugin here)"],
    ["v1.2/x.y.z", "v1/2.x/y/z", "several literal dots"],
    ["$SYS/broker", "$SYS.broker", "dollar topics unchanged apart from separators"],
    ["caf\u00e9/\u{1F600}", "caf\u00e9.\u{1F600}", "non-ASCII kept"],
    ["a/*", "a.*", "a literal star in a topic name stays a star"],
  ];
  for (const [topic, routingKey, why] of table) {
    test(`${JSON.stringify(topic)} ⇄ ${JSON.stringify(routingKey)}: ${why}`, () => {
      expect(toRoutingKey(topic)).toBe(routingKey);
      expect(fromRoutingKey(routingKey)).toBe(topic);
    });
  }

  test("an AMQP routing key with a slash inside a word reaches MQTT as a dot inside a level", () => {
    expect(fromRoutingKey("stock/nyse.ibm")).toBe("stock.nyse/ibm");
  });
});

describe("topic filter ⇄ binding key", () => {
  const table: Array<[filter: string, bindingKey: string]> = [
    ["a/+/c", "a.*.c"],
    ["#", "#"],
    ["a/#", "a.#"],
    ["+", "*"],
    ["+/+", "*.*"],
    ["a/#/b", "a.#.b"], // wildcards anywhere: AMQP semantics, MQTT syntax
    ["a.b/+", "a/b.*"],
    ["sport/tennis/player1", "sport.tennis.player1"],
  ];
  for (const [filter, bindingKey] of table) {
    test(`${JSON.stringify(filter)} ⇄ ${JSON.stringify(bindingKey)}`, () => {
      expect(toBindingKey(filter)).toBe(bindingKey);
      expect(fromBindingKey(bindingKey)).toBe(filter);
    });
  }

  test("a + inside a topic name is not translated (it is not a wildcard there)", () => {
    expect(toRoutingKey("a+b/c")).toBe("a+b.c");
  });
});

describe("session queue name", () => {
  test("is the rabbitmq_mqtt plugin's mqtt-subscription-<clientid>qos1", () => {
    expect(sessionQueueName("sensor-1")).toBe("mqtt-subscription-sensor-1qos1");
  });
});

describe("AMQP short string limit", () => {
  test("accepts 255 bytes and refuses 256 with a message naming the thing and its size", () => {
    expect(checkShortString("x".repeat(255), "routing key")).toBeUndefined();
    const error = checkShortString("x".repeat(256), 'routing key for topic "x…"');
    expect(error?.kind).toBe("failed");
    expect(error?.message).toContain("256 bytes");
    expect(error?.message).toContain("routing key for topic");
  });

  test("counts UTF-8 bytes, not characters", () => {
    expect(checkShortString("\u00e9".repeat(127), "key")).toBeUndefined(); // 254 bytes
    expect(checkShortString("\u00e9".repeat(128), "key")?.message).toContain("256 bytes");
  });
});
