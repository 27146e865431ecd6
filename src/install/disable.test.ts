import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readlinkSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { runDisable, runEnable } from "./run.ts";
import { diffTrees, makeFakeRabbitmq, snapshotTree, type FakeRabbitmq } from "./testing/fake-rabbitmq.ts";

let fakes: FakeRabbitmq[] = [];
afterEach(() => {
  for (const f of fakes) f.cleanup();
  fakes = [];
});

type Run = { code: number; out: string[]; err: string[]; commands: string[][] };
const io = (run: Run) => ({
  out: (line: string) => run.out.push(line),
  err: (line: string) => run.err.push(line),
  run: (argv: readonly string[]) => {
    run.commands.push([...argv]);
    return { ok: true as const };
  },
});

/** A fake RabbitMQ with rabbitmq-mqtt enabled on it (and the snapshot from before the enable). */
function enabled(): { f: FakeRabbitmq; pristine: ReturnType<typeof snapshotTree> } {
  const f = makeFakeRabbitmq({ enabledPlugins: "[rabbitmq_management].\n" });
  fakes.push(f);
  const pristine = snapshotTree(f.root);
  const run: Run = { code: -1, out: [], err: [], commands: [] };
  expect(runEnable({ root: f.root, env: {}, binary: f.binary, force: false, systemd: false, dryRun: false }, io(run))).toBe(0);
  return { f, pristine };
}

function disable(f: FakeRabbitmq, extra: { dryRun?: boolean; systemd?: boolean } = {}): Run {
  const run: Run = { code: -1, out: [], err: [], commands: [] };
  run.code = runDisable({ root: f.root, systemd: extra.systemd ?? false, dryRun: extra.dryRun ?? false }, io(run));
  return run;
}

describe("disable on a fake Debian RabbitMQ", () => {
  test("removes the unit, symlink, binary and its directory; keeps the config", () => {
    const { f, pristine } = enabled();
    const conf = readFileSync(f.path("/etc/rabbitmq/rabbitmq_mqtt.conf"), "utf8");
    const r = disable(f);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    // Left behind: the config, and the directories enable had to create in this bare root.
    expect(diffTrees(pristine, snapshotTree(f.root))).toEqual({
      added: ["/etc/rabbitmq/rabbitmq_mqtt.conf", "/etc/systemd", "/etc/systemd/system", "/usr/sbin"],
      removed: [],
      changed: [],
    });
    expect(readFileSync(f.path("/etc/rabbitmq/rabbitmq_mqtt.conf"), "utf8")).toBe(conf);
    expect(r.out).toEqual([
      `rabbitmq-mqtt disable under --root ${f.root}`,
      `  removed       ${f.path("/etc/systemd/system/rabbitmq-mqtt.service")}`,
      `  absent        ${f.path("/etc/systemd/system/rabbitmq-server.service.wants/rabbitmq-mqtt.service")}`,
      `  removed       ${f.path("/usr/sbin/rabbitmq-mqtt")}`,
      `  removed       ${f.path("/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt")}`,
      `  removed       ${f.path("/usr/lib/rabbitmq-mqtt")}/`,
      `  kept          ${f.path("/etc/rabbitmq/rabbitmq_mqtt.conf")}: your configuration, kept for a later enable; delete it yourself if you no longer want it`,
      `next: on the system installed in ${f.root}: systemctl daemon-reload`,
    ]);
  });

  test("a second run finds everything absent and changes nothing", () => {
    const { f } = enabled();
    expect(disable(f).code).toBe(0);
    const before = snapshotTree(f.root);
    const r = disable(f);
    expect(r.code).toBe(0);
    expect(diffTrees(before, snapshotTree(f.root))).toEqual({ added: [], removed: [], changed: [] });
    expect(r.out.filter((l) => l.startsWith("  ")).map((l) => l.slice(0, 16).trim())).toEqual(["absent", "absent", "absent", "absent", "absent", "kept"]);
  });

  test("--dry-run prints the plan and removes nothing", () => {
    const { f } = enabled();
    const before = snapshotTree(f.root);
    const r = disable(f, { dryRun: true, systemd: true });
    expect(r.code).toBe(0);
    expect(r.commands).toEqual([]);
    expect(diffTrees(before, snapshotTree(f.root))).toEqual({ added: [], removed: [], changed: [] });
    expect(r.out).toContain(`  would remove  ${f.path("/usr/lib/rabbitmq-mqtt")}/`);
    expect(r.out).toContain("  would run     systemctl disable --now rabbitmq-mqtt.service");
  });

  test("with systemd running: disable --now before removing the unit, daemon-reload after", () => {
    const { f } = enabled();
    const r = disable(f, { systemd: true });
    expect(r.code).toBe(0);
    expect(r.commands).toEqual([
      ["systemctl", "disable", "--now", "rabbitmq-mqtt.service"],
      ["systemctl", "daemon-reload"],
    ]);
    const lines = r.out.filter((l) => l.startsWith("  "));
    expect(lines[0]).toBe("  ran           systemctl disable --now rabbitmq-mqtt.service");
    expect(lines[lines.length - 1]).toBe("  ran           systemctl daemon-reload");
  });

  test("without systemctl it removes the WantedBy= link itself", () => {
    const { f } = enabled();
    mkdirSync(f.path("/etc/systemd/system/rabbitmq-server.service.wants"));
    symlinkSync("/etc/systemd/system/rabbitmq-mqtt.service", f.path("/etc/systemd/system/rabbitmq-server.service.wants/rabbitmq-mqtt.service"));
    const r = disable(f);
    expect(r.out).toContain(`  removed       ${f.path("/etc/systemd/system/rabbitmq-server.service.wants/rabbitmq-mqtt.service")}`);
  });

  test("leaves what is not ours and says why: a foreign symlink, extra files, drop-ins, retained messages", () => {
    const { f } = enabled();
    unlinkSync(f.path("/usr/sbin/rabbitmq-mqtt"));
    symlinkSync("/opt/other/rabbitmq-mqtt", f.path("/usr/sbin/rabbitmq-mqtt"));
    writeFileSync(f.path("/usr/lib/rabbitmq-mqtt/notes.txt"), "mine\n");
    mkdirSync(f.path("/etc/systemd/system/rabbitmq-mqtt.service.d"));
    writeFileSync(f.path("/etc/systemd/system/rabbitmq-mqtt.service.d/override.conf"), "[Service]\nLimitNOFILE=200000\n");
    mkdirSync(f.path("/var/lib/rabbitmq/mqtt-retained"));
    const r = disable(f);
    expect(r.code).toBe(0);
    expect(readlinkSync(f.path("/usr/sbin/rabbitmq-mqtt"))).toBe("/opt/other/rabbitmq-mqtt");
    expect(r.out).toContain(`  kept          ${f.path("/usr/sbin/rabbitmq-mqtt")}: points to /opt/other/rabbitmq-mqtt, not to rabbitmq-mqtt; left in place`);
    expect(r.out).toContain(`  kept          ${f.path("/usr/lib/rabbitmq-mqtt")}/: not empty (notes.txt); left in place`);
    expect(r.out).toContain(
      `  kept          ${f.path("/etc/systemd/system/rabbitmq-mqtt.service.d")}: your drop-ins (systemctl edit); remove them yourself if you no longer want them`,
    );
    expect(r.out).toContain(
      `  kept          ${f.path("/var/lib/rabbitmq/mqtt-retained")}: retained messages, kept; delete the directory yourself if you no longer want them`,
    );
    expect(readFileSync(f.path("/etc/systemd/system/rabbitmq-mqtt.service.d/override.conf"), "utf8")).toContain("LimitNOFILE");
  });

  test("removes a hand-made absolute symlink to the installed binary too", () => {
    const { f } = enabled();
    unlinkSync(f.path("/usr/sbin/rabbitmq-mqtt"));
    symlinkSync("/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt", f.path("/usr/sbin/rabbitmq-mqtt"));
    expect(disable(f).out).toContain(`  removed       ${f.path("/usr/sbin/rabbitmq-mqtt")}`);
  });
});
