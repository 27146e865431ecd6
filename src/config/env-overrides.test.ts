import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { envNameFor, readEnvOverrides } from "./env-overrides.ts";
import { loadSnippet, makeTempDir, type TempDir } from "./test-helpers.ts";

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => dir.remove());

describe("environment overrides: RABBITMQ_MQTT_ + key, '.' written '__'", () => {
  test("envNameFor spells the variable of a key", () => {
    expect(envNameFor("mqtt.vhost")).toBe("RABBITMQ_MQTT_MQTT__VHOST");
    expect(envNameFor("mqtt.listeners.tcp.default")).toBe("RABBITMQ_MQTT_MQTT__LISTENERS__TCP__DEFAULT");
    expect(envNameFor("web_mqtt.tcp.port")).toBe("RABBITMQ_MQTT_WEB_MQTT__TCP__PORT");
  });

  const cases: Array<[string, Record<string, string>, string, Record<string, unknown>]> = [
    ["a plugin key", { RABBITMQ_MQTT_MQTT__VHOST: "/iot" }, "", { vhost: "/iot" }],
    ["a list key", { RABBITMQ_MQTT_MQTT__LISTENERS__TCP__DEFAULT: "11883" }, "", { tcpListeners: [{ host: "::", port: 11883 }] }],
    ["a web_mqtt key", { RABBITMQ_MQTT_WEB_MQTT__TCP__PORT: "15999" }, "", { webMqtt: { tcpListener: { host: "::", port: 15999 } } }],
    ["an adapter key, long form", { RABBITMQ_MQTT_ADAPTER__AMQP_URL: "amqp://rabbit:5672" }, "", { amqpUrl: "amqp://rabbit:5672", amqpUrlSource: "$RABBITMQ_MQTT_ADAPTER__AMQP_URL" }],
    ["an adapter key, short form", { RABBITMQ_MQTT_AMQP_URL: "amqp://rabbit:5672", RABBITMQ_MQTT_LOG_LEVEL: "debug", RABBITMQ_MQTT_RETAINED__MAX_COUNT: "5" }, "",
      { amqpUrl: "amqp://rabbit:5672", logLevel: "debug", retained: { maxCount: 5 } }],
    ["the environment wins over the file", { RABBITMQ_MQTT_MQTT__PREFETCH: "99" }, "mqtt.prefetch = 5\nmqtt.vhost = /f", { prefetch: 99, vhost: "/f" }],
    ["a list item from the environment replaces the file's item of that name only", { RABBITMQ_MQTT_MQTT__LISTENERS__TCP__DEFAULT: "11883" },
      "mqtt.listeners.tcp.default = 1883\nmqtt.listeners.tcp.2 = 127.0.0.1:2883", { tcpListeners: [{ host: "127.0.0.1", port: 2883 }, { host: "::", port: 11883 }] }],
    ["an empty variable counts as unset", { RABBITMQ_MQTT_MQTT__VHOST: "" }, "mqtt.vhost = /f", { vhost: "/f" }],
    ["values are taken as they are, # included", { RABBITMQ_MQTT_MQTT__DEFAULT_PASS: "a#b" }, "", { defaultPass: "a#b" }],
  ];
  for (const [name, env, conf, expected] of cases) {
    test(name, () => {
      const r = loadSnippet(dir, conf, env);
      if ("errors" in r) throw new Error(r.errors.join("\n"));
      expect(r.config).toMatchObject(expected);
      expect(r.warnings).toEqual([]);
    });
  }

  test("a bad value names the variable where a file would say file:line", () => {
    const r = loadSnippet(dir, "", { RABBITMQ_MQTT_MQTT__PREFETCH: "lots", RABBITMQ_MQTT_MQTT__DEFAULT_PASS: "" });
    expect(r).toEqual({ errors: ["$RABBITMQ_MQTT_MQTT__PREFETCH: mqtt.prefetch = lots: not a whole number, expected a whole number from 0 to 65535"], warnings: [] });
  });

  test("unknown variables are warnings with the closest variable, not errors", () => {
    const r = loadSnippet(dir, "", { RABBITMQ_MQTT_MQTT__ALLOW_ANONYMUS: "false", RABBITMQ_MQTT_SOMETHING_ELSE: "1" });
    expect("config" in r).toBe(true);
    expect(r.warnings).toEqual([
      "$RABBITMQ_MQTT_MQTT__ALLOW_ANONYMUS: not a rabbitmq-mqtt setting, ignored; did you mean RABBITMQ_MQTT_MQTT__ALLOW_ANONYMOUS (mqtt.allow_anonymous)?",
      "$RABBITMQ_MQTT_SOMETHING_ELSE: not a rabbitmq-mqtt setting, ignored",
    ]);
  });

  test("long and short form of one key: the long one wins, with a warning", () => {
    const { settings, warnings } = readEnvOverrides({ RABBITMQ_MQTT_LOG_LEVEL: "debug", RABBITMQ_MQTT_ADAPTER__LOG_LEVEL: "error" });
    expect(settings).toEqual([{ key: "adapter.log_level", segments: ["adapter", "log_level"], value: "error", source: "$RABBITMQ_MQTT_ADAPTER__LOG_LEVEL" }]);
    expect(warnings).toEqual(["$RABBITMQ_MQTT_LOG_LEVEL and $RABBITMQ_MQTT_ADAPTER__LOG_LEVEL both set adapter.log_level; using $RABBITMQ_MQTT_ADAPTER__LOG_LEVEL"]);
  });

  test("RABBITMQ_MQTT_CONFIG_FILE and other variables are not settings", () => {
    expect(readEnvOverrides({ RABBITMQ_MQTT_CONFIG_FILE: "/x.conf", RABBITMQ_NODE_PORT: "5673", PATH: "/bin" })).toEqual({ settings: [], warnings: [] });
  });
});
