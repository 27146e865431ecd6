import { statSync } from "node:fs";
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { askAdmin, formatStatus, inspectInstallation, resolveAdminTarget, type RuntimeAnswer, type StatusReport } from "../../admin/index.ts";
import { rejectUnknownFlags } from "../../install/index.ts";
import { ADMIN_TARGET_ARGS } from "./admin-target-args.ts";
import { EXIT_OK, EXIT_SOFTWARE, EXIT_UNAVAILABLE, EXIT_USAGE } from "./exit-codes.ts";

const args = {
  ...ADMIN_TARGET_ARGS,
  root: { type: "string", valueHint: "DIR", description: "look for the installed unit and binary under DIR (as enable --root)" },
  format: { type: "string", valueHint: "text|json", description: "output format (default text)" },
} as const;

/**
 * `rabbitmq-mqtt status`: installed or not (the files `enable` writes), running or not (asked
 * over the admin socket), and what the running adapter reports: listeners, MQTT connections,
 * AMQP connections and channels, versions. Exit code 0 when running, 69 when not (as rabbitmqctl
 * for a node that is down), 70 when it answered with an error, 64 for bad flags.
 */
export const statusCommand = defineCommand({
  meta: { name: "status", description: "Show whether rabbitmq-mqtt is installed and running, its listeners, clients and RabbitMQ connections" },
  args,
  async run({ args: given, rawArgs }) {
    const usage = rejectUnknownFlags(rawArgs, args) ?? checkFormat(given.format) ?? checkRoot(given.root);
    if (usage !== null) {
      process.stderr.write(`rabbitmq-mqtt status: ${usage}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    const installation = inspectInstallation(given.root === undefined ? "" : resolve(given.root));
    const target = resolveAdminTarget({ socket: given.socket, config: given.config });
    for (const note of target.notes) process.stderr.write(`note: ${note}\n`);
    const runtime: RuntimeAnswer = target.path === null ? { kind: "no-socket" } : await askAdmin<StatusReport>(target.path, "status");

    if (given.format === "json") {
      const running = runtime.kind === "ok" || runtime.kind === "refused" ? true : runtime.kind === "unreachable" && runtime.notRunning ? false : null;
      const out = {
        installation: {
          enabled: installation.enabled,
          unit: installation.unit,
          binary: installation.binary,
          command: installation.command,
          starts_with_rabbitmq: installation.startsWithRabbitmq,
          config: installation.config,
        },
        admin_socket: target.path,
        running,
        ...(runtime.kind === "unreachable" ? { reason: runtime.reason } : {}),
        ...(runtime.kind === "refused" ? { error: runtime.error } : {}),
        status: runtime.kind === "ok" ? runtime.result : null,
      };
      process.stdout.write(JSON.stringify(out, null, 2) + "\n");
    } else {
      process.stdout.write(formatStatus(installation, runtime, target.path));
    }
    process.exitCode = runtime.kind === "ok" ? EXIT_OK : runtime.kind === "refused" ? EXIT_SOFTWARE : EXIT_UNAVAILABLE;
  },
});

function checkFormat(format: string | undefined): string | null {
  return format === undefined || format === "text" || format === "json" ? null : `--format ${format}: expected text or json`;
}

function checkRoot(root: string | undefined): string | null {
  if (root === undefined) return null;
  try {
    if (statSync(root).isDirectory()) return null;
  } catch {
    // reported below
  }
  return `--root ${root}: no such directory`;
}
