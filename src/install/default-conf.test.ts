import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDefaults, loadConfig, SCHEMA } from "../config/index.ts";
import { defaultLinesOf, isDocumentedKey } from "./default-conf.ts";
import { DEFAULT_CONFIG_TEXT } from "./templates.ts";

// Keys and defaults are compared, not the prose: a reworded description is not drift.
// On a failure here, regenerate the file: bun scripts/generate-default-conf.ts

/** `# key = value` / `# key =` lines of the shipped file (prose lines start with `##`). */
function settingLines(text: string): Array<{ key: string; value: string | null; line: number }> {
  const lines: Array<{ key: string; value: string | null; line: number }> = [];
  text.split("\n").forEach((line, i) => {
    const m = /^# ([A-Za-z0-9_.-]+) =(?: (.*))?$/.exec(line);
    if (m) lines.push({ key: m[1] as string, value: m[2] ?? null, line: i + 1 });
  });
  return lines;
}

const dir = mkdtempSync(join(tmpdir(), "rabbitmq-mqtt-default-conf-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** loadConfig on `text` with no RabbitMQ config next to it and no environment overrides. */
function load(text: string) {
  const file = join(dir, `conf-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(file, text);
  return loadConfig({ file, env: {}, rabbitmqConfDir: join(dir, "no-rabbitmq") });
}

describe("packaging/rabbitmq_mqtt.conf agrees with the config schema", () => {
  test("lists every active key once, at the schema's default", () => {
    const shipped = settingLines(DEFAULT_CONFIG_TEXT);
    const expected = SCHEMA.filter(isDocumentedKey).flatMap(defaultLinesOf);
    expect(shipped.map(({ key, value }) => ({ key, value }))).toEqual(expected);
    expect(new Set(shipped.map((l) => l.key)).size).toBe(shipped.length);
  });

  test("lists no key the adapter ignores, replaces or refuses", () => {
    const notActive = SCHEMA.filter((s) => !isDocumentedKey(s)).map((s) => s.key);
    expect(notActive.length).toBeGreaterThan(0);
    const shipped = new Set(settingLines(DEFAULT_CONFIG_TEXT).map((l) => l.key));
    expect(notActive.filter((k) => shipped.has(k))).toEqual([]);
  });

  test("as shipped (all commented out) it loads as the defaults", () => {
    const result = load(DEFAULT_CONFIG_TEXT);
    if (!("config" in result)) throw new Error(result.errors.join("\n"));
    expect(result.warnings).toEqual([]);
    expect({ ...result.config, configFile: null }).toEqual({ ...buildDefaults(), configFile: null });
  });

  test("uncommenting every line that has a value changes nothing: the values are the defaults", () => {
    const uncommented = settingLines(DEFAULT_CONFIG_TEXT)
      .filter((l) => l.value !== null)
      .map((l) => `${l.key} = ${l.value}`)
      .join("\n");
    const result = load(`${uncommented}\n`);
    if (!("config" in result)) throw new Error(result.errors.join("\n"));
    const { amqpUrlSource: _a, configFile: _c, ...loaded } = result.config;
    const { amqpUrlSource: _b, configFile: _d, ...defaults } = buildDefaults();
    expect(loaded).toEqual(defaults);
  });

  test("says where it lives and that mqtt.* keys stay out of rabbitmq.conf", () => {
    expect(DEFAULT_CONFIG_TEXT.startsWith("## /etc/rabbitmq/rabbitmq_mqtt.conf:")).toBe(true);
    expect(DEFAULT_CONFIG_TEXT).toContain("Keep mqtt.* keys out of RabbitMQ's own rabbitmq.conf");
    // Every non-blank line is a comment: nothing is set by the shipped file.
    expect(DEFAULT_CONFIG_TEXT.split("\n").filter((l) => l !== "" && !l.startsWith("#"))).toEqual([]);
  });
});

describe("defaultLinesOf", () => {
  const spec = (key: string) => {
    const found = SCHEMA.find((s) => s.key === key);
    if (!found) throw new Error(`no ${key} in the schema`);
    return found;
  };
  const cases: Array<[string, Array<{ key: string; value: string | null }>]> = [
    ["mqtt.listeners.tcp.$name", [{ key: "mqtt.listeners.tcp.default", value: "1883" }]],
    ["mqtt.listeners.ssl.$name", [{ key: "mqtt.listeners.ssl.default", value: null }]],
    ["mqtt.allow_anonymous", [{ key: "mqtt.allow_anonymous", value: "true" }]],
    ["mqtt.vhost", [{ key: "mqtt.vhost", value: "/" }]],
    ["ssl_options.certfile", [{ key: "ssl_options.certfile", value: null }]],
    ["ssl_options.versions.$version", [{ key: "ssl_options.versions.1", value: null }]],
    ["adapter.metrics.port", [{ key: "adapter.metrics.port", value: "none" }]],
    ["adapter.port_vhost_mapping.$port", [{ key: "adapter.port_vhost_mapping.1883", value: null }]],
  ];
  for (const [key, lines] of cases) {
    test(`${key} → ${lines.map((l) => `${l.key} = ${l.value ?? ""}`).join(", ")}`, () => {
      expect(defaultLinesOf(spec(key))).toEqual(lines);
    });
  }
});
