/**
 * File steps of `enable` / `disable` as data: a plan is built first, every step is compared
 * with what is on disk (`inspectPlan`), and only then applied (apply.ts) or, in a dry run,
 * printed. So a dry run and a real run print the same lines, a second run prints "unchanged",
 * and a step that would overwrite something that is not ours is found before anything is
 * written ("blocked": the whole plan is refused and nothing is touched).
 *
 * Paths in steps are host paths, i.e. already under the --root prefix.
 */
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, type Stats } from "node:fs";

/** Where a file's bytes come from. */
export type FileSource = { text: string } | { copyOf: string };

export type Step =
  /** Make sure a directory exists (only reported when it has to be created). */
  | { kind: "dir"; path: string; mode: number }
  /**
   * A file with exactly this content and mode (and group, when `gid` is a number and we are
   * root). `onlyIfAbsent`: an existing file is kept as it is, whatever it holds.
   */
  | { kind: "file"; path: string; source: FileSource; mode: number; gid?: number | null; onlyIfAbsent?: boolean; what: string }
  /** A symlink; `force` allows replacing something that is not a symlink. */
  | { kind: "symlink"; path: string; target: string; force: boolean }
  /** Remove a file, a symlink (only if it points at one of `linkTargets`, when given), or an empty directory. */
  | { kind: "remove"; path: string; what: "file" | "symlink" | "empty-dir"; linkTargets?: readonly string[] }
  /** Report only: a path deliberately left alone, and why. */
  | { kind: "keep"; path: string; why: string }
  /** A command to run (systemctl), only planned when it can run. */
  | { kind: "command"; argv: string[] };

export type Status = "create" | "update" | "unchanged" | "keep" | "remove" | "absent" | "run" | "blocked";

export interface Action {
  step: Step;
  status: Status;
  /** Why, for keep / blocked / update, e.g. "already exists; not overwritten". */
  note?: string;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/** Compares two files 1 MiB at a time, so a 100 MB binary is never held in memory twice. */
export function sameFileBytes(a: string, b: string): boolean {
  const sa = lstatOrNull(a);
  const sb = lstatOrNull(b);
  if (!sa || !sb || sa.size !== sb.size) return false;
  const fa = openSync(a, "r");
  const fb = openSync(b, "r");
  try {
    const ba = new Uint8Array(1 << 20);
    const bb = new Uint8Array(1 << 20);
    for (;;) {
      const na = readSync(fa, ba, 0, ba.length, null);
      const nb = readSync(fb, bb, 0, bb.length, null);
      if (na !== nb) return false;
      if (na === 0) return true;
      if (Buffer.compare(ba.subarray(0, na), bb.subarray(0, nb)) !== 0) return false;
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

function sameContent(path: string, source: FileSource): boolean {
  if ("copyOf" in source) return sameFileBytes(path, source.copyOf);
  try {
    return readFileSync(path, "utf8") === source.text;
  } catch {
    return false;
  }
}

/** Whether chown is possible at all: only root may give a file to another group it is not in. */
export const canChown = (): boolean => process.getuid?.() === 0;

function inspectStep(step: Step, removed: Set<string>): Action {
  switch (step.kind) {
    case "dir": {
      const st = lstatOrNull(step.path);
      if (!st) return { step, status: "create" };
      if (st.isDirectory()) return { step, status: "unchanged" };
      return { step, status: "blocked", note: `exists but is not a directory` };
    }
    case "file": {
      const st = lstatOrNull(step.path);
      if (!st) return { step, status: "create" };
      if (step.onlyIfAbsent) return { step, status: "keep", note: "already exists; left as it is, not overwritten" };
      if (!st.isFile()) return { step, status: "blocked", note: `exists but is not a regular file; remove it first` };
      if (!sameContent(step.path, step.source)) return { step, status: "update", note: "content differs" };
      if ((st.mode & 0o7777) !== step.mode) return { step, status: "update", note: `mode ${(st.mode & 0o7777).toString(8)} → ${step.mode.toString(8)}` };
      if (typeof step.gid === "number" && canChown() && st.gid !== step.gid) return { step, status: "update", note: "group" };
      return { step, status: "unchanged" };
    }
    case "symlink": {
      const st = lstatOrNull(step.path);
      if (!st) return { step, status: "create" };
      if (st.isSymbolicLink()) {
        const current = readlinkSync(step.path);
        return current === step.target ? { step, status: "unchanged" } : { step, status: "update", note: `pointed to ${current}` };
      }
      if (step.force) return { step, status: "update", note: "replaced a file that was not a symlink (--force)" };
      return {
        step,
        status: "blocked",
        note: "exists and is not our symlink (another rabbitmq-mqtt install?); move it away or run again with --force to replace it",
      };
    }
    case "remove": {
      const st = lstatOrNull(step.path);
      if (!st) return { step, status: "absent" };
      if (step.what === "symlink") {
        if (!st.isSymbolicLink()) return { step, status: "keep", note: "not a symlink, so not ours; left in place" };
        const current = readlinkSync(step.path);
        if (step.linkTargets !== undefined && !step.linkTargets.includes(current)) {
          return { step, status: "keep", note: `points to ${current}, not to rabbitmq-mqtt; left in place` };
        }
        return { step, status: "remove" };
      }
      if (step.what === "empty-dir") {
        if (!st.isDirectory()) return { step, status: "keep", note: "not a directory; left in place" };
        const left = readdirSync(step.path).filter((name) => !removed.has(`${step.path}/${name}`));
        return left.length === 0 ? { step, status: "remove" } : { step, status: "keep", note: `not empty (${left.join(", ")}); left in place` };
      }
      return st.isFile() ? { step, status: "remove" } : { step, status: "keep", note: "not a regular file; left in place" };
    }
    case "keep":
      return lstatOrNull(step.path) ? { step, status: "keep", note: step.why } : { step, status: "absent" };
    case "command":
      return { step, status: "run" };
  }
}

/** Compares every step with the disk, in order (a removal counts for later empty-dir checks). */
export function inspectPlan(steps: readonly Step[]): Action[] {
  const removed = new Set<string>();
  return steps.map((step) => {
    const action = inspectStep(step, removed);
    if (action.status === "remove") removed.add(step.kind === "command" ? "" : step.path);
    return action;
  });
}

const VERB: Record<Status, [done: string, planned: string]> = {
  create: ["created", "would create"],
  update: ["updated", "would update"],
  unchanged: ["unchanged", "unchanged"],
  keep: ["kept", "would keep"],
  remove: ["removed", "would remove"],
  absent: ["absent", "absent"],
  run: ["ran", "would run"],
  blocked: ["blocked", "blocked"],
};

/** One report line: `created    /usr/lib/rabbitmq-mqtt/rabbitmq-mqtt (the adapter binary)`. */
export function describeAction(action: Action, dryRun: boolean): string {
  const verb = VERB[action.status][dryRun ? 1 : 0].padEnd(14);
  const { step } = action;
  let subject: string;
  switch (step.kind) {
    case "command":
      subject = step.argv.join(" ");
      break;
    case "symlink":
      subject = `${step.path} -> ${step.target}`;
      break;
    case "file":
      // A kept file is the operator's, whatever it holds: do not describe it as ours.
      subject = action.status === "keep" ? step.path : `${step.path} (${step.what})`;
      break;
    default:
      subject = step.kind === "dir" || (step.kind === "remove" && step.what === "empty-dir") ? `${step.path}/` : step.path;
  }
  return `  ${verb}${subject}${action.note ? `: ${action.note}` : ""}`;
}

/**
 * Whether an action is worth a report line: not an existing directory on the way to a file,
 * and not a "keep" of something that does not exist (nothing there to keep).
 */
export function isReported(action: Action): boolean {
  if (action.step.kind === "dir" && action.status === "unchanged") return false;
  return !(action.step.kind === "keep" && action.status === "absent");
}
