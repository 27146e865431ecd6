import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildDefaults, findKey, getPath, SCHEMA } from "./schema.ts";

const FIXTURES = join(import.meta.dir, "../../test/fixtures/config");

/** The rabbitmq.conf names of a cuttlefish schema: `{mapping, "mqtt.x", ...}`. */
function mappingsOf(schemaFile: string): string[] {
  const text = readFileSync(join(FIXTURES, schemaFile), "utf8");
  return [...new Set([...text.matchAll(/\{mapping,\s*"([^"]+)"/g)].map((m) => m[1] as string))];
}

/** "$name" segments filled with a word, as an operator would write the key. */
const concrete = (key: string) => key.split(".").map((s) => (s.startsWith("$") ? "default" : s));

describe("schema: every plugin key is known", () => {
  // The fixtures are RabbitMQ 3.10.8's own schema files (MPL-2.0), copied from the Debian package.
  for (const file of ["rabbitmq_mqtt-3.10.8.schema", "rabbitmq_web_mqtt-3.10.8.schema"]) {
    test(`every mapping of ${file}`, () => {
      const keys = mappingsOf(file);
      expect(keys.length).toBeGreaterThan(20);
      expect(keys.filter((k) => findKey(concrete(k)) === undefined)).toEqual([]);
    });
  }

  test("keys added by the plugin in 3.12 and 3.13", () => {
    const added = [
      "mqtt.max_session_expiry_interval_seconds", "mqtt.max_packet_size_unauthenticated", "mqtt.max_packet_size_authenticated",
      "mqtt.topic_alias_maximum", "mqtt.mailbox_soft_limit", "mqtt.ssl_cert_client_id_from", "mqtt.ssl_cert_login_san_type",
      "mqtt.ssl_cert_login_san_index", "mqtt.message_interceptors.incoming.set_client_id_annotation.enabled",
    ];
    expect(added.filter((k) => findKey(k.split(".")) === undefined)).toEqual([]);
  });

  test("RabbitMQ's TLS keys the plugin uses", () => {
    const keys = ["ssl_options.cacertfile", "ssl_options.certfile", "ssl_options.keyfile", "ssl_options.password", "ssl_options.verify",
      "ssl_options.fail_if_no_peer_cert", "ssl_options.versions.1", "ssl_options.ciphers.1", "ssl_options.depth", "ssl_cert_login_from"];
    expect(keys.filter((k) => findKey(k.split(".")) === undefined)).toEqual([]);
  });
});

describe("schema: the table is consistent", () => {
  test("no key appears twice", () => {
    const keys = SCHEMA.map((s) => s.key);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
  });

  test("our own keys all start with adapter.", () => {
    const prefixes = new Set(SCHEMA.map((s) => s.key.split(".")[0]));
    expect([...prefixes].sort()).toEqual(["adapter", "mqtt", "ssl_cert_login_from", "ssl_cert_login_san_index", "ssl_cert_login_san_type", "ssl_options", "web_mqtt"]);
  });

  test("every field with a default exists in the defaults and holds that default", () => {
    const defaults = buildDefaults();
    for (const spec of SCHEMA) {
      if (spec.field === null || spec.default === undefined) continue;
      expect({ key: spec.key, value: getPath(defaults, spec.field) }).toEqual({ key: spec.key, value: spec.default });
    }
  });

  test("the defaults object has no undefined leaf", () => {
    const undefinedLeaves: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (node === undefined) undefinedLeaves.push(path);
      else if (typeof node === "object" && node !== null && !Array.isArray(node)) {
        for (const [k, v] of Object.entries(node)) walk(v, path ? `${path}.${k}` : k);
      }
    };
    walk(buildDefaults(), "");
    expect(undefinedLeaves).toEqual([]);
  });

  test("every non-null default survives format → parse (check-config output reads back)", () => {
    for (const spec of SCHEMA) {
      if (spec.default === undefined || (spec.default === null && !spec.type.formatsNull)) continue;
      const items = spec.collect === "list" ? (spec.default as unknown[]) : spec.collect === "map" ? [] : [spec.default];
      for (const item of items) {
        expect({ key: spec.key, parsed: spec.type.parse(spec.type.format(item)) }).toEqual({ key: spec.key, parsed: { ok: true, value: item } });
      }
    }
  });

  test("aliases point at real keys; every entry has a description", () => {
    for (const spec of SCHEMA) {
      expect(spec.description.length).toBeGreaterThan(5);
      if (spec.status?.kind === "alias") expect(findKey(spec.status.of.split("."))?.spec.key).toBe(spec.status.of);
    }
  });

  test("escaped dots never match a fixed key", () => {
    expect(findKey(["mqtt.vhost"])).toBeUndefined();
    expect(findKey(["mqtt", "listeners", "tcp", "a.b"])?.spec.key).toBe("mqtt.listeners.tcp.$name");
  });
});
