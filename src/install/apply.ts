/**
 * Carries out an inspected plan (plan.ts), reporting each step as it is done. Files and
 * symlinks are written next to their destination and renamed over it, so a reader (systemd,
 * a running adapter exec'ing the binary) never sees half a file, and replacing the binary of
 * a running service does not fail with ETXTBSY. It stops at the first failure: what was done
 * so far has been reported, and running the command again resumes from there (every step is
 * idempotent).
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  linkSync,
  mkdirSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { canChown, describeAction, isReported, type Action, type Step } from "./plan.ts";

/** Runs a command; the default runs it with inherited stdio. */
export type CommandRunner = (argv: readonly string[]) => { ok: true } | { ok: false; message: string };

export const runCommand: CommandRunner = (argv) => {
  const [cmd, ...args] = argv as [string, ...string[]];
  const result = spawnSync(cmd, args, { stdio: "inherit" });
  if (result.error) return { ok: false, message: `${argv.join(" ")}: ${result.error.message}` };
  if (result.status !== 0) return { ok: false, message: `${argv.join(" ")} exited with status ${result.status ?? result.signal}` };
  return { ok: true };
};

const TMP_SUFFIX = ".rabbitmq-mqtt-new";

function writeFileStep(step: Extract<Step, { kind: "file" }>): void {
  const tmp = step.path + TMP_SUFFIX;
  rmSync(tmp, { force: true });
  try {
    if ("copyOf" in step.source) copyFileSync(step.source.copyOf, tmp);
    else writeFileSync(tmp, step.source.text);
    chmodSync(tmp, step.mode);
    if (typeof step.gid === "number" && canChown()) chownSync(tmp, process.getuid?.() ?? 0, step.gid);
    if (step.onlyIfAbsent) {
      // link() fails with EEXIST instead of replacing a file that appeared meanwhile:
      // "only if absent" must hold even then.
      linkSync(tmp, step.path);
      unlinkSync(tmp);
    } else {
      renameSync(tmp, step.path);
    }
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

function applyStep(action: Action, run: CommandRunner): void {
  const { step } = action;
  switch (step.kind) {
    case "dir":
      mkdirSync(step.path, { mode: step.mode });
      chmodSync(step.path, step.mode); // mkdir's mode is reduced by the umask
      return;
    case "file":
      writeFileStep(step);
      return;
    case "symlink": {
      const tmp = step.path + TMP_SUFFIX;
      rmSync(tmp, { force: true });
      symlinkSync(step.target, tmp);
      renameSync(tmp, step.path);
      return;
    }
    case "remove":
      if (step.what === "empty-dir") rmdirSync(step.path);
      else unlinkSync(step.path);
      return;
    case "command": {
      const result = run(step.argv);
      if (!result.ok) throw new Error(result.message);
      return;
    }
    case "keep":
      return;
  }
}

/**
 * Applies the actions in order, sending one report line per action. Returns the first
 * failure as a value (with the path it concerned), never throws for file system errors.
 */
export function applyPlan(
  actions: readonly Action[],
  options: { run: CommandRunner; report: (line: string) => void },
): { ok: true } | { ok: false; error: string } {
  for (const action of actions) {
    if (action.status === "blocked") return { ok: false, error: `refusing to touch ${"path" in action.step ? action.step.path : ""}: ${action.note}` };
    if (["create", "update", "remove", "run"].includes(action.status)) {
      try {
        applyStep(action, options.run);
      } catch (error) {
        const where = action.step.kind === "command" ? action.step.argv.join(" ") : action.step.path;
        return { ok: false, error: `failed at ${where}: ${(error as Error).message}` };
      }
    }
    if (isReported(action)) options.report(describeAction(action, false));
  }
  return { ok: true };
}
