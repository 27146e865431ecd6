/**
 * `rabbitmq-mqtt disable`, like `rabbitmq-plugins disable rabbitmq_mqtt`: stops and disables
 * the unit (when systemd runs), removes the unit, the command symlink and the binary, and
 * keeps what belongs to the operator: the config file, unit drop-ins and retained messages.
 * Something at our paths that is not ours (a symlink pointing elsewhere) is left in place
 * and reported.
 */
import { existsSync } from "node:fs";
import {
  BINARY_DIR,
  BINARY_PATH,
  COMMAND_LINK_PATH,
  COMMAND_LINK_TARGET,
  CONFIG_PATH,
  RETAINED_DIR,
  UNIT_DROPIN_DIR,
  UNIT_NAME,
  UNIT_PATH,
  WANTS_LINK_PATH,
  underRoot,
} from "./paths.ts";
import { inspectPlan, type Action, type Step } from "./plan.ts";

export interface DisableOptions {
  /** --root: prefix of every path; "" for the real system. */
  root: string;
  /** systemd is PID 1 on this host and no --root was given: run systemctl. */
  systemd: boolean;
}

export interface DisablePlan {
  actions: Action[];
  /** What the operator still has to do (when systemctl is not run for them). */
  afterwards: string[];
}

/** Builds and inspects the plan. Nothing here can be refused: removing what is absent is "absent". */
export function planDisable(options: DisableOptions): DisablePlan {
  const { root, systemd } = options;
  const host = (path: string) => underRoot(root, path);
  const unitInstalled = existsSync(host(UNIT_PATH));

  const steps: Step[] = [
    // Stop before the unit file goes away, or systemd can no longer disable it by name.
    ...(systemd && unitInstalled ? [{ kind: "command", argv: ["systemctl", "disable", "--now", UNIT_NAME] } as Step] : []),
    { kind: "remove", path: host(UNIT_PATH), what: "file" },
    // Without systemctl, remove the WantedBy= link ourselves so no dangling link is left.
    ...(systemd ? [] : [{ kind: "remove", path: host(WANTS_LINK_PATH), what: "symlink" } as Step]),
    { kind: "keep", path: host(UNIT_DROPIN_DIR), why: "your drop-ins (systemctl edit); remove them yourself if you no longer want them" },
    { kind: "remove", path: host(COMMAND_LINK_PATH), what: "symlink", linkTargets: [COMMAND_LINK_TARGET, BINARY_PATH] },
    { kind: "remove", path: host(BINARY_PATH), what: "file" },
    { kind: "remove", path: host(BINARY_DIR), what: "empty-dir" },
    { kind: "keep", path: host(CONFIG_PATH), why: "your configuration, kept for a later enable; delete it yourself if you no longer want it" },
    { kind: "keep", path: host(RETAINED_DIR), why: "retained messages, kept; delete the directory yourself if you no longer want them" },
    ...(systemd ? [{ kind: "command", argv: ["systemctl", "daemon-reload"] } as Step] : []),
  ];

  const afterwards: string[] = [];
  if (!systemd && root !== "") {
    afterwards.push(`on the system installed in ${root}: systemctl daemon-reload`);
  } else if (!systemd) {
    afterwards.push("systemd is not running here, so nothing was stopped; stop a rabbitmq-mqtt you started by hand yourself");
  }
  return { actions: inspectPlan(steps), afterwards };
}
