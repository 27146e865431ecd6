/**
 * Turns `enable` / `disable` command-line flags into install options, with the checks an
 * operator needs before anything runs: a usable --root, root privileges for a real install,
 * which binary to install, and whether systemctl may be run.
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { SYSTEMD_RUNNING_MARKER } from "./paths.ts";

/** Facts about the running process and host, injectable for tests. */
export interface HostFacts {
  uid: number;
  /** Running as the `bun build --compile` executable (Bun.isStandaloneExecutable). */
  standalone: boolean;
  /** The running executable (process.execPath): the compiled binary when `standalone`. */
  execPath: string;
  /** /run/systemd/system exists on the real root (systemd is PID 1). */
  systemdRunning: boolean;
}

export function hostFacts(): HostFacts {
  return {
    uid: process.getuid?.() ?? 0,
    standalone: Bun.isStandaloneExecutable,
    execPath: process.execPath,
    systemdRunning: existsSync(SYSTEMD_RUNNING_MARKER),
  };
}

export interface InstallFlags {
  root?: string;
  dryRun: boolean;
  /** enable only: --binary PATH. */
  binary?: string;
}

export type InstallContext =
  | {
      ok: true;
      /** Absolute --root, or "" for the real system. */
      root: string;
      /** Run systemctl: systemd runs and no --root was given. */
      systemd: boolean;
      /** enable only: the executable to install (absolute). */
      binary: string;
    }
  | { ok: false; problem: string };

/** Checks the flags of `command`; problems are values with a message for the operator. */
export function resolveInstallContext(command: "enable" | "disable", flags: InstallFlags, facts: HostFacts): InstallContext {
  let root = "";
  if (flags.root !== undefined) {
    if (flags.root === "") return { ok: false, problem: "--root needs a directory, e.g. --root /tmp/staging" };
    const absolute = resolve(flags.root);
    let isDir = false;
    try {
      isDir = statSync(absolute).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) return { ok: false, problem: `--root ${flags.root}: no such directory; create it first` };
    root = absolute === "/" ? "" : absolute;
  }

  if (root === "" && !flags.dryRun && facts.uid !== 0) {
    return {
      ok: false,
      problem:
        `${command} changes /usr/lib, /usr/sbin and /etc, so it must run as root: sudo rabbitmq-mqtt ${command}. ` +
        `To see the plan first: rabbitmq-mqtt ${command} --dry-run; to install into a directory tree: --root DIR`,
    };
  }

  let binary = "";
  if (command === "enable") {
    if (flags.binary !== undefined && flags.binary !== "") binary = resolve(flags.binary);
    else if (facts.standalone) binary = facts.execPath;
    else {
      return {
        ok: false,
        problem:
          `enable installs a compiled executable, and this is running from source under ${facts.execPath}. ` +
          `Build one (bun run build makes dist/rabbitmq-mqtt) and run dist/rabbitmq-mqtt enable, or pass --binary dist/rabbitmq-mqtt`,
      };
    }
  }
  return { ok: true, root, systemd: root === "" && facts.systemdRunning, binary };
}

/**
 * An unknown flag or stray argument, as a message, or null. citty accepts any flag, and for
 * an install command a mistyped `--dry-rnu` must not mean "do it for real".
 */
export function rejectUnknownFlags(rawArgs: readonly string[], known: Record<string, { type: string }>): string | null {
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] as string;
    if (!arg.startsWith("-")) return `unexpected argument ${JSON.stringify(arg)}; see --help`;
    const name = arg.replace(/^--?/, "").split("=")[0] as string;
    const spec = known[name];
    if (spec === undefined || !arg.startsWith("--")) {
      return `unknown option ${arg}; known: ${Object.keys(known).map((k) => `--${k}`).join(", ")}`;
    }
    if (spec.type === "string" && !arg.includes("=")) {
      if (i + 1 >= rawArgs.length) return `${arg} needs a value`;
      i++;
    }
  }
  return null;
}
