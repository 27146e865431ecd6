import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { inspectInstallation } from "./installation.ts";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function rootWith(files: string[]): string {
  const root = mkdtempSync(join(tmpdir(), "status-root-"));
  roots.push(root);
  for (const file of files) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    if (file.endsWith(".wants/rabbitmq-mqtt.service")) symlinkSync("../rabbitmq-mqtt.service", join(root, file));
    else writeFileSync(join(root, file), "x");
  }
  return root;
}

const UNIT = "/etc/systemd/system/rabbitmq-mqtt.service";
const WANTS = "/etc/systemd/system/rabbitmq-server.service.wants/rabbitmq-mqtt.service";
const BINARY = "/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt";

describe("is rabbitmq-mqtt enabled (files under --root)", () => {
  test.each<[string, string[], "yes" | "no" | "partly"]>([
    ["nothing installed", [], "no"],
    ["unit, binary and the link that starts it with RabbitMQ", [UNIT, WANTS, BINARY], "yes"],
    ["the binary only (a copied executable, never enabled)", [BINARY], "partly"],
    ["unit and binary, but not started with RabbitMQ", [UNIT, BINARY], "partly"],
  ])("%s → enabled: %s", (_name, files, enabled) => {
    const installation = inspectInstallation(rootWith(files));
    expect(installation.enabled).toBe(enabled);
    expect(installation.unit).toEqual({ path: UNIT, present: files.includes(UNIT) });
    expect(installation.startsWithRabbitmq).toEqual({ path: WANTS, present: files.includes(WANTS) });
  });

  test("a dangling link still counts as present (disable has something to remove)", () => {
    const root = rootWith([WANTS]);
    expect(inspectInstallation(root).startsWithRabbitmq.present).toBe(true);
  });
});
