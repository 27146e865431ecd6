import { defineCommand } from "citty";
import { hostFacts, rejectUnknownFlags, resolveInstallContext, runCommand, runDisable } from "../../install/index.ts";

const args = {
  root: { type: "string", valueHint: "DIR", description: "Uninstall under DIR instead of / (every path prefixed; systemctl is not run)" },
  "dry-run": { type: "boolean", description: "Print what would be done and change nothing" },
} as const;

export const disableCommand = defineCommand({
  meta: {
    name: "disable",
    description: "Stop rabbitmq-mqtt and remove its unit and binary; keeps /etc/rabbitmq/rabbitmq_mqtt.conf (like rabbitmq-plugins disable)",
  },
  args,
  run({ args: given, rawArgs }) {
    const unknown = rejectUnknownFlags(rawArgs, args);
    const context = unknown ?? resolveInstallContext("disable", { root: given.root, dryRun: given["dry-run"] === true }, hostFacts());
    if (typeof context === "string" || !context.ok) {
      console.error(`rabbitmq-mqtt disable: ${typeof context === "string" ? context : context.problem}`);
      process.exitCode = 64; // EX_USAGE, as rabbitmq-plugins
      return;
    }
    process.exitCode = runDisable(
      { root: context.root, systemd: context.systemd, dryRun: given["dry-run"] === true },
      { out: (line) => console.log(line), err: (line) => console.error(line), run: runCommand },
    );
  },
});
