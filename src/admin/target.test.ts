import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveAdminTarget } from "./target.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function conf(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "target-"));
  dirs.push(dir);
  const file = join(dir, "rabbitmq_mqtt.conf");
  writeFileSync(file, text);
  return file;
}

/** No RABBITMQ_MQTT_* from the test runner's environment, and RabbitMQ's own files looked for nowhere real. */
const ENV = {};

describe("which admin socket the CLI asks", () => {
  test("--socket wins over everything", () => {
    expect(resolveAdminTarget({ socket: "/tmp/a.sock", config: conf("adapter.admin_socket = /tmp/b.sock\n") }, ENV)).toEqual({ path: "/tmp/a.sock", notes: [] });
  });

  test.each<[string, string, string | null]>([
    ["set in the file", "adapter.admin_socket = /var/run/x.sock\n", "/var/run/x.sock"],
    ["turned off", "adapter.admin_socket = none\n", null],
    ["not set: the default", "mqtt.vhost = /\n", "/run/rabbitmq-mqtt/admin.sock"],
  ])("%s", (_name, text, path) => {
    expect(resolveAdminTarget({ config: conf(text) }, ENV)).toEqual({ path, notes: [] });
  });

  test("the environment override applies as for start", () => {
    expect(resolveAdminTarget({ config: conf("") }, { RABBITMQ_MQTT_ADAPTER__ADMIN_SOCKET: "/tmp/env.sock" }).path).toBe("/tmp/env.sock");
  });

  test("a file with problems still names its socket, with a note pointing at check-config", () => {
    const file = conf("mqtt.prefetch = lots\nadapter.admin_socket = /tmp/c.sock\n");
    expect(resolveAdminTarget({ config: file }, ENV)).toEqual({
      path: "/tmp/c.sock",
      notes: [`${file} has 1 problem(s) (rabbitmq-mqtt check-config lists them); using its adapter.admin_socket = /tmp/c.sock (line 2)`],
    });
  });

  test("a missing --config file: the default socket, with a note", () => {
    const target = resolveAdminTarget({ config: "/nonexistent/x.conf" }, ENV);
    expect(target.path).toBe("/run/rabbitmq-mqtt/admin.sock");
    expect(target.notes[0]).toContain("/nonexistent/x.conf has 1 problem(s)");
  });
});
