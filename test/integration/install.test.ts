/**
 * The compiled executable's `enable` / `disable` and scripts/install.sh against a fake Debian
 * RabbitMQ under --root: what an operator runs after downloading, end to end. No broker is
 * needed. The binary is built fresh (`bun run build` → dist/rabbitmq-mqtt) so this tests the
 * code in the tree, with the unit and config templates bundled as text.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { sameFileBytes } from "../../src/install/plan.ts";
import { diffTrees, makeFakeRabbitmq, snapshotTree, type FakeRabbitmq, type FakeRabbitmqOptions } from "../../src/install/testing/fake-rabbitmq.ts";

const REPO = join(import.meta.dir, "..", "..");
const BINARY = join(REPO, "dist", "rabbitmq-mqtt");
const INSTALL_SH = join(REPO, "scripts", "install.sh");

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

let fakes: FakeRabbitmq[] = [];
afterAll(() => fakes.forEach((f) => f.cleanup()));
function fake(options: FakeRabbitmqOptions = {}): FakeRabbitmq {
  const f = makeFakeRabbitmq({ enabledPlugins: "[rabbitmq_management].\n", rabbitmqConf: "listeners.tcp.default = 5672\n", ...options });
  fakes.push(f);
  return f;
}

function run(argv: string[], options: { env?: Record<string, string> } = {}) {
  // A clean environment: the host's RABBITMQ_* variables must not leak into the fake root.
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env };
  const result = spawnSync(argv[0] as string, argv.slice(1), { cwd: REPO, env, encoding: "utf8" });
  if (result.error) throw result.error;
  return { code: result.status, out: result.stdout, err: result.stderr };
}

beforeAll(() => {
  const bun = join(REPO, "node_modules", ".bin", "bun");
  const build = spawnSync(bun, ["run", "build"], { cwd: REPO, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`bun run build failed:\n${build.stdout}${build.stderr}`);
}, 120_000);

describe("dist/rabbitmq-mqtt enable / disable --root", () => {
  test("enable installs itself, the bundled config and unit, and the symlink runs the installed binary", () => {
    const f = fake();
    const before = snapshotTree(f.root);
    const r = run([BINARY, "enable", "--root", f.root]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(diffTrees(before, snapshotTree(f.root))).toEqual({ added: INSTALLED, removed: [], changed: [] });

    // Copied from the running executable (no --binary given).
    expect(sameFileBytes(f.path("/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt"), BINARY)).toBe(true);
    expect(statSync(f.path("/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt")).mode & 0o777).toBe(0o755);
    expect(r.out).toContain(`(the adapter, copied from ${BINARY})`);
    // The templates inside the executable are the packaging files of this tree.
    expect(readFileSync(f.path("/etc/rabbitmq/rabbitmq_mqtt.conf"), "utf8")).toBe(readFileSync(join(REPO, "packaging", "rabbitmq_mqtt.conf"), "utf8"));
    expect(readFileSync(f.path("/etc/systemd/system/rabbitmq-mqtt.service"), "utf8")).toBe(readFileSync(join(REPO, "packaging", "rabbitmq-mqtt.service"), "utf8"));
    expect(readlinkSync(f.path("/usr/sbin/rabbitmq-mqtt"))).toBe("../lib/rabbitmq-mqtt/rabbitmq-mqtt");
    expect(run([f.path("/usr/sbin/rabbitmq-mqtt"), "--version"]).out.trim()).toBe(pkg.version);
    // RabbitMQ's own config is untouched.
    expect(readFileSync(f.path("/etc/rabbitmq/rabbitmq.conf"), "utf8")).toBe("listeners.tcp.default = 5672\n");
  });

  test("a second enable reports every path unchanged or kept; disable removes all but the config", () => {
    const f = fake();
    const pristine = snapshotTree(f.root);
    expect(run([BINARY, "enable", "--root", f.root]).code).toBe(0);
    const again = run([BINARY, "enable", "--root", f.root]);
    expect(again.code).toBe(0);
    const verbs = again.out.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim().split(/\s+/)[0]);
    expect(verbs).toEqual(["unchanged", "unchanged", "kept", "unchanged"]);

    const installed = f.path("/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt");
    const off = run([installed, "disable", "--root", f.root]);
    expect(off.code).toBe(0);
    expect(off.out).toContain(`removed       ${installed}`);
    expect(off.out).toContain(`kept          ${f.path("/etc/rabbitmq/rabbitmq_mqtt.conf")}: your configuration`);
    expect(diffTrees(pristine, snapshotTree(f.root)).added).toEqual(["/etc/rabbitmq/rabbitmq_mqtt.conf", "/etc/systemd", "/etc/systemd/system", "/usr/sbin"]);
  });

  test("--dry-run writes nothing", () => {
    const f = fake();
    const before = snapshotTree(f.root);
    const r = run([BINARY, "enable", "--root", f.root, "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("would create");
    expect(diffTrees(before, snapshotTree(f.root))).toEqual({ added: [], removed: [], changed: [] });
  });

  test("refuses while the native plugin has port 1883, exit 1; --force goes ahead", () => {
    const f = fake({ enabledPlugins: "[rabbitmq_management,rabbitmq_mqtt].\n" });
    const before = snapshotTree(f.root);
    const r = run([BINARY, "enable", "--root", f.root]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("rabbitmq-mqtt enable: refused, nothing was changed:");
    expect(r.err).toContain("RabbitMQ's own MQTT plugin is enabled (rabbitmq_mqtt in");
    expect(diffTrees(before, snapshotTree(f.root))).toEqual({ added: [], removed: [], changed: [] });
    const forced = run([BINARY, "enable", "--root", f.root, "--force"]);
    expect(forced.code).toBe(0);
    expect(forced.err).toContain("(going ahead: --force)");
  });

  test("an unknown flag is refused before anything happens, exit 64", () => {
    const f = fake();
    const r = run([BINARY, "enable", "--root", f.root, "--dry-rnu"]);
    expect(r.code).toBe(64);
    expect(r.err).toBe("rabbitmq-mqtt enable: unknown option --dry-rnu; known: --root, --dry-run, --force, --binary\n");
  });
});

describe("scripts/install.sh", () => {
  test("--root --binary dist/rabbitmq-mqtt installs through enable", () => {
    const f = fake();
    const before = snapshotTree(f.root);
    const r = run([INSTALL_SH, "--root", f.root, "--binary", "dist/rabbitmq-mqtt"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out.split("\n")[0]).toBe(`installing rabbitmq-mqtt ${pkg.version} from dist/rabbitmq-mqtt`);
    expect(r.out).toContain(`rabbitmq-mqtt enable under --root ${f.root}`);
    expect(diffTrees(before, snapshotTree(f.root))).toEqual({ added: INSTALLED, removed: [], changed: [] });
    expect(sameFileBytes(f.path("/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt"), BINARY)).toBe(true);
  });

  test("passes --dry-run and --force through", () => {
    const f = fake({ enabledPlugins: "[rabbitmq_mqtt].\n" });
    const before = snapshotTree(f.root);
    const refused = run([INSTALL_SH, "--root", f.root, "--binary", "dist/rabbitmq-mqtt", "--dry-run"]);
    expect(refused.code).toBe(1);
    const planned = run([INSTALL_SH, `--root=${f.root}`, "--binary=dist/rabbitmq-mqtt", "--dry-run", "--force"]);
    expect(planned.code).toBe(0);
    expect(planned.out).toContain("(dry run: nothing is changed)");
    expect(diffTrees(before, snapshotTree(f.root))).toEqual({ added: [], removed: [], changed: [] });
  });

  test("without --root or --dry-run it insists on root, exit 77", () => {
    // As root, run it as nobody; as anyone else, run it directly.
    const asUser = process.getuid?.() === 0 ? ["runuser", "-u", "nobody", "--"] : [];
    const r = run([...asUser, INSTALL_SH, "--binary", BINARY]);
    expect(r.code).toBe(77);
    expect(r.err).toBe(`install.sh: must run as root to install into /usr/lib, /usr/sbin and /etc: sudo ${INSTALL_SH} --binary ${BINARY}; or try --dry-run first\n`);
  });

  // [arguments, exit code, message]
  const bad: Array<[string[], number, string]> = [
    [["--bogus"], 64, "install.sh: unknown option: --bogus"],
    [["--binary"], 64, "install.sh: --binary needs a path"],
    [["--binary", "/nonexistent/rabbitmq-mqtt", "--dry-run"], 69, "install.sh: /nonexistent/rabbitmq-mqtt: no such file; pass --binary PATH to the downloaded rabbitmq-mqtt"],
    [["--binary", "package.json", "--dry-run"], 69, "install.sh: ./package.json is not executable; chmod +x ./package.json first (a dry run changes nothing)"],
    [["--binary", "scripts/install.sh", "--dry-run"], 69, "install.sh: scripts/install.sh does not run on this machine"],
    [["--binary", "/bin/true", "--dry-run"], 69, "or is not rabbitmq-mqtt: its --version printed no version"],
  ];
  for (const [args, code, message] of bad) {
    test(`${args.join(" ")} → exit ${code}`, () => {
      const r = run([INSTALL_SH, ...args]);
      expect(r.code).toBe(code);
      expect(r.err).toContain(message);
    });
  }

  const shellcheck = spawnSync("shellcheck", ["--version"]).status === 0;
  test.skipIf(!shellcheck)("is shellcheck-clean (apt-get install -y shellcheck)", () => {
    const r = run(["shellcheck", INSTALL_SH]);
    expect(r.out + r.err).toBe("");
    expect(r.code).toBe(0);
  });
});
