/**
 * Runs `enable` / `disable` end to end and writes the report: what was found, warnings,
 * one line per path touched (or, with --dry-run, that would be touched), and what is left
 * for the operator to do. Returns the process exit code; output goes through `io` so tests
 * read exactly what an operator sees.
 */
import { applyPlan, type CommandRunner } from "./apply.ts";
import { planDisable, type DisableOptions } from "./disable.ts";
import { planEnable, type EnableOptions } from "./enable.ts";
import { describeAction, isReported, type Action } from "./plan.ts";

export interface RunIo {
  /** Report lines (stdout). */
  out: (line: string) => void;
  /** Warnings and refusals (stderr). */
  err: (line: string) => void;
  /** Runs systemctl; only called when systemd runs and it is not a dry run. */
  run: CommandRunner;
}

/** Exit codes: 0 done, 1 refused or failed (nothing or only part was done, as reported). */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;

function header(command: string, root: string, dryRun: boolean): string {
  const parts = [`rabbitmq-mqtt ${command}`];
  if (root !== "") parts.push(`under --root ${root}`);
  if (dryRun) parts.push("(dry run: nothing is changed)");
  return parts.join(" ");
}

function carryOut(command: string, actions: readonly Action[], dryRun: boolean, io: RunIo): boolean {
  // Something in the way is found before the first write, so a refusal leaves no half install.
  const blocked = actions.filter((a) => a.status === "blocked");
  if (blocked.length > 0) {
    io.err(`rabbitmq-mqtt ${command}: refused, nothing was changed:`);
    for (const action of blocked) io.err(`  - ${"path" in action.step ? action.step.path : ""}: ${action.note}`);
    return false;
  }
  if (dryRun) {
    for (const action of actions) if (isReported(action)) io.out(describeAction(action, true));
    return true;
  }
  const result = applyPlan(actions, { run: io.run, report: io.out });
  if (!result.ok) io.err(`rabbitmq-mqtt: ${result.error}; the steps above were done, the rest not (running the command again continues)`);
  return result.ok;
}

/** `rabbitmq-mqtt enable`: check, then install (or print the plan). */
export function runEnable(options: EnableOptions & { dryRun: boolean }, io: RunIo): number {
  io.out(header("enable", options.root, options.dryRun));
  const plan = planEnable(options);
  for (const line of plan.found) io.out(`found: ${line}`);
  for (const warning of plan.warnings) io.err(`warning: ${warning}`);
  if (!plan.ok) {
    io.err("rabbitmq-mqtt enable: refused, nothing was changed:");
    for (const problem of plan.problems) io.err(`  - ${problem}`);
    return EXIT_FAILED;
  }
  if (!carryOut("enable", plan.actions, options.dryRun, io)) return EXIT_FAILED;
  for (const line of plan.afterwards) io.out(`next: ${line}`);
  return EXIT_OK;
}

/** `rabbitmq-mqtt disable`: stop and remove what enable installed, keep the operator's files. */
export function runDisable(options: DisableOptions & { dryRun: boolean }, io: RunIo): number {
  io.out(header("disable", options.root, options.dryRun));
  const plan = planDisable(options);
  if (!carryOut("disable", plan.actions, options.dryRun, io)) return EXIT_FAILED;
  for (const line of plan.afterwards) io.out(`next: ${line}`);
  return EXIT_OK;
}
