import { describe, expect, test } from "bun:test";
import { findClashes, formatAddress, listenersOf, pluginKeysIn, type Listener } from "./listeners.ts";

const conf = (text: string) => [{ path: "rabbitmq.conf", text }];
const brief = (ls: Listener[]) => ls.map((l) => `${l.kind} ${formatAddress(l)}`);

describe("listenersOf reads the plugin's listener keys", () => {
  // [conf text, with WebSocket?, listeners]
  const cases: Array<[string, boolean, string[]]> = [
    ["", false, ["MQTT [::]:1883"]],
    ["", true, ["MQTT [::]:1883", "WebSocket [::]:15675"]],
    ["mqtt.listeners.tcp.default = 11883\n", false, ["MQTT [::]:11883"]],
    ["mqtt.listeners.tcp.1 = 127.0.0.1:1883\nmqtt.listeners.tcp.2 = ::1:1883\n", false, ["MQTT 127.0.0.1:1883", "MQTT [::1]:1883"]],
    ["mqtt.listeners.tcp = none\n", false, []],
    ["mqtt.listeners.ssl.default = 8883\n", false, ["MQTT [::]:1883", "MQTT/TLS [::]:8883"]],
    ["web_mqtt.tcp.port = 15680\nweb_mqtt.tcp.ip = 127.0.0.1\n", true, ["MQTT [::]:1883", "WebSocket 127.0.0.1:15680"]],
    ["web_mqtt.tcp.listener = none\nweb_mqtt.ssl.port = 15676\n", true, ["MQTT [::]:1883", "WebSocket/TLS [::]:15676"]],
    ["web_mqtt.tcp.listener = 127.0.0.1:15675\n", true, ["MQTT [::]:1883", "WebSocket 127.0.0.1:15675"]],
    ["web_mqtt.tcp.port = 15680\n", false, ["MQTT [::]:1883"]],
  ];
  for (const [text, webMqtt, expected] of cases) {
    test(`${JSON.stringify(text)}${webMqtt ? " with WebSocket" : ""} → ${expected.join(", ") || "none"}`, () => {
      const result = listenersOf(conf(text), { webMqtt });
      expect(result.warnings).toEqual([]);
      expect(brief(result.listeners)).toEqual(expected);
    });
  }

  test("a later file replaces an earlier one's key (rabbitmq.conf, then conf.d)", () => {
    const result = listenersOf(
      [
        { path: "/etc/rabbitmq/rabbitmq.conf", text: "mqtt.listeners.tcp.default = 1884\n" },
        { path: "/etc/rabbitmq/conf.d/10-mqtt.conf", text: "mqtt.listeners.tcp.default = 1885\n" },
      ],
      { webMqtt: false },
    );
    expect(result.listeners).toEqual([
      { kind: "MQTT", host: "::", port: 1885, source: "/etc/rabbitmq/conf.d/10-mqtt.conf:1 mqtt.listeners.tcp.default = 1885" },
    ]);
  });

  test("a bad listener value is a warning naming the line, not a crash", () => {
    const result = listenersOf(conf("mqtt.listeners.tcp.default = localhost:1883\n"), { webMqtt: false });
    expect(result.listeners).toEqual([]);
    expect(result.warnings).toEqual([
      'rabbitmq.conf:1 mqtt.listeners.tcp.default = localhost:1883: "localhost" is not an IP address (host names are not allowed), ' +
        "expected a port (1883) or ADDRESS:PORT (127.0.0.1:1883, ::1:1883); not counted as a listener",
    ]);
  });
});

describe("findClashes", () => {
  const l = (host: string, port: number): Listener => ({ kind: "MQTT", host, port, source: "test" });
  const cases: Array<[Listener, Listener, boolean]> = [
    [l("::", 1883), l("::", 1883), true],
    [l("::", 1883), l("127.0.0.1", 1883), true],
    [l("0.0.0.0", 1883), l("::1", 1883), true],
    [l("127.0.0.1", 1883), l("127.0.0.1", 1883), true],
    [l("127.0.0.1", 1883), l("192.0.2.7", 1883), false],
    [l("::", 1883), l("::", 1884), false],
  ];
  for (const [ours, native, clash] of cases) {
    test(`${formatAddress(ours)} vs ${formatAddress(native)}: ${clash ? "clash" : "no clash"}`, () => {
      expect(findClashes([ours], [native]).length).toBe(clash ? 1 : 0);
    });
  }
});

test("pluginKeysIn finds mqtt.* and web_mqtt.* lines in RabbitMQ's own files only", () => {
  const found = pluginKeysIn(conf("listeners.tcp.default = 5672\nmqtt.vhost = /\nweb_mqtt.tcp.port = 15675\nmanagement.tcp.port = 15672\n"));
  expect(found.map((f) => `${f.path}:${f.entry.line} ${f.entry.key}`)).toEqual(["rabbitmq.conf:2 mqtt.vhost", "rabbitmq.conf:3 web_mqtt.tcp.port"]);
});
