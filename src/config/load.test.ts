import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadConfig } from "./load.ts";
import { loadSnippet, makeTempDir, type TempDir } from "./test-helpers.ts";

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir();
  for (const f of ["ca.pem", "cert.pem", "key.pem"]) dir.write(`tls/${f}`, "-----BEGIN DUMMY-----\n");
});
afterEach(() => dir.remove());

const ok = (conf: string, env: Record<string, string> = {}) => {
  const r = loadSnippet(dir, conf.replaceAll("$TLS", join(dir.path, "tls")), env);
  if ("errors" in r) throw new Error(`unexpected errors:\n${r.errors.join("\n")}`);
  return r;
};
const errorsOf = (conf: string, env: Record<string, string> = {}) => {
  const r = loadSnippet(dir, conf.replaceAll("$TLS", join(dir.path, "tls")), env);
  if (!("errors" in r)) throw new Error("expected errors, got a config");
  return r.errors;
};

describe("loadConfig: conf snippet → effective config", () => {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    ["an empty file gives the plugin's defaults", "", {
      tcpListeners: [{ host: "::", port: 1883 }], sslListeners: [], allowAnonymous: true, defaultUser: "guest", defaultPass: "guest",
      vhost: "/", exchange: "amq.topic", subscriptionTtlMs: 86400000, maxSessionExpiryIntervalSeconds: 86400, prefetch: 10,
      sslCertLogin: false, proxyProtocol: false, loginTimeoutMs: 10000, maxPacketSizeBytes: 268435455, maxPacketSizeBeforeConnectBytes: 65536,
      tcpListenOptions: { backlog: 128, nodelay: true, linger: { on: false, timeoutSeconds: 0 } },
      webMqtt: { tcpListener: { host: "::", port: 15675 }, sslListener: null, wsPath: "/ws" },
      amqpUrl: "amqp://localhost:5672", amqpUrlSource: "built-in default", logLevel: "info", authCacheTtlMs: 30000,
      metrics: { ip: "127.0.0.1", port: null }, retained: { dir: "/var/lib/rabbitmq/mqtt-retained" },
    }],
    ["mqtt.listeners.tcp.default moves the MQTT port", "mqtt.listeners.tcp.default = 11883", { tcpListeners: [{ host: "::", port: 11883 }] }],
    ["list-style listeners replace the default, in file order", "mqtt.listeners.tcp.1 = 127.0.0.1:1883\nmqtt.listeners.tcp.2 = ::1:1883",
      { tcpListeners: [{ host: "127.0.0.1", port: 1883 }, { host: "::1", port: 1883 }] }],
    ["bracketed IPv6 listener (accepted beyond cuttlefish)", "mqtt.listeners.tcp.default = [::1]:1884", { tcpListeners: [{ host: "::1", port: 1884 }] }],
    ["mqtt.listeners.tcp = none turns TCP off", "mqtt.listeners.tcp = none", { tcpListeners: [] }],
    ["credentials, vhost and exchange", "mqtt.allow_anonymous = false\nmqtt.default_user = dev\nmqtt.default_pass = 'p#ss word'\nmqtt.vhost = /iot\nmqtt.exchange = mqtt.topic",
      { allowAnonymous: false, defaultUser: "dev", defaultPass: "p#ss word", vhost: "/iot", exchange: "mqtt.topic" }],
    ["subscription_ttl also sets the session expiry maximum", "mqtt.subscription_ttl = 3600000", { subscriptionTtlMs: 3600000, maxSessionExpiryIntervalSeconds: 3600 }],
    ["subscription_ttl = infinity: sessions never expire", "mqtt.subscription_ttl = infinity", { subscriptionTtlMs: null, maxSessionExpiryIntervalSeconds: null }],
    ["subscription_ttl = undefined (the plugin's other spelling)", "mqtt.subscription_ttl = undefined", { subscriptionTtlMs: null }],
    ["max_session_expiry_interval_seconds also sets subscription_ttl", "mqtt.max_session_expiry_interval_seconds = 600", { subscriptionTtlMs: 600000, maxSessionExpiryIntervalSeconds: 600 }],
    ["both session lifetime keys when they agree", "mqtt.subscription_ttl = 60000\nmqtt.max_session_expiry_interval_seconds = 60", { subscriptionTtlMs: 60000, maxSessionExpiryIntervalSeconds: 60 }],
    ["prefetch, login timeout, sparkplug, queue type, topic aliases, proxy protocol",
      "mqtt.prefetch = 50\nmqtt.login_timeout = 5000\nmqtt.sparkplug = true\nmqtt.durable_queue_type = quorum\nmqtt.topic_alias_maximum = 0\nmqtt.proxy_protocol = true",
      { prefetch: 50, loginTimeoutMs: 5000, sparkplug: true, durableQueueType: "quorum", topicAliasMaximum: 0, proxyProtocol: true }],
    ["tcp_listen_options", "mqtt.tcp_listen_options.backlog = 4096\nmqtt.tcp_listen_options.nodelay = false\nmqtt.tcp_listen_options.keepalive = true\nmqtt.tcp_listen_options.sndbuf = 196608\nmqtt.tcp_listen_options.recbuf = 131072\nmqtt.tcp_listen_options.linger.on = true\nmqtt.tcp_listen_options.linger.timeout = 5",
      { tcpListenOptions: { backlog: 4096, nodelay: false, keepalive: true, sndbufBytes: 196608, recbufBytes: 131072, linger: { on: true, timeoutSeconds: 5 } } }],
    ["packet size limits", "mqtt.max_packet_size_authenticated = 1048576\nmqtt.max_packet_size_unauthenticated = 1024", { maxPacketSizeBytes: 1048576, maxPacketSizeBeforeConnectBytes: 1024 }],
    ["TLS listener with ssl_options", "mqtt.listeners.ssl.default = 8883\nssl_options.cacertfile = $TLS/ca.pem\nssl_options.certfile = $TLS/cert.pem\nssl_options.keyfile = $TLS/key.pem\nssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\nssl_options.versions.1 = tlsv1.3\nssl_options.versions.2 = tlsv1.2\nssl_options.ciphers.1 = TLS_AES_256_GCM_SHA384\nssl_options.depth = 2\nmqtt.ssl_cert_login = true\nssl_cert_login_from = common_name\nadapter.amqp_url = amqps://localhost\nadapter.ssl_cert_login.ca_certfile = $TLS/ca.pem\nadapter.ssl_cert_login.ca_keyfile = $TLS/key.pem",
      { sslListeners: [{ host: "::", port: 8883 }], sslCertLogin: true, sslCertLoginFrom: "common_name",
        certLoginCa: { certfile: expect.stringMatching(/ca\.pem$/), keyfile: expect.stringMatching(/key\.pem$/), password: null, certificateLifetimeMs: 600_000 },
        tls: { verify: "verify_peer", failIfNoPeerCert: true, versions: ["tlsv1.3", "tlsv1.2"], ciphers: ["TLS_AES_256_GCM_SHA384"], depth: 2 } }],
    ["web_mqtt tcp ip, port and path", "web_mqtt.tcp.ip = 127.0.0.1\nweb_mqtt.tcp.port = 15680\nweb_mqtt.ws_path = /mqtt", { webMqtt: { tcpListener: { host: "127.0.0.1", port: 15680 }, wsPath: "/mqtt" } }],
    ["web_mqtt.tcp.listener = none turns WebSocket off", "web_mqtt.tcp.listener = none", { webMqtt: { tcpListener: null } }],
    ["web_mqtt.tcp.listener = ADDRESS:PORT", "web_mqtt.tcp.listener = 127.0.0.1:15000", { webMqtt: { tcpListener: { host: "127.0.0.1", port: 15000 } } }],
    ["web_mqtt.ssl.port turns secure WebSocket on", "web_mqtt.ssl.port = 15676\nweb_mqtt.ssl.certfile = $TLS/cert.pem\nweb_mqtt.ssl.keyfile = $TLS/key.pem",
      { webMqtt: { sslListener: { host: "::", port: 15676 }, ssl: { certfile: expect.stringMatching(/tls\/cert\.pem$/) } } }],
    ["web_mqtt limits", "web_mqtt.max_connections = 1000\nweb_mqtt.ws_opts.max_frame_size = 65536\nweb_mqtt.ws_opts.idle_timeout = 60000",
      { webMqtt: { maxConnections: 1000, wsMaxFrameSizeBytes: 65536, wsIdleTimeoutMs: 60000 } }],
    ["adapter keys", "adapter.amqp_url = amqps://mq.example:5671/%2F\nadapter.log_level = debug\nadapter.retained.dir = /srv/retained\nadapter.retained.max_count = 10\nadapter.retained.max_bytes = 1024\nadapter.auth_cache_ttl = 0\nadapter.metrics.port = 9419\nadapter.metrics.ip = ::\nadapter.admin_socket = none\nadapter.port_vhost_mapping.1883 = /iot\nadapter.port_vhost_mapping.8883 = /secure",
      { amqpUrl: "amqps://mq.example:5671/%2F", amqpUrlSource: expect.stringMatching(/rabbitmq_mqtt\.conf:1$/), logLevel: "debug", retained: { dir: "/srv/retained", maxCount: 10, maxBytes: 1024 },
        authCacheTtlMs: 0, metrics: { port: 9419, ip: "::" }, adminSocketPath: null, portVhostMapping: { 1883: "/iot", 8883: "/secure" } }],
    ["adapter.amqp_ssl_options", "adapter.amqp_url = amqps://localhost\nadapter.amqp_ssl_options.cacertfile = $TLS/ca.pem\nadapter.amqp_ssl_options.verify = verify_none\nadapter.amqp_ssl_options.server_name_indication = rabbit.local",
      { amqpTls: { cacertfile: expect.stringMatching(/ca\.pem$/), verify: "verify_none", serverNameIndication: "rabbit.local" } }],
  ];
  for (const [name, conf, expected] of cases) {
    test(name, () => expect(ok(conf).config).toMatchObject(expected));
  }
});

describe("loadConfig: conf snippet → exact errors with file:line", () => {
  const F = "rabbitmq_mqtt.conf";
  const cases: Array<[string, string, string[]]> = [
    ["unknown key names the closest one", "mqtt.allow_anonymus = false", [`${F}:1: mqtt.allow_anonymus = false: unknown key, did you mean mqtt.allow_anonymous?`]],
    ["a key without its prefix", "\nallow_anonymous = false", [`${F}:2: allow_anonymous = false: unknown key, did you mean mqtt.allow_anonymous?`]],
    ["RabbitMQ's own listener key", "listeners.tcp.default = 5672", [`${F}:1: listeners.tcp.default = 5672: unknown key, a RabbitMQ server key, which belongs in rabbitmq.conf, not here; did you mean mqtt.listeners.tcp.default?`]],
    ["a middle word left out", "web_mqtt.port = 15675", [`${F}:1: web_mqtt.port = 15675: unknown key, did you mean web_mqtt.tcp.port?`]],
    ["nothing close", "foo.bar = 1", [`${F}:1: foo.bar = 1: unknown key, expected a key of rabbitmq-mqtt (mqtt.*, web_mqtt.*, ssl_options.*, ssl_cert_login_*, adapter.*)`]],
    ["unknown secret-looking key is masked", "mqtt.default_password = hunter2", [`${F}:1: mqtt.default_password = ********: unknown key, did you mean mqtt.default_pass?`]],
    ["boolean", "mqtt.allow_anonymous = yes", [`${F}:1: mqtt.allow_anonymous = yes: not a boolean, expected true or false`]],
    ["booleans are case-sensitive, as cuttlefish", "mqtt.allow_anonymous = True", [`${F}:1: mqtt.allow_anonymous = True: not a boolean, expected true or false`]],
    ["integer", "mqtt.prefetch = ten", [`${F}:1: mqtt.prefetch = ten: not a whole number, expected a whole number from 0 to 65535`]],
    ["integer out of range", "mqtt.prefetch = 70000", [`${F}:1: mqtt.prefetch = 70000: above the maximum 65535, expected a whole number from 0 to 65535`]],
    ["integer with a unit", "mqtt.login_timeout = 10s", [`${F}:1: mqtt.login_timeout = 10s: not a whole number, expected a whole number of milliseconds ≥ 0`]],
    ["host name in a listener", "mqtt.listeners.tcp.default = localhost:1883", [`${F}:1: mqtt.listeners.tcp.default = localhost:1883: "localhost" is not an IP address (host names are not allowed), expected a port (1883) or ADDRESS:PORT (127.0.0.1:1883, ::1:1883)`]],
    ["listener port out of range", "mqtt.listeners.tcp.default = 70000", [`${F}:1: mqtt.listeners.tcp.default = 70000: port above the maximum 65535, expected a port (1883) or ADDRESS:PORT (127.0.0.1:1883, ::1:1883)`]],
    ["session lifetime word", "mqtt.subscription_ttl = forever", [`${F}:1: mqtt.subscription_ttl = forever: not a whole number, expected undefined, or infinity, or a whole number of milliseconds ≥ 1`]],
    ["session lifetime keys that disagree", "mqtt.subscription_ttl = 1000\nmqtt.max_session_expiry_interval_seconds = 60",
      [`${F}:2: mqtt.max_session_expiry_interval_seconds = 60: disagrees with mqtt.subscription_ttl = 1000 (${F}:1), expected only one of them (subscription_ttl is the older name, in milliseconds)`]],
    ["enum", "adapter.log_level = warn", [`${F}:1: adapter.log_level = warn: "warn" is not a known value, expected one of debug, info, warning, error`]],
    ["TLS version", "ssl_options.versions.1 = tlsv1.4", [`${F}:1: ssl_options.versions.1 = tlsv1.4: "tlsv1.4" is not a known value, expected one of tlsv1, tlsv1.1, tlsv1.2, tlsv1.3`]],
    ["TLS listener without certificate and key", "mqtt.listeners.ssl.default = 8883", [`${F}:1: mqtt.listeners.ssl.default = 8883: a TLS listener needs ssl_options.certfile and ssl_options.keyfile, which are not set`]],
    ["certificate login without the adapter CA and amqps://", "mqtt.listeners.ssl.default = 8883\nssl_options.certfile = $TLS/cert.pem\nssl_options.keyfile = $TLS/key.pem\nssl_options.verify = verify_peer\nmqtt.ssl_cert_login = true",
      [`${F}:5: mqtt.ssl_cert_login = true: certificate clients log in to RabbitMQ with its EXTERNAL mechanism over TLS, which needs adapter.ssl_cert_login.ca_certfile, adapter.ssl_cert_login.ca_keyfile, an amqps:// adapter.amqp_url (see the README, TLS and WebSocket)`]],
    ["secure WebSocket without key", "web_mqtt.ssl.port = 15676\nweb_mqtt.ssl.certfile = $TLS/cert.pem", [`${F}:1: web_mqtt.ssl.port = 15676: a TLS listener needs web_mqtt.ssl.keyfile, which is not set`]],
    ["secure WebSocket ip without port", "web_mqtt.ssl.ip = 127.0.0.1", [`${F}:1: web_mqtt.ssl.ip = 127.0.0.1: the secure WebSocket listener has no port, expected web_mqtt.ssl.port too`]],
    ["web listener and ip/port together", "web_mqtt.tcp.listener = 127.0.0.1:15000\nweb_mqtt.tcp.port = 15001",
      [`${F}:1: web_mqtt.tcp.listener = 127.0.0.1:15000: conflicts with web_mqtt.tcp.port (${F}:2), expected either web_mqtt.tcp.listener or web_mqtt.tcp.ip/port`]],
    ["certificate file that does not exist", "ssl_options.certfile = /nonexistent/cert.pem", [`${F}:1: ssl_options.certfile = /nonexistent/cert.pem: cannot read the file (no such file), expected a readable PEM file`]],
    ["certificate path that is a directory", "ssl_options.cacertfile = $TLS", [`${F}:1: ssl_options.cacertfile = tls: cannot read the file (not a regular file), expected a readable PEM file`]],
    ["relative certificate path", "ssl_options.keyfile = key.pem", [`${F}:1: ssl_options.keyfile = key.pem: not an absolute path, expected an absolute file path`]],
    ["CRL checks are refused, not ignored", "ssl_options.crl_check = true", [`${F}:1: ssl_options.crl_check = true: not supported: CRL checking is not implemented; ignoring it would accept revoked certificates; expected this key to be removed`]],
    ["two listeners on one port", "mqtt.listeners.tcp.default = 15675", [`web_mqtt.tcp.port (default): port 15675 is also used by mqtt.listeners.tcp.default (${F}:1), expected a different port for each listener`]],
    ["a specific address clashes with a wildcard one", "mqtt.listeners.tcp.1 = 1883\nmqtt.listeners.tcp.2 = 127.0.0.1:1883",
      [`mqtt.listeners.tcp.2 (${F}:2): port 1883 is also used by mqtt.listeners.tcp.1 (${F}:1), expected a different port for each listener`]],
    ["port mapping with a word that is not a port", "adapter.port_vhost_mapping.mqtt = /iot", [`${F}:1: adapter.port_vhost_mapping.mqtt = /iot: "mqtt" in the key: not a whole number, expected adapter.port_vhost_mapping.<a whole number from 0 to 65535>`]],
    ["AMQP URL scheme", "adapter.amqp_url = http://localhost:5672", [`${F}:1: adapter.amqp_url = http://localhost:5672: scheme "http:" is not amqp: or amqps:, expected an amqp:// or amqps:// URL such as amqp://localhost:5672`]],
    ["an alias and its key both set", "mqtt.max_packet_size_authenticated = 1000\nadapter.max_packet_size = 2000",
      [`${F}:2: adapter.max_packet_size = 2000: mqtt.max_packet_size_authenticated (${F}:1) sets the same thing, expected only one of them`]],
    ["every problem at once, syntax and values, in line order", "mqtt.vhost /\nmqtt.prefetch = many\nmqtt.allow_anonymous = nope\nmqtt.exchange = \nfoo = 1",
      [`${F}:1: "mqtt.vhost /": no "=", expected key = value`, `${F}:4: mqtt.exchange = : no value, expected a value after "=" (write '' for an empty one)`,
        `${F}:2: mqtt.prefetch = many: not a whole number, expected a whole number from 0 to 65535`, `${F}:3: mqtt.allow_anonymous = nope: not a boolean, expected true or false`,
        `${F}:5: foo = 1: unknown key, expected a key of rabbitmq-mqtt (mqtt.*, web_mqtt.*, ssl_options.*, ssl_cert_login_*, adapter.*)`]],
  ];
  for (const [name, conf, expected] of cases) {
    test(name, () => expect(errorsOf(conf)).toEqual(expected));
  }
});

describe("loadConfig: warnings", () => {
  const F = "rabbitmq_mqtt.conf";
  const cases: Array<[string, string, string[]]> = [
    ["plugin keys without meaning here are accepted with a warning", "mqtt.num_acceptors.tcp = 10",
      [`${F}:1: mqtt.num_acceptors.tcp = 10: has no effect in rabbitmq-mqtt (Bun accepts connections on its event loop, there are no acceptor processes)`]],
    ["the retained store key names its replacement", "mqtt.retained_message_store = rabbit_mqtt_retained_msg_store_dets",
      [`${F}:1: mqtt.retained_message_store = rabbit_mqtt_retained_msg_store_dets: has no effect in rabbitmq-mqtt, replaced by adapter.retained.dir, adapter.retained.max_count and adapter.retained.max_bytes`]],
    ["an alias names the plugin's key", "adapter.max_packet_size = 2000",
      [`${F}:1: adapter.max_packet_size = 2000: another name for mqtt.max_packet_size_authenticated; prefer mqtt.max_packet_size_authenticated`]],
    ["none beside listed listeners", "mqtt.listeners.tcp.default = 1883\nmqtt.listeners.tcp = none",
      [`${F}:2: mqtt.listeners.tcp = none: turns off the listener(s) also set by mqtt.listeners.tcp.default (${F}:1)`]],
    ["certificate login without a TLS listener", "mqtt.ssl_cert_login = true",
      [`${F}:1: mqtt.ssl_cert_login = true: there is no TLS listener (mqtt.listeners.ssl.*), so no client can log in with a certificate`]],
    ["duplicate keys (from the parser)", "mqtt.vhost = a\nmqtt.vhost = b", [`${F}:2: mqtt.vhost = b: replaces mqtt.vhost = a from line 1 (the last one wins)`]],
    ["duplicate secret keys are masked", "mqtt.default_pass = a\nmqtt.default_pass = b", [`${F}:2: mqtt.default_pass = ********: replaces mqtt.default_pass = ******** from line 1 (the last one wins)`]],
  ];
  for (const [name, conf, expected] of cases) {
    test(name, () => expect(ok(conf).warnings).toEqual(expected));
  }

  test("an alias takes effect", () => {
    expect(ok("adapter.max_packet_size_before_connect = 512").config.maxPacketSizeBeforeConnectBytes).toBe(512);
  });
});

describe("loadConfig: which file", () => {
  test("a missing default file means all defaults, no warning", () => {
    const r = loadConfig({ env: {}, defaultFile: join(dir.path, "absent.conf"), rabbitmqConfDir: dir.path });
    expect(r).toMatchObject({ config: { configFile: null, vhost: "/" }, warnings: [] });
  });

  test("an existing default file is read", () => {
    const file = dir.write("default.conf", "mqtt.vhost = /d\n");
    expect(loadConfig({ env: {}, defaultFile: file, rabbitmqConfDir: dir.path })).toMatchObject({ config: { configFile: file, vhost: "/d" } });
  });

  test("a missing file given explicitly is an error", () => {
    const r = loadConfig({ file: join(dir.path, "nope.conf"), env: {}, rabbitmqConfDir: dir.path });
    expect(r).toEqual({ errors: [`${join(dir.path, "nope.conf")}: cannot read the config file: no such file, expected a readable rabbitmq.conf-format file`], warnings: [] });
  });

  test("RABBITMQ_MQTT_CONFIG_FILE names the file; missing is an error naming the variable", () => {
    const file = dir.write("env.conf", "mqtt.vhost = /e\n");
    expect(loadConfig({ env: { RABBITMQ_MQTT_CONFIG_FILE: file }, defaultFile: "/nonexistent", rabbitmqConfDir: dir.path })).toMatchObject({ config: { vhost: "/e" } });
    const r = loadConfig({ env: { RABBITMQ_MQTT_CONFIG_FILE: "/nonexistent/x.conf" }, rabbitmqConfDir: dir.path });
    expect(r).toEqual({ errors: ["/nonexistent/x.conf (from $RABBITMQ_MQTT_CONFIG_FILE): cannot read the config file: no such file, expected a readable rabbitmq.conf-format file"], warnings: [] });
  });

  test("the file option wins over RABBITMQ_MQTT_CONFIG_FILE", () => {
    const file = dir.write("cli.conf", "mqtt.vhost = /cli\n");
    expect(loadConfig({ file, env: { RABBITMQ_MQTT_CONFIG_FILE: "/nonexistent" }, rabbitmqConfDir: dir.path })).toMatchObject({ config: { vhost: "/cli" } });
  });

  test("a directory is not a config file", () => {
    const r = loadConfig({ file: dir.path, env: {}, rabbitmqConfDir: dir.path });
    expect(r).toEqual({ errors: [`${dir.path}: cannot read the config file: it is a directory, expected a readable rabbitmq.conf-format file`], warnings: [] });
  });
});

describe("loadConfig: secrets stay out of messages", () => {
  test("the password inside adapter.amqp_url is masked in errors and warnings", () => {
    const r = loadSnippet(dir, "adapter.amqp_url = amqp://u:hunter2@h:5672\nadapter.amqp_url = amqp://u:hunter3@:5672\n");
    expect(r).toEqual({
      errors: ["rabbitmq_mqtt.conf:2: adapter.amqp_url = amqp://u:********@:5672: not a URL, expected an amqp:// or amqps:// URL such as amqp://localhost:5672"],
      warnings: ["rabbitmq_mqtt.conf:2: adapter.amqp_url = amqp://u:********@:5672: replaces adapter.amqp_url = amqp://u:********@h:5672 from line 1 (the last one wins)"],
    });
  });
});

describe("loadConfig: bad input never throws", () => {
  // Random snippets built from real keys, near-misses and hostile values: each must give a
  // config or errors, never an exception.
  test("random snippets", () => {
    const keys = ["mqtt.vhost", "mqtt.listeners.tcp.default", "mqtt.listeners.tcp", "web_mqtt.ssl.ip", "web_mqtt.tcp.listener", "ssl_options.certfile",
      "adapter.port_vhost_mapping.1", "mqtt.subscription_ttl", "adapter.amqp_url", "x.y\\.z", "mqtt..a", "adapter.max_packet_size", "web_mqtt.ssl.port"];
    const vals = ["", "''", "'", "none", "infinity", "-1", "99999999999999999999", "::1:1883", "[::]:0", "/", "amqp://", "é\u0000", "#", "a # b", "true", "1883", "0"];
    let seed = 42;
    const pick = <T>(xs: T[]) => xs[(seed = (seed * 1103515245 + 12345) % 2147483648) % xs.length] as T;
    for (let i = 0; i < 300; i++) {
      const lines = Array.from({ length: 1 + (i % 6) }, () => `${pick(keys)} = ${pick(vals)}`);
      const r = loadSnippet(dir, lines.join("\n"));
      expect("config" in r || r.errors.length > 0).toBe(true);
    }
  });
});
