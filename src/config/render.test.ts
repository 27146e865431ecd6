import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { AdapterConfig } from "./adapter-config.ts";
import { renderConfig } from "./render.ts";
import { loadSnippet, makeTempDir, type TempDir } from "./test-helpers.ts";

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir();
  for (const f of ["ca.pem", "cert.pem", "key.pem"]) dir.write(`tls/${f}`, "-----BEGIN DUMMY-----\n");
});
afterEach(() => dir.remove());

function load(conf: string): AdapterConfig {
  const r = loadSnippet(dir, conf.replaceAll("$TLS", join(dir.path, "tls")));
  if ("errors" in r) throw new Error(r.errors.join("\n"));
  return r.config;
}

/** The fields that describe where values came from, not the values. */
const values = (c: AdapterConfig) => ({ ...c, configFile: null, amqpUrlSource: "" });

const RICH = `
mqtt.listeners.tcp.1 = 127.0.0.1:1883
mqtt.listeners.tcp.2 = ::1:1883
mqtt.listeners.ssl.default = 8883
mqtt.allow_anonymous = false
mqtt.default_user = 'iot user'
mqtt.default_pass = 's3cr#t'
mqtt.vhost = /iot
mqtt.subscription_ttl = infinity
mqtt.prefetch = 0
mqtt.tcp_listen_options.linger.on = true
mqtt.tcp_listen_options.linger.timeout = 3
mqtt.tcp_listen_options.sndbuf = 65536
ssl_options.certfile = $TLS/cert.pem
ssl_options.keyfile = $TLS/key.pem
ssl_options.password = keypass
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
ssl_options.ciphers.1 = TLS_AES_256_GCM_SHA384
ssl_options.ciphers.2 = TLS_CHACHA20_POLY1305_SHA256
web_mqtt.tcp.listener = none
web_mqtt.ssl.port = 15676
web_mqtt.ssl.certfile = $TLS/cert.pem
web_mqtt.ssl.keyfile = $TLS/key.pem
web_mqtt.max_connections = 500
adapter.amqp_url = amqp://mqtt:amqppass@10.0.0.1:5672/%2Fiot
adapter.metrics.port = 9419
adapter.admin_socket = none
adapter.port_vhost_mapping.1883 = /iot
adapter.port_vhost_mapping.8883 = /secure
`;

describe("renderConfig", () => {
  test("reading the unmasked output back gives the same configuration: defaults", () => {
    const config = load("");
    expect(values(load(renderConfig(config, { maskSecrets: false })))).toEqual(values(config));
  });

  test("reading the unmasked output back gives the same configuration: every kind of value", () => {
    const config = load(RICH);
    const text = renderConfig(config, { maskSecrets: false });
    expect(values(load(text))).toEqual(values(config));
  });

  test("secrets are masked, including the password inside adapter.amqp_url", () => {
    const text = renderConfig(load(RICH));
    for (const secret of ["s3cr#t", "keypass", "amqppass"]) expect(text).not.toContain(secret);
    expect(text).toContain("mqtt.default_pass = ********\n");
    expect(text).toContain("ssl_options.password = ********\n");
    expect(text).toContain("adapter.amqp_url = amqp://mqtt:********@10.0.0.1:5672/%2Fiot\n");
  });

  test("switched-off listeners, lists, maps and infinity are written as rabbitmq.conf spells them", () => {
    const text = renderConfig(load(RICH));
    for (const line of [
      "mqtt.listeners.tcp.1 = 127.0.0.1:1883\nmqtt.listeners.tcp.2 = ::1:1883\n",
      "mqtt.listeners.ssl.default = 8883\n",
      "mqtt.default_user = iot user\n",
      "mqtt.subscription_ttl = infinity\n",
      "mqtt.max_session_expiry_interval_seconds = infinity\n",
      "ssl_options.versions.1 = tlsv1.3\nssl_options.versions.2 = tlsv1.2\n",
      "web_mqtt.tcp.listener = none\n",
      "web_mqtt.ssl.ip = ::\nweb_mqtt.ssl.port = 15676\n",
      "adapter.admin_socket = none\n",
      "adapter.port_vhost_mapping.1883 = /iot\nadapter.port_vhost_mapping.8883 = /secure\n",
    ]) {
      expect(text).toContain(line);
    }
    expect(renderConfig(load("mqtt.listeners.tcp = none"))).toContain("mqtt.listeners.tcp = none\n");
  });

  test("values left at their default say so; the header names the file and the URL's origin", () => {
    const config = load("mqtt.prefetch = 20");
    const text = renderConfig(config);
    expect(text).toContain("mqtt.prefetch = 20\n");
    expect(text).toContain("mqtt.vhost = /  # default\n");
    expect(text.split("\n").slice(0, 3)).toEqual([
      "# rabbitmq-mqtt effective configuration (secrets masked)",
      `# config file: ${config.configFile}`,
      "# adapter.amqp_url from: built-in default",
    ]);
  });

  test("ignored and replaced plugin keys are not written", () => {
    const text = renderConfig(load("mqtt.num_acceptors.tcp = 10\nmqtt.retained_message_store = x"));
    expect(text).not.toContain("num_acceptors");
    expect(text).not.toContain("retained_message_store");
  });
});
