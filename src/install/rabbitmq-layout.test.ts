import { afterEach, describe, expect, test } from "bun:test";
import { locateRabbitmq } from "./rabbitmq-layout.ts";
import { makeFakeRabbitmq, type FakeRabbitmq, type FakeRabbitmqOptions } from "./testing/fake-rabbitmq.ts";

let fakes: FakeRabbitmq[] = [];
afterEach(() => {
  for (const f of fakes) f.cleanup();
  fakes = [];
});
function fake(options: FakeRabbitmqOptions): FakeRabbitmq {
  const f = makeFakeRabbitmq(options);
  fakes.push(f);
  return f;
}

describe("locateRabbitmq on a Debian layout", () => {
  test("finds version, unit, user, group, config files and enabled plugins", () => {
    const f = fake({ enabledPlugins: "[rabbitmq_management].\n", rabbitmqConf: "", confD: { "20-b.conf": "", "10-a.conf": "", "README": "" } });
    const layout = locateRabbitmq({ root: f.root, env: {} });
    expect(layout).toEqual({
      installed: true,
      version: "3.10.8",
      serverUnit: f.path("/lib/systemd/system/rabbitmq-server.service"),
      confEnvFile: { path: f.path("/etc/rabbitmq/rabbitmq-env.conf"), exists: true },
      enabledPlugins: { ok: true, plugins: ["rabbitmq_management"], source: f.path("/etc/rabbitmq/enabled_plugins") },
      // conf.d/*.conf in name order; README is not a .conf file.
      configFiles: [f.path("/etc/rabbitmq/rabbitmq.conf"), f.path("/etc/rabbitmq/conf.d/10-a.conf"), f.path("/etc/rabbitmq/conf.d/20-b.conf")],
      erlangConfigFiles: [],
      userExists: true,
      groupId: 107,
      warnings: [],
    });
  });

  test("nothing installed", () => {
    const layout = locateRabbitmq({ root: fake({ server: false }).root, env: {} });
    expect([layout.installed, layout.version, layout.serverUnit, layout.userExists, layout.groupId]).toEqual([false, null, null, false, null]);
  });

  // [what, layout, env, where enabled_plugins was found (ROOT = the --root)]
  const precedence: Array<[string, FakeRabbitmqOptions, Record<string, string>, string]> = [
    ["default file", { enabledPlugins: "[a].\n" }, {}, "ROOT/etc/rabbitmq/enabled_plugins"],
    ["ENABLED_PLUGINS_FILE in rabbitmq-env.conf", { rabbitmqEnvConf: "ENABLED_PLUGINS_FILE=/srv/p\n", files: { "/srv/p": "[a].\n" } }, {}, "ROOT/srv/p (from ROOT/etc/rabbitmq/rabbitmq-env.conf:1 ENABLED_PLUGINS_FILE)"],
    ["RABBITMQ_ENABLED_PLUGINS_FILE in rabbitmq-env.conf", { rabbitmqEnvConf: "export RABBITMQ_ENABLED_PLUGINS_FILE='/srv/p'\n", files: { "/srv/p": "[a].\n" } }, {}, "ROOT/srv/p (from ROOT/etc/rabbitmq/rabbitmq-env.conf:1 RABBITMQ_ENABLED_PLUGINS_FILE)"],
    ["the environment wins over rabbitmq-env.conf", { rabbitmqEnvConf: "ENABLED_PLUGINS_FILE=/srv/p\n", files: { "/srv/q": "[a].\n" } }, { RABBITMQ_ENABLED_PLUGINS_FILE: "/srv/q" }, "ROOT/srv/q (from $RABBITMQ_ENABLED_PLUGINS_FILE)"],
    ["RABBITMQ_CONF_ENV_FILE moves rabbitmq-env.conf", { files: { "/srv/env.conf": 'ENABLED_PLUGINS_FILE="/srv/p"\n', "/srv/p": "[a].\n" } }, { RABBITMQ_CONF_ENV_FILE: "/srv/env.conf" }, "ROOT/srv/p (from ROOT/srv/env.conf:1 ENABLED_PLUGINS_FILE)"],
  ];
  for (const [what, options, env, source] of precedence) {
    test(`enabled_plugins location: ${what}`, () => {
      const f = fake(options);
      const found = locateRabbitmq({ root: f.root, env }).enabledPlugins;
      expect(found).toEqual({ ok: true, plugins: ["a"], source: source.replaceAll("ROOT", f.root) });
    });
  }

  test("ENABLED_PLUGINS replaces the file, ALL means every plugin", () => {
    expect(locateRabbitmq({ root: fake({ enabledPlugins: "[].\n" }).root, env: { RABBITMQ_ENABLED_PLUGINS: "rabbitmq_mqtt,rabbitmq_stomp" } }).enabledPlugins).toEqual({
      ok: true,
      plugins: ["rabbitmq_mqtt", "rabbitmq_stomp"],
      source: "$RABBITMQ_ENABLED_PLUGINS",
    });
    const f = fake({ rabbitmqEnvConf: "ENABLED_PLUGINS=ALL\n" });
    expect(locateRabbitmq({ root: f.root, env: {} }).enabledPlugins).toEqual({ ok: true, plugins: "all", source: `${f.path("/etc/rabbitmq/rabbitmq-env.conf")}:1 ENABLED_PLUGINS` });
  });

  test("CONFIG_FILE without extension, a classic .config file, advanced.config", () => {
    const f = fake({ rabbitmqEnvConf: "CONFIG_FILE=/srv/rmq/main\n", files: { "/srv/rmq/main.conf": "", "/etc/rabbitmq/advanced.config": "[].\n" }, confD: { "a.conf": "" } });
    const layout = locateRabbitmq({ root: f.root, env: {} });
    expect(layout.configFiles).toEqual([f.path("/srv/rmq/main.conf"), f.path("/etc/rabbitmq/conf.d/a.conf")]);
    expect(layout.erlangConfigFiles).toEqual([f.path("/etc/rabbitmq/advanced.config")]);

    // With the Erlang-term main file RabbitMQ ignores conf.d.
    const classic = fake({ files: { "/etc/rabbitmq/rabbitmq.config": "[].\n" }, confD: { "a.conf": "" } });
    const c = locateRabbitmq({ root: classic.root, env: {} });
    expect([c.configFiles, c.erlangConfigFiles]).toEqual([[], [classic.path("/etc/rabbitmq/rabbitmq.config")]]);
  });

  test("a value that needs a shell is reported, not guessed; unrelated ones are ignored quietly", () => {
    const f = fake({ rabbitmqEnvConf: 'ENABLED_PLUGINS_FILE=$RABBITMQ_BASE/enabled\nSERVER_ADDITIONAL_ERL_ARGS="$SERVER_ADDITIONAL_ERL_ARGS +S 2"\n', enabledPlugins: "[b].\n" });
    const layout = locateRabbitmq({ root: f.root, env: {} });
    expect(layout.warnings).toEqual([`${f.path("/etc/rabbitmq/rabbitmq-env.conf")}:1: ENABLED_PLUGINS_FILE=$RABBITMQ_BASE/enabled needs a shell to expand; rabbitmq-mqtt enable did not use it`]);
    expect(layout.enabledPlugins).toEqual({ ok: true, plugins: ["b"], source: f.path("/etc/rabbitmq/enabled_plugins") });
  });

  test("a missing RABBITMQ_CONF_ENV_FILE is a warning", () => {
    const f = fake({});
    const layout = locateRabbitmq({ root: f.root, env: { RABBITMQ_CONF_ENV_FILE: "/nope/env.conf" } });
    expect(layout.warnings).toEqual([`RABBITMQ_CONF_ENV_FILE names ${f.path("/nope/env.conf")}, which does not exist`]);
  });
});
