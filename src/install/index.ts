/**
 * Plugin-like installation of rabbitmq-mqtt next to a Debian RabbitMQ: `enable` / `disable`
 * and the checks they make. The CLI (src/cli/commands/enable.ts, disable.ts) only parses
 * flags and calls `runEnable` / `runDisable`.
 */

/** Runs enable / disable, writing the report through `io`; returns the exit code (0 or 1). */
export { runEnable, runDisable, EXIT_OK, EXIT_FAILED } from "./run.ts";
export type { RunIo } from "./run.ts";

/** Flags → options (root, privileges, binary, systemd), with problems as values. */
export { resolveInstallContext, hostFacts, rejectUnknownFlags } from "./cli-options.ts";
export type { HostFacts, InstallFlags, InstallContext } from "./cli-options.ts";

/** The plans themselves, for callers that want to inspect before applying (e.g. `status`). */
export { planEnable, checkBinary } from "./enable.ts";
export type { EnableOptions, EnablePlan } from "./enable.ts";
export { planDisable } from "./disable.ts";
export type { DisableOptions, DisablePlan } from "./disable.ts";

/** The default systemctl runner (inherits stdio). */
export { runCommand } from "./apply.ts";
export type { CommandRunner } from "./apply.ts";

/** The local RabbitMQ as RabbitMQ's own scripts find it (config files, enabled plugins, version). */
export { locateRabbitmq } from "./rabbitmq-layout.ts";
export type { RabbitmqLayout } from "./rabbitmq-layout.ts";

/** Fixed install locations (target-system paths) and the --root prefix rule. */
export {
  BINARY_PATH,
  COMMAND_LINK_PATH,
  CONFIG_PATH,
  UNIT_NAME,
  UNIT_PATH,
  WANTS_LINK_PATH,
  RETAINED_DIR,
  underRoot,
} from "./paths.ts";
