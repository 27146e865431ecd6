import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { discoverAmqpUrl, discoverLoopbackUsers } from "./rabbitmq-env.ts";
import { loadSnippet, makeTempDir, type TempDir } from "./test-helpers.ts";

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => dir.remove());

/** Files below <tmp>/etc-rabbitmq, then discovery with `env`; paths in results shortened. */
function discover(files: Record<string, string>, env: Record<string, string> = {}) {
  const confDir = join(dir.path, "etc-rabbitmq");
  for (const [name, text] of Object.entries(files)) dir.write(`etc-rabbitmq/${name}`, text.replaceAll("$DIR", confDir));
  const withDir = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replaceAll("$DIR", confDir)]));
  const r = discoverAmqpUrl({ rabbitmqConfDir: confDir, env: withDir });
  return { url: r.url, source: dir.short(r.source), warnings: r.warnings.map(dir.short) };
}

describe("adapter.amqp_url default from RabbitMQ's own config", () => {
  const cases: Array<[string, Record<string, string>, Record<string, string>, string, string]> = [
    ["nothing configured", {}, {}, "amqp://localhost:5672", "built-in default"],
    ["rabbitmq.conf listeners.tcp.default", { "rabbitmq.conf": "# RabbitMQ\nlisteners.tcp.default = 5673\n" }, {}, "amqp://localhost:5673", "etc-rabbitmq/rabbitmq.conf:2 listeners.tcp.default"],
    ["a loopback listener is preferred", { "rabbitmq.conf": "listeners.tcp.1 = 10.0.0.5:5672\nlisteners.tcp.2 = 127.0.0.1:5679\n" }, {}, "amqp://127.0.0.1:5679", "etc-rabbitmq/rabbitmq.conf:2 listeners.tcp.2"],
    ["an IPv6 listener gets brackets", { "rabbitmq.conf": "listeners.tcp.1 = ::1:5674\n" }, {}, "amqp://[::1]:5674", "etc-rabbitmq/rabbitmq.conf:1 listeners.tcp.1"],
    ["a wildcard address means localhost", { "rabbitmq.conf": "listeners.tcp.1 = 0.0.0.0:5675\n" }, {}, "amqp://localhost:5675", "etc-rabbitmq/rabbitmq.conf:1 listeners.tcp.1"],
    ["only a specific address", { "rabbitmq.conf": "listeners.tcp.1 = 10.1.2.3:5672\n" }, {}, "amqp://10.1.2.3:5672", "etc-rabbitmq/rabbitmq.conf:1 listeners.tcp.1"],
    ["conf.d files come after rabbitmq.conf, in name order", { "rabbitmq.conf": "listeners.tcp.default = 5673\n", "conf.d/10-a.conf": "listeners.tcp.default = 5676\n", "conf.d/20-b.conf": "listeners.tcp.default = 5677\n" }, {},
      "amqp://localhost:5677", "etc-rabbitmq/conf.d/20-b.conf:1 listeners.tcp.default"],
    ["NODE_PORT in rabbitmq-env.conf", { "rabbitmq-env.conf": "# env\nNODENAME=rabbit@localhost\nNODE_PORT=5680\n" }, {}, "amqp://localhost:5680", "etc-rabbitmq/rabbitmq-env.conf:3 NODE_PORT"],
    ["exported, quoted RABBITMQ_NODE_PORT in rabbitmq-env.conf", { "rabbitmq-env.conf": 'export RABBITMQ_NODE_PORT="5681"\n' }, {}, "amqp://localhost:5681", "etc-rabbitmq/rabbitmq-env.conf:1 RABBITMQ_NODE_PORT"],
    ["NODE_IP_ADDRESS with NODE_PORT", { "rabbitmq-env.conf": "NODE_IP_ADDRESS=127.0.0.1\nNODE_PORT=5682 # comment\n" }, {}, "amqp://127.0.0.1:5682", "etc-rabbitmq/rabbitmq-env.conf:2 NODE_PORT"],
    ["the environment's RABBITMQ_NODE_PORT wins over rabbitmq-env.conf", { "rabbitmq-env.conf": "NODE_PORT=5680\n" }, { RABBITMQ_NODE_PORT: "5683" }, "amqp://localhost:5683", "RABBITMQ_NODE_PORT"],
    ["rabbitmq.conf wins over NODE_PORT (RabbitMQ applies its config files last)", { "rabbitmq.conf": "listeners.tcp.default = 5673\n", "rabbitmq-env.conf": "NODE_PORT=5680\n" }, { RABBITMQ_NODE_PORT: "5683" },
      "amqp://localhost:5673", "etc-rabbitmq/rabbitmq.conf:1 listeners.tcp.default"],
    ["RABBITMQ_CONF_ENV_FILE moves rabbitmq-env.conf", { "other/env.conf": "NODE_PORT=5684\n", "rabbitmq-env.conf": "NODE_PORT=5680\n" }, { RABBITMQ_CONF_ENV_FILE: "$DIR/other/env.conf" },
      "amqp://localhost:5684", "etc-rabbitmq/other/env.conf:1 NODE_PORT"],
    ["CONFIG_FILE without extension in rabbitmq-env.conf", { "rabbitmq-env.conf": "CONFIG_FILE=$DIR/custom\n", "custom.conf": "listeners.tcp.default = 5685\n" }, {}, "amqp://localhost:5685", "etc-rabbitmq/custom.conf:1 listeners.tcp.default"],
    ["RABBITMQ_CONFIG_FILE without extension", { "custom.conf": "listeners.tcp.default = 5685\n" }, { RABBITMQ_CONFIG_FILE: "$DIR/custom" }, "amqp://localhost:5685", "etc-rabbitmq/custom.conf:1 listeners.tcp.default"],
    ["other keys and bad lines of rabbitmq.conf do not matter", { "rabbitmq.conf": "loopback_users.guest = false\nnot a setting\nlisteners.tcp.default = 5686\n" }, {}, "amqp://localhost:5686", "etc-rabbitmq/rabbitmq.conf:3 listeners.tcp.default"],
  ];
  for (const [name, files, env, url, source] of cases) {
    test(name, () => expect(discover(files, env)).toEqual({ url, source, warnings: [] }));
  }

  const warned: Array<[string, Record<string, string>, string]> = [
    ["listeners.tcp = none", { "rabbitmq.conf": "listeners.tcp = none\n" },
      "RabbitMQ's config turns plain AMQP off (listeners.tcp = none); set adapter.amqp_url (e.g. amqps://localhost:5671 with adapter.amqp_ssl_options.*)"],
    ["a shell expansion in rabbitmq-env.conf", { "rabbitmq-env.conf": "NODE_PORT=${PORT:-5673}\n" },
      "etc-rabbitmq/rabbitmq-env.conf:1: NODE_PORT=${PORT:-5673}: needs a shell to expand, so it is not used; write a literal value or set adapter.amqp_url"],
    ["a NODE_PORT that is not a port", { "rabbitmq-env.conf": "NODE_PORT=amqp\n" },
      "etc-rabbitmq/rabbitmq-env.conf:1 NODE_PORT = amqp: not a whole number, expected a port number; using amqp://localhost:5672"],
    ["an Erlang-term config file", { "rabbitmq-env.conf": "CONFIG_FILE=$DIR/rabbitmq.config\n", "rabbitmq.config": "[].\n" },
      "etc-rabbitmq/rabbitmq.config is in Erlang term format, which rabbitmq-mqtt does not read; set adapter.amqp_url if RabbitMQ's port is not 5672"],
  ];
  for (const [name, files, warning] of warned) {
    test(`warns, then uses the built-in default: ${name}`, () => {
      expect(discover(files)).toEqual({ url: "amqp://localhost:5672", source: "built-in default", warnings: [warning] });
    });
  }
});

describe("loadConfig uses the discovered URL only when adapter.amqp_url is unset", () => {
  test("unset: RabbitMQ's port", () => {
    dir.write("etc-rabbitmq/rabbitmq.conf", "listeners.tcp.default = 5673\n");
    expect(loadSnippet(dir, "")).toMatchObject({ config: { amqpUrl: "amqp://localhost:5673", amqpUrlSource: expect.stringMatching(/rabbitmq\.conf:1 listeners\.tcp\.default$/) } });
  });

  test("set: RabbitMQ's config is not consulted", () => {
    dir.write("etc-rabbitmq/rabbitmq.conf", "listeners.tcp = none\n");
    expect(loadSnippet(dir, "adapter.amqp_url = amqp://mq:5672")).toMatchObject({ config: { amqpUrl: "amqp://mq:5672" }, warnings: [] });
  });
});

describe("loopback_users from RabbitMQ's own config", () => {
  function loopback(files: Record<string, string>) {
    const confDir = join(dir.path, "etc-rabbitmq");
    for (const [name, text] of Object.entries(files)) dir.write(`etc-rabbitmq/${name}`, text);
    const r = discoverLoopbackUsers({ rabbitmqConfDir: confDir, env: {} });
    return { users: r.users, source: dir.short(r.source), warnings: r.warnings.map(dir.short) };
  }
  const cases: Array<[string, Record<string, string>, string[], string]> = [
    ["nothing configured: RabbitMQ's default, guest", {}, ["guest"], "RabbitMQ's default"],
    ["loopback_users.guest = false lets guest in from anywhere", { "rabbitmq.conf": "loopback_users.guest = false\n" }, [], "etc-rabbitmq/rabbitmq.conf:1 loopback_users.guest"],
    ["loopback_users = none clears the list", { "rabbitmq.conf": "loopback_users = none\n" }, [], "etc-rabbitmq/rabbitmq.conf:1 loopback_users"],
    ["loopback_users.NAME = true adds a user", { "rabbitmq.conf": "loopback_users.admin = true\n" }, ["guest", "admin"], "etc-rabbitmq/rabbitmq.conf:1 loopback_users.admin"],
    ["conf.d comes after rabbitmq.conf", { "rabbitmq.conf": "loopback_users.guest = false\n", "conf.d/10.conf": "loopback_users.guest = true\n" }, ["guest"], "etc-rabbitmq/conf.d/10.conf:1 loopback_users.guest"],
  ];
  for (const [name, files, users, source] of cases) {
    test(name, () => {
      expect(loopback(files)).toEqual({ users, source, warnings: [] });
    });
  }

  test("a value other than true/false is ignored with a warning", () => {
    const r = loopback({ "rabbitmq.conf": "loopback_users.guest = maybe\n" });
    expect(r.users).toEqual(["guest"]);
    expect(r.warnings).toEqual(["etc-rabbitmq/rabbitmq.conf:1 loopback_users.guest = maybe: expected true or false; ignored"]);
  });
});
