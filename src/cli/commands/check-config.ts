import { defineCommand } from "citty";
import { loadConfig, renderConfig } from "../../config/index.ts";
import { rejectUnknownFlags } from "../../install/index.ts";

/**
 * `rabbitmq-mqtt check-config [--config FILE]`: validates the configuration the way `start`
 * would (every problem at once, before any port opens) and prints the effective configuration
 * with secrets masked. Exit code 0 when valid, 1 otherwise: usable in ExecStartPre= and scripts.
 */
export const checkConfigCommand = defineCommand({
  meta: { name: "check-config", description: "Validate the configuration and print the effective values (secrets masked)" },
  args: {
    config: {
      type: "string",
      description: "rabbitmq.conf-format file (default $RABBITMQ_MQTT_CONFIG_FILE or /etc/rabbitmq/rabbitmq_mqtt.conf)",
    },
  },
  run({ args, rawArgs }) {
    // citty accepts any flag: a mistyped --confg would check the default file and say "valid".
    const unknown = rejectUnknownFlags(rawArgs, { config: { type: "string" } });
    if (unknown !== null) {
      process.stderr.write(`rabbitmq-mqtt check-config: ${unknown}\n`);
      process.exitCode = 64; // EX_USAGE
      return;
    }
    const result = loadConfig(args.config === undefined ? {} : { file: args.config });
    for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
    if ("errors" in result) {
      for (const error of result.errors) process.stderr.write(`error: ${error}\n`);
      process.stderr.write(`configuration is invalid: ${result.errors.length} problem(s)\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(renderConfig(result.config));
    process.stderr.write(`configuration is valid (${result.config.configFile ?? "defaults only"})\n`);
  },
});
