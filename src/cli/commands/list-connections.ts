import { defineCommand } from "citty";
import { askAdmin, formatConnectionsTable, resolveAdminTarget, type ConnectionRow } from "../../admin/index.ts";
import { rejectUnknownFlags } from "../../install/index.ts";
import { ADMIN_TARGET_ARGS } from "./admin-target-args.ts";
import { EXIT_OK, EXIT_SOFTWARE, EXIT_UNAVAILABLE, EXIT_USAGE } from "./exit-codes.ts";

const args = {
  ...ADMIN_TARGET_ARGS,
  format: { type: "string", valueHint: "table|json", description: "table: a header and tab-separated lines (default); json: an array of objects" },
  quiet: { type: "boolean", description: "no \"Listing MQTT connections ...\" line on stderr" },
} as const;

/**
 * `rabbitmq-mqtt list_connections` (also `list_mqtt_connections`, rabbitmqctl's name): the
 * running adapter's MQTT connections with client id, user, vhost, protocol, peer and connection
 * time. Exit codes as `status`: 0, 69 not running, 70 the adapter answered with an error, 64 bad flags.
 */
export function listConnectionsCommand(name: string) {
  return defineCommand({
    meta: { name, description: "List the MQTT connections of the running adapter (like rabbitmqctl list_mqtt_connections)" },
    args,
    async run({ args: given, rawArgs }) {
      const usage =
        rejectUnknownFlags(rawArgs, args) ??
        (given.format === undefined || given.format === "table" || given.format === "json" ? null : `--format ${given.format}: expected table or json`);
      if (usage !== null) {
        process.stderr.write(`rabbitmq-mqtt ${name}: ${usage}\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      const target = resolveAdminTarget({ socket: given.socket, config: given.config });
      for (const note of target.notes) process.stderr.write(`note: ${note}\n`);
      if (target.path === null) {
        process.stderr.write(`rabbitmq-mqtt ${name}: adapter.admin_socket = none, so the running adapter cannot be asked\n`);
        process.exitCode = EXIT_UNAVAILABLE;
        return;
      }
      if (given.quiet !== true) process.stderr.write("Listing MQTT connections ...\n");
      const reply = await askAdmin<ConnectionRow[]>(target.path, "list_connections");
      if (reply.kind === "unreachable") {
        process.stderr.write(`rabbitmq-mqtt ${name}: ${reply.notRunning ? "the adapter is not running: " : ""}${reply.reason}\n`);
        process.exitCode = EXIT_UNAVAILABLE;
        return;
      }
      if (reply.kind === "refused") {
        process.stderr.write(`rabbitmq-mqtt ${name}: the adapter answered with an error: ${reply.error}\n`);
        process.exitCode = EXIT_SOFTWARE;
        return;
      }
      process.stdout.write(given.format === "json" ? JSON.stringify(reply.result, null, 2) + "\n" : formatConnectionsTable(reply.result));
      process.exitCode = EXIT_OK;
    },
  });
}
