import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rejectUnknownFlags, resolveInstallContext, type HostFacts, type InstallFlags } from "./cli-options.ts";

const dir = mkdtempSync(join(tmpdir(), "rabbitmq-mqtt-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const compiledAsRoot: HostFacts = { uid: 0, standalone: true, execPath: "/home/op/rabbitmq-mqtt", systemdRunning: true };
const fromSourceAsUser: HostFacts = { uid: 1000, standalone: false, execPath: "/usr/bin/bun", systemdRunning: false };

describe("resolveInstallContext", () => {
  // [what, command, flags, facts, expected]
  const cases: Array<[string, "enable" | "disable", InstallFlags, HostFacts, ReturnType<typeof resolveInstallContext>]> = [
    ["compiled binary as root: installs itself, runs systemctl", "enable", { dryRun: false }, compiledAsRoot, { ok: true, root: "", systemd: true, binary: "/home/op/rabbitmq-mqtt" }],
    ["--binary wins over the running binary", "enable", { dryRun: false, binary: "/tmp/x/rabbitmq-mqtt" }, compiledAsRoot, { ok: true, root: "", systemd: true, binary: "/tmp/x/rabbitmq-mqtt" }],
    ["--root: no systemctl", "enable", { dryRun: false, root: dir }, compiledAsRoot, { ok: true, root: dir, systemd: false, binary: "/home/op/rabbitmq-mqtt" }],
    ["--root / is the real system", "disable", { dryRun: false, root: "/" }, compiledAsRoot, { ok: true, root: "", systemd: true, binary: "" }],
    ["a user may use --root", "disable", { dryRun: false, root: dir }, fromSourceAsUser, { ok: true, root: dir, systemd: false, binary: "" }],
    ["a user may --dry-run", "disable", { dryRun: true }, fromSourceAsUser, { ok: true, root: "", systemd: false, binary: "" }],
  ];
  for (const [what, command, flags, facts, expected] of cases) {
    test(`${command}: ${what}`, () => {
      expect(resolveInstallContext(command, flags, facts)).toEqual(expected);
    });
  }

  const problems: Array<[string, "enable" | "disable", InstallFlags, HostFacts, string]> = [
    ["not root", "enable", { dryRun: false }, { ...compiledAsRoot, uid: 1000 }, "enable changes /usr/lib, /usr/sbin and /etc, so it must run as root: sudo rabbitmq-mqtt enable."],
    ["from source without --binary", "enable", { dryRun: true }, fromSourceAsUser, "enable installs a compiled executable, and this is running from source under /usr/bin/bun."],
    ["missing --root", "disable", { dryRun: false, root: join(dir, "nope") }, compiledAsRoot, `--root ${join(dir, "nope")}: no such directory; create it first`],
    ["empty --root", "enable", { dryRun: false, root: "" }, compiledAsRoot, "--root needs a directory"],
  ];
  for (const [what, command, flags, facts, problem] of problems) {
    test(`${command}: ${what} is refused`, () => {
      const result = resolveInstallContext(command, flags, facts);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.problem).toContain(problem);
    });
  }
});

describe("rejectUnknownFlags", () => {
  const known = { root: { type: "string" }, "dry-run": { type: "boolean" }, force: { type: "boolean" } };
  const cases: Array<[string[], string | null]> = [
    [[], null],
    [["--root", "/tmp/x", "--dry-run", "--force"], null],
    [["--root=/tmp/x"], null],
    [["--dry-rnu"], "unknown option --dry-rnu; known: --root, --dry-run, --force"],
    [["-f"], "unknown option -f; known: --root, --dry-run, --force"],
    [["now"], 'unexpected argument "now"; see --help'],
    [["--root"], "--root needs a value"],
  ];
  for (const [args, expected] of cases) {
    test(`${JSON.stringify(args)} → ${expected ?? "ok"}`, () => {
      expect(rejectUnknownFlags(args, known)).toBe(expected);
    });
  }
});
