import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { SCHEMA } from "../config/index.ts";
import { BINARY_PATH, CONFIG_PATH, RETAINED_DIR, UNIT_PATH } from "./paths.ts";
import { runEnable } from "./run.ts";
import { UNIT_FILE_TEXT } from "./templates.ts";
import { makeFakeRabbitmq } from "./testing/fake-rabbitmq.ts";

/** [Section] → key → every value, comments and blank lines dropped. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1] as string, current);
      continue;
    }
    const eq = line.indexOf("=");
    if (!current || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

const unit = parseUnit(UNIT_FILE_TEXT);
const get = (section: string, key: string) => unit.get(section)?.get(key);
const schemaDefault = (key: string) => SCHEMA.find((s) => s.key === key)?.default;

describe("packaging/rabbitmq-mqtt.service", () => {
  // [section, key, exact values] — what issue 5 asks of the unit.
  const required: Array<[string, string, string[]]> = [
    ["Unit", "BindsTo", ["rabbitmq-server.service"]],
    ["Unit", "PartOf", ["rabbitmq-server.service"]],
    ["Unit", "After", ["rabbitmq-server.service"]],
    ["Install", "WantedBy", ["rabbitmq-server.service"]],
    ["Service", "User", ["rabbitmq"]],
    ["Service", "Group", ["rabbitmq"]],
    ["Service", "ExecStart", [`${BINARY_PATH} start --config ${CONFIG_PATH}`]],
    ["Service", "ExecReload", ["/bin/kill -HUP $MAINPID"]],
    ["Service", "Restart", ["on-failure"]],
    ["Service", "LimitNOFILE", ["65536"]],
    ["Service", "NoNewPrivileges", ["yes"]],
    ["Service", "ProtectSystem", ["strict"]],
    ["Service", "ProtectHome", ["yes"]],
    ["Service", "PrivateTmp", ["yes"]],
    ["Service", "ReadWritePaths", [RETAINED_DIR]],
    ["Service", "StateDirectory", [RETAINED_DIR.replace(/^\/var\/lib\//, "")]],
    ["Service", "CapabilityBoundingSet", [""]],
  ];
  for (const [section, key, values] of required) {
    test(`[${section}] ${key}=${values.join(" ")}`, () => {
      expect(get(section, key)).toEqual(values);
    });
  }

  test("has no AmbientCapabilities (every default port is above 1024) and no MemoryDenyWriteExecute (Bun's JIT)", () => {
    expect(get("Service", "AmbientCapabilities")).toBeUndefined();
    expect(get("Service", "MemoryDenyWriteExecute")).toBeUndefined();
  });

  test("the writable directories are the config's defaults for the retained store and the admin socket", () => {
    expect(schemaDefault("adapter.retained.dir")).toBe(RETAINED_DIR);
    expect(schemaDefault("adapter.admin_socket")).toBe(`/run/${get("Service", "RuntimeDirectory")?.[0]}/admin.sock`);
  });
});

describe("systemd-analyze verify", () => {
  const fake = makeFakeRabbitmq({ enabledPlugins: "[rabbitmq_management].\n" });
  afterAll(() => fake.cleanup());

  test("accepts the unit enable installs, against the fake rabbitmq-server.service", () => {
    const analyze = spawnSync("systemd-analyze", ["--version"]);
    if (analyze.error) throw new Error("systemd-analyze is missing: apt-get install -y systemd (it works without a running systemd)");

    const code = runEnable(
      { root: fake.root, env: {}, binary: fake.binary, force: false, systemd: false, dryRun: false },
      { out: () => {}, err: (l) => console.error(l), run: () => ({ ok: false, message: "not called" }) },
    );
    expect(code).toBe(0);

    // verify checks that ExecStart's program exists and is executable. The installed unit names
    // the target system's /usr/lib/rabbitmq-mqtt/rabbitmq-mqtt, which only exists inside the fake
    // root, so verify a copy whose ExecStart points at the binary enable installed there; every
    // other line is the installed file's. The copy keeps the unit's name, which verify requires.
    const installed = readFileSync(fake.path(UNIT_PATH), "utf8");
    const copy = join(dirname(fake.root), "verify", "rabbitmq-mqtt.service");
    mkdirSync(dirname(copy), { recursive: true });
    const rewritten = installed.replace(`ExecStart=${BINARY_PATH} `, `ExecStart=${fake.path(BINARY_PATH)} `);
    expect(rewritten).not.toBe(installed);
    writeFileSync(copy, rewritten);

    // BindsTo=/After= must resolve: look units up in the copy's directory and the fake root's
    // /lib/systemd/system (the trailing ":" appends systemd's built-in search path).
    const result = spawnSync("systemd-analyze", ["verify", "--man=no", copy], {
      env: { ...process.env, SYSTEMD_UNIT_PATH: `${dirname(copy)}:${fake.path("/lib/systemd/system")}:` },
      encoding: "utf8",
    });
    // verify exits 0 even for lines it ignores ("Failed to parse ..., ignoring"): any output is a failure.
    expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toEqual({ status: 0, output: "" });
  });

  test("fails on a unit with a broken directive (the check above can fail)", () => {
    const dir = join(dirname(fake.root), "verify-bad");
    mkdirSync(dir, { recursive: true });
    const bad = UNIT_FILE_TEXT.replace("ProtectHome=yes", "ProtectHome=sometimes").replace(`ExecStart=${BINARY_PATH} `, "ExecStart=/bin/true ");
    writeFileSync(join(dir, "rabbitmq-mqtt.service"), bad);
    const result = spawnSync("systemd-analyze", ["verify", "--man=no", join(dir, "rabbitmq-mqtt.service")], {
      env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:${fake.path("/lib/systemd/system")}:` },
      encoding: "utf8",
    });
    expect(`${result.stdout}${result.stderr}`).toContain("Failed to parse protect home value");
  });
});
