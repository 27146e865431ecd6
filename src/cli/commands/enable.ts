import { defineCommand } from "citty";
import { hostFacts, rejectUnknownFlags, resolveInstallContext, runCommand, runEnable } from "../../install/index.ts";

const args = {
  root: { type: "string", valueHint: "DIR", description: "Install under DIR instead of / (every path prefixed; systemctl is not run)" },
  "dry-run": { type: "boolean", description: "Print what would be done and change nothing" },
  force: {
    type: "boolean",
    description: "Enable even if RabbitMQ's own MQTT plugin uses the same port, no RabbitMQ is found, or /usr/sbin/rabbitmq-mqtt is not ours",
  },
  binary: { type: "string", valueHint: "PATH", description: "Executable to install (default: this compiled binary)" },
} as const;

export const enableCommand = defineCommand({
  meta: {
    name: "enable",
    description: "Install rabbitmq-mqtt next to the local RabbitMQ and start it with rabbitmq-server (like rabbitmq-plugins enable rabbitmq_mqtt)",
  },
  args,
  run({ args: given, rawArgs }) {
    const unknown = rejectUnknownFlags(rawArgs, args);
    const context = unknown ?? resolveInstallContext("enable", { root: given.root, dryRun: given["dry-run"] === true, binary: given.binary }, hostFacts());
    if (typeof context === "string" || !context.ok) {
      console.error(`rabbitmq-mqtt enable: ${typeof context === "string" ? context : context.problem}`);
      process.exitCode = 64; // EX_USAGE, as rabbitmq-plugins
      return;
    }
    process.exitCode = runEnable(
      { root: context.root, env: process.env, binary: context.binary, force: given.force === true, systemd: context.systemd, dryRun: given["dry-run"] === true },
      { out: (line) => console.log(line), err: (line) => console.error(line), run: runCommand },
    );
  },
});
