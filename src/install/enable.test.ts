import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { runEnable } from "./run.ts";
import { DEFAULT_CONFIG_TEXT, UNIT_FILE_TEXT } from "./templates.ts";
import { diffTrees, fakeBinaryBytes, makeFakeRabbitmq, snapshotTree, type FakeRabbitmq, type FakeRabbitmqOptions } from "./testing/fake-rabbitmq.ts";

let fakes: FakeRabbitmq[] = [];
afterEach(() => {
  for (const f of fakes) f.cleanup();
  fakes = [];
});

function fake(options: FakeRabbitmqOptions = {}): FakeRabbitmq {
  const f = makeFakeRabbitmq({ enabledPlugins: "[rabbitmq_management].\n", ...options });
  fakes.push(f);
  return f;
}

type Run = { code: number; out: string[]; err: string[]; commands: string[][] };

function enable(
  f: FakeRabbitmq,
  extra: { dryRun?: boolean; force?: boolean; systemd?: boolean; env?: Record<string, string>; binary?: string } = {},
): Run {
  const run: Run = { code: -1, out: [], err: [], commands: [] };
  run.code = runEnable(
    {
      root: f.root,
      env: extra.env ?? {},
      binary: extra.binary ?? f.binary,
      force: extra.force ?? false,
      systemd: extra.systemd ?? false,
      dryRun: extra.dryRun ?? false,
    },
    {
      out: (line) => run.out.push(line),
      err: (line) => run.err.push(line),
      run: (argv) => {
        run.commands.push([...argv]);
        return { ok: true };
      },
    },
  );
  return run;
}

const INSTALLED = [
  "/etc/rabbitmq/rabbitmq_mqtt.conf",
  "/etc/systemd",
  "/etc/systemd/system",
  "/etc/systemd/system/rabbitmq-mqtt.service",
  "/usr/lib/rabbitmq-mqtt",
  "/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt",
  "/usr/sbin",
  "/usr/sbin/rabbitmq-mqtt",
];

describe("enable on a fake Debian RabbitMQ", () => {
  test("writes the binary, symlink, default config and unit, and nothing else", () => {
    const f = fake({ rabbitmqConf: "listeners.tcp.default = 5672\nlog.file.level = info\n" });
    const before = snapshotTree(f.root);
    const r = enable(f);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);

    const diff = diffTrees(before, snapshotTree(f.root));
    expect(diff).toEqual({ added: INSTALLED, removed: [], changed: [] });

    const binary = f.path("/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt");
    expect(new Uint8Array(readFileSync(binary))).toEqual(fakeBinaryBytes("v1"));
    expect(statSync(binary).mode & 0o7777).toBe(0o755);
    expect(readlinkSync(f.path("/usr/sbin/rabbitmq-mqtt"))).toBe("../lib/rabbitmq-mqtt/rabbitmq-mqtt");
    // The relative link resolves inside the root too.
    expect(new Uint8Array(readFileSync(f.path("/usr/sbin/rabbitmq-mqtt")))).toEqual(fakeBinaryBytes("v1"));

    const conf = f.path("/etc/rabbitmq/rabbitmq_mqtt.conf");
    expect(readFileSync(conf, "utf8")).toBe(DEFAULT_CONFIG_TEXT);
    expect(statSync(conf).mode & 0o7777).toBe(0o640);
    if (process.getuid?.() === 0) expect(statSync(conf).gid).toBe(107); // the fake /etc/group's rabbitmq

    const unit = f.path("/etc/systemd/system/rabbitmq-mqtt.service");
    expect(readFileSync(unit, "utf8")).toBe(UNIT_FILE_TEXT);
    expect(statSync(unit).mode & 0o7777).toBe(0o644);

    expect(r.out).toEqual([
      `rabbitmq-mqtt enable under --root ${f.root}`,
      `found: RabbitMQ 3.10.8 in ${f.path("/usr/lib/rabbitmq")}`,
      `found: RabbitMQ config: ${f.path("/etc/rabbitmq/rabbitmq.conf")}`,
      `found: enabled plugins: rabbitmq_management (from ${f.path("/etc/rabbitmq/enabled_plugins")})`,
      `  created       ${f.path("/usr/lib/rabbitmq-mqtt")}/`,
      `  created       ${binary} (the adapter, copied from ${f.binary})`,
      `  created       ${f.path("/usr/sbin")}/`,
      `  created       ${f.path("/usr/sbin/rabbitmq-mqtt")} -> ../lib/rabbitmq-mqtt/rabbitmq-mqtt`,
      `  created       ${conf} (config, every key commented out at its default)`,
      `  created       ${f.path("/etc/systemd")}/`,
      `  created       ${f.path("/etc/systemd/system")}/`,
      `  created       ${unit} (systemd unit, bound to rabbitmq-server.service)`,
      `next: on the system installed in ${f.root}: systemctl daemon-reload && systemctl enable --now rabbitmq-mqtt.service`,
    ]);
    expect(r.commands).toEqual([]); // --root: systemctl is never run
  });

  test("never touches RabbitMQ's own files (rabbitmq.conf, enabled_plugins, rabbitmq-env.conf)", () => {
    const f = fake({ rabbitmqConf: "listeners.tcp.default = 5672\n", confD: { "10-defaults.conf": "log.console = true\n" } });
    const watched = ["/etc/rabbitmq/rabbitmq.conf", "/etc/rabbitmq/enabled_plugins", "/etc/rabbitmq/rabbitmq-env.conf", "/etc/rabbitmq/conf.d/10-defaults.conf"];
    const before = snapshotTree(f.root);
    expect(enable(f).code).toBe(0);
    const after = snapshotTree(f.root);
    for (const path of watched) expect({ path, entry: after.get(path) }).toEqual({ path, entry: before.get(path) });
    expect(readFileSync(f.path("/etc/rabbitmq/rabbitmq.conf"), "utf8")).not.toContain("mqtt.");
  });

  test("a second run changes nothing and says so for every path", () => {
    const f = fake();
    expect(enable(f).code).toBe(0);
    const before = snapshotTree(f.root);
    const r = enable(f);
    expect(r.code).toBe(0);
    expect(diffTrees(before, snapshotTree(f.root))).toEqual({ added: [], removed: [], changed: [] });
    expect(r.out.filter((l) => l.startsWith("  "))).toEqual([
      `  unchanged     ${f.path("/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt")} (the adapter, copied from ${f.binary})`,
      `  unchanged     ${f.path("/usr/sbin/rabbitmq-mqtt")} -> ../lib/rabbitmq-mqtt/rabbitmq-mqtt`,
      `  kept          ${f.path("/etc/rabbitmq/rabbitmq_mqtt.conf")}: already exists; left as it is, not overwritten`,
      `  unchanged     ${f.path("/etc/systemd/system/rabbitmq-mqtt.service")} (systemd unit, bound to rabbitmq-server.service)`,
    ]);
  });

  test("--dry-run prints the plan and writes nothing", () => {
    const f = fake();
    const before = snapshotTree(f.root);
    const r = enable(f, { dryRun: true, systemd: true });
    expect(r.code).toBe(0);
    expect(diffTrees(before, snapshotTree(f.root))).toEqual({ added: [], removed: [], changed: [] });
    expect(r.commands).toEqual([]);
    const planned = r.out.filter((l) => l.startsWith("  "));
    expect(planned).toContain(`  would create  ${f.path("/etc/systemd/system/rabbitmq-mqtt.service")} (systemd unit, bound to rabbitmq-server.service)`);
    expect(planned).toContain("  would run     systemctl enable --now rabbitmq-mqtt.service");
    expect(planned.every((l) => l.startsWith("  would "))).toBe(true);
    expect(r.out[0]).toContain("(dry run: nothing is changed)");
  });

  test("keeps an existing rabbitmq_mqtt.conf byte for byte and says so", () => {
    const mine = "mqtt.listeners.tcp.default = 11883\nmqtt.allow_anonymous = false\n";
    const f = fake({ ourConf: mine });
    chmodSync(f.path("/etc/rabbitmq/rabbitmq_mqtt.conf"), 0o600);
    const r = enable(f);
    expect(r.code).toBe(0);
    expect(readFileSync(f.path("/etc/rabbitmq/rabbitmq_mqtt.conf"), "utf8")).toBe(mine);
    expect(statSync(f.path("/etc/rabbitmq/rabbitmq_mqtt.conf")).mode & 0o7777).toBe(0o600);
    expect(r.out).toContain(`  kept          ${f.path("/etc/rabbitmq/rabbitmq_mqtt.conf")}: already exists; left as it is, not overwritten`);
  });

  test("a new binary replaces the installed one and restarts a running adapter", () => {
    const f = fake();
    expect(enable(f, { systemd: true }).code).toBe(0);
    writeFileSync(f.binary, fakeBinaryBytes("v2"));
    const r = enable(f, { systemd: true });
    expect(r.code).toBe(0);
    expect(new Uint8Array(readFileSync(f.path("/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt")))).toEqual(fakeBinaryBytes("v2"));
    expect(r.out).toContain(`  updated       ${f.path("/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt")} (the adapter, copied from ${f.binary}): content differs`);
    expect(r.commands).toEqual([
      ["systemctl", "daemon-reload"],
      ["systemctl", "try-restart", "rabbitmq-mqtt.service"],
      ["systemctl", "enable", "--now", "rabbitmq-mqtt.service"],
    ]);
  });

  test("with systemd running it reloads and enables --now, and reports each command", () => {
    const f = fake();
    const r = enable(f, { systemd: true });
    expect(r.code).toBe(0);
    expect(r.commands).toEqual([
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "rabbitmq-mqtt.service"],
    ]);
    expect(r.out.slice(-2)).toEqual(["  ran           systemctl daemon-reload", "  ran           systemctl enable --now rabbitmq-mqtt.service"]);
  });

  test("a failing systemctl is reported with what was already done, exit 1", () => {
    const f = fake();
    const err: string[] = [];
    const code = runEnable(
      { root: f.root, env: {}, binary: f.binary, force: false, systemd: true, dryRun: false },
      { out: () => {}, err: (l) => err.push(l), run: (argv) => (argv[1] === "enable" ? { ok: false, message: "systemctl enable exited with status 1" } : { ok: true }) },
    );
    expect(code).toBe(1);
    expect(err).toEqual([
      "rabbitmq-mqtt: failed at systemctl enable --now rabbitmq-mqtt.service: systemctl enable exited with status 1; the steps above were done, the rest not (running the command again continues)",
    ]);
  });
});

describe("enable refuses before touching anything", () => {
  // [what, fake layout, env, refused?, text expected in the output]
  const cases: Array<[string, FakeRabbitmqOptions, Record<string, string>, boolean, string]> = [
    ["no native plugin", { enabledPlugins: "[rabbitmq_management,rabbitmq_prometheus].\n" }, {}, false, "found: enabled plugins: rabbitmq_management, rabbitmq_prometheus (from "],
    ["no enabled_plugins file at all", { enabledPlugins: null }, {}, false, "enabled_plugins, which does not exist)"],
    ["native plugin on the default port 1883", { enabledPlugins: "[rabbitmq_management,rabbitmq_mqtt].\n" }, {}, true, "its MQTT listener [::]:1883 (default of mqtt.listeners.tcp.default = 1883)"],
    ["native plugin, quoted atom and comments", { enabledPlugins: "% written by hand\n[ 'rabbitmq_mqtt' ,\n  rabbitmq_management ].\n" }, {}, true, "rabbitmq-plugins disable rabbitmq_mqtt"],
    ["rabbitmq_web_mqtt pulls in rabbitmq_mqtt", { enabledPlugins: "[rabbitmq_web_mqtt].\n" }, {}, true, "WebSocket listener [::]:15675"],
    ["native plugin moved to 1884 in rabbitmq.conf", { enabledPlugins: "[rabbitmq_mqtt].\n", rabbitmqConf: "mqtt.listeners.tcp.default = 1884\n" }, {}, false, "RabbitMQ's own MQTT plugin is enabled too (rabbitmq_mqtt); it listens on [::]:1884"],
    ["native plugin moved to 1884 in conf.d", { enabledPlugins: "[rabbitmq_mqtt].\n", confD: { "20-mqtt.conf": "mqtt.listeners.tcp.default = 1884\n" } }, {}, false, "listens on [::]:1884"],
    ["native plugin on loopback 1883 still clashes with ours on every interface", { enabledPlugins: "[rabbitmq_mqtt].\n", rabbitmqConf: "mqtt.listeners.tcp.1 = 127.0.0.1:1883\n" }, {}, true, "127.0.0.1:1883 (" ],
    ["native plugin with its TCP listener off", { enabledPlugins: "[rabbitmq_mqtt].\n", rabbitmqConf: "mqtt.listeners.tcp = none\n" }, {}, false, "it listens on no port"],
    ["ours moved to 11883", { enabledPlugins: "[rabbitmq_mqtt].\n", ourConf: "mqtt.listeners.tcp.default = 11883\n" }, {}, false, "rabbitmq-mqtt on [::]:11883"],
    ["ENABLED_PLUGINS_FILE in rabbitmq-env.conf", { enabledPlugins: "[].\n", rabbitmqEnvConf: "ENABLED_PLUGINS_FILE=/etc/rabbitmq/plugins.d/enabled\n", files: { "/etc/rabbitmq/plugins.d/enabled": "[rabbitmq_mqtt].\n" } }, {}, true, "(from "],
    ["RABBITMQ_ENABLED_PLUGINS_FILE in the environment", { enabledPlugins: "[].\n", files: { "/srv/enabled": "[rabbitmq_mqtt].\n" } }, { RABBITMQ_ENABLED_PLUGINS_FILE: "/srv/enabled" }, true, "(from $RABBITMQ_ENABLED_PLUGINS_FILE)"],
    ["ENABLED_PLUGINS=ALL in rabbitmq-env.conf", { rabbitmqEnvConf: "export ENABLED_PLUGINS=ALL\n" }, {}, true, "(ALL in "],
    ["unreadable enabled_plugins", { enabledPlugins: "rabbitmq_mqtt\n" }, {}, true, 'cannot tell whether RabbitMQ\'s own MQTT plugin is enabled'],
    ["no RabbitMQ installed", { server: false, enabledPlugins: null }, {}, true, "no RabbitMQ installation found"],
  ];
  for (const [what, layout, env, refused, text] of cases) {
    test(`${what}: ${refused ? "refused" : "enabled"}`, () => {
      const f = fake(layout);
      const before = snapshotTree(f.root);
      const r = enable(f, { env });
      const output = [...r.out, ...r.err].join("\n");
      expect(output).toContain(text);
      expect(r.code).toBe(refused ? 1 : 0);
      if (refused) {
        expect(r.err).toContain("rabbitmq-mqtt enable: refused, nothing was changed:");
        expect(diffTrees(before, snapshotTree(f.root))).toEqual({ added: [], removed: [], changed: [] });
      }
    });
  }

  test("the refusal names the plugin, both listeners, the files and the ways out", () => {
    const f = fake({ enabledPlugins: "[rabbitmq_management,rabbitmq_mqtt].\n", rabbitmqConf: "mqtt.listeners.tcp.default = 1883\n" });
    const r = enable(f);
    expect(r.err).toEqual([
      "rabbitmq-mqtt enable: refused, nothing was changed:",
      `  - RabbitMQ's own MQTT plugin is enabled (rabbitmq_mqtt in ${f.path("/etc/rabbitmq/enabled_plugins")}) and its MQTT listener [::]:1883 ` +
        `(${f.path("/etc/rabbitmq/rabbitmq.conf")}:1 mqtt.listeners.tcp.default = 1883) takes the port of rabbitmq-mqtt's MQTT listener [::]:1883 ` +
        `(default of mqtt.listeners.tcp.default = 1883). Disable the plugin first (rabbitmq-plugins disable rabbitmq_mqtt, and move its mqtt.* keys ` +
        `from rabbitmq.conf to /etc/rabbitmq/rabbitmq_mqtt.conf), or give one of them another port, or run again with --force`,
    ]);
  });

  test("--force enables despite the native plugin on the same port, with a warning", () => {
    const f = fake({ enabledPlugins: "[rabbitmq_mqtt].\n" });
    const r = enable(f, { force: true });
    expect(r.code).toBe(0);
    expect(r.err.some((l) => l.startsWith("warning: RabbitMQ's own MQTT plugin is enabled") && l.endsWith("(going ahead: --force)"))).toBe(true);
    expect(readFileSync(f.path("/etc/systemd/system/rabbitmq-mqtt.service"), "utf8")).toBe(UNIT_FILE_TEXT);
  });

  test("a binary that is not an executable is refused even with --force", () => {
    const f = fake();
    writeFileSync(f.binary, "#!/bin/sh\necho not the adapter\n");
    const r = enable(f, { force: true });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`  - ${f.binary} is not a Linux executable (no ELF header), expected the compiled rabbitmq-mqtt binary, not a script or an archive`);
    const missing = enable(f, { binary: `${f.binary}-nope` });
    expect(missing.err).toContain(`  - ${f.binary}-nope does not exist, expected the rabbitmq-mqtt executable (bun run build makes dist/rabbitmq-mqtt)`);
  });

  test("a /usr/sbin/rabbitmq-mqtt that is not our symlink blocks enable, --force replaces it", () => {
    const f = fake({ files: { "/usr/sbin/rabbitmq-mqtt": "#!/bin/sh\n# an older hand-made install\n" } });
    const before = snapshotTree(f.root);
    const r = enable(f);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([
      "rabbitmq-mqtt enable: refused, nothing was changed:",
      `  - ${f.path("/usr/sbin/rabbitmq-mqtt")}: exists and is not our symlink (another rabbitmq-mqtt install?); move it away or run again with --force to replace it`,
    ]);
    expect(diffTrees(before, snapshotTree(f.root))).toEqual({ added: [], removed: [], changed: [] });
    const forced = enable(f, { force: true });
    expect(forced.code).toBe(0);
    expect(readlinkSync(f.path("/usr/sbin/rabbitmq-mqtt"))).toBe("../lib/rabbitmq-mqtt/rabbitmq-mqtt");
  });
});

describe("enable warns about settings the unit or RabbitMQ would trip over", () => {
  test("mqtt.* keys in rabbitmq.conf without the plugin: RabbitMQ would not boot", () => {
    const f = fake({ rabbitmqConf: "listeners.tcp.default = 5672\nmqtt.allow_anonymous = false\n" });
    const r = enable(f);
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      `warning: ${f.path("/etc/rabbitmq/rabbitmq.conf")}:2: mqtt.allow_anonymous is a key of the MQTT plugin, which is not enabled: ` +
        "RabbitMQ refuses to boot with it. Move it to /etc/rabbitmq/rabbitmq_mqtt.conf",
    );
  });

  test("a port below 1024 and a moved retained store need a drop-in", () => {
    const f = fake({ ourConf: "mqtt.listeners.tcp.default = 883\nadapter.retained.dir = /srv/retained\n" });
    const r = enable(f);
    expect(r.code).toBe(0);
    const conf = f.path("/etc/rabbitmq/rabbitmq_mqtt.conf");
    expect(r.err).toEqual([
      `warning: ${conf}:1 mqtt.listeners.tcp.default = 883: port 883 is below 1024; the unit has no capabilities, so add ` +
        "AmbientCapabilities=CAP_NET_BIND_SERVICE and CapabilityBoundingSet=CAP_NET_BIND_SERVICE with systemctl edit rabbitmq-mqtt",
      `warning: ${conf}:2: adapter.retained.dir = /srv/retained is read-only under the unit's ProtectSystem=strict; add ReadWritePaths=/srv/retained with systemctl edit rabbitmq-mqtt`,
    ]);
  });
});
