import { describe, expect, test } from "bun:test";
import { parseEnabledPlugins } from "./enabled-plugins.ts";

describe("parseEnabledPlugins", () => {
  const ok: Array<[string, string[]]> = [
    ["[rabbitmq_management,rabbitmq_mqtt].", ["rabbitmq_management", "rabbitmq_mqtt"]],
    ["[rabbitmq_management,rabbitmq_mqtt].\n", ["rabbitmq_management", "rabbitmq_mqtt"]],
    ["[].", []],
    ["", []],
    ["% only a comment\n", []],
    ["[ rabbitmq_mqtt ,\n  rabbitmq_web_mqtt\n] .", ["rabbitmq_mqtt", "rabbitmq_web_mqtt"]],
    ["['rabbitmq_mqtt', rabbitmq_prometheus]. % enabled by hand", ["rabbitmq_mqtt", "rabbitmq_prometheus"]],
    ["%% header\n[rabbitmq_shovel, % the shovel\n rabbitmq_shovel_management].", ["rabbitmq_shovel", "rabbitmq_shovel_management"]],
  ];
  for (const [text, plugins] of ok) {
    test(`${JSON.stringify(text)} → [${plugins.join(", ")}]`, () => {
      expect(parseEnabledPlugins(text)).toEqual({ ok: true, plugins });
    });
  }

  const bad: Array<[string, string]> = [
    ["rabbitmq_mqtt", 'does not start with "["'],
    ["[rabbitmq_mqtt]", 'the list must end with "]."'],
    ["[rabbitmq_mqtt rabbitmq_management].", 'plugin names must be separated by ","'],
    ["[rabbitmq_mqtt,].", "a list element is not a plugin name"],
    ["[rabbitmq_mqtt]. [x].", 'text after the closing "]."'],
    ["['rabbitmq_mqtt].", "a quoted atom has no closing '"],
    ['["rabbitmq_mqtt"].', 'unexpected "\\""'],
    ["[{rabbitmq_mqtt, true}].", 'unexpected "{"'],
  ];
  for (const [text, problem] of bad) {
    test(`${JSON.stringify(text)} is refused: ${problem}`, () => {
      const result = parseEnabledPlugins(text);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.problem).toContain(problem);
        expect(result.problem).toContain("expected a list of plugin names such as [rabbitmq_management,rabbitmq_mqtt].");
      }
    });
  }
});
