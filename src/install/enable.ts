/**
 * `rabbitmq-mqtt enable`, like `rabbitmq-plugins enable rabbitmq_mqtt`: checks the local
 * RabbitMQ, then installs the binary, the command symlink, the config file (only if absent),
 * the systemd unit, and starts the unit when systemd runs.
 *
 * It never writes RabbitMQ's own files (rabbitmq.conf, enabled_plugins, rabbitmq-env.conf):
 * RabbitMQ refuses to boot on mqtt.* keys in rabbitmq.conf while the plugin is not enabled,
 * so our keys live in /etc/rabbitmq/rabbitmq_mqtt.conf only.
 *
 * Refusals (all reported at once, nothing touched): the binary is not an executable; no
 * RabbitMQ is installed; enabled_plugins cannot be read; the native MQTT plugin is enabled
 * and listens on a port the adapter would use. --force turns each of these into a warning,
 * except a binary that is not an executable.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { NATIVE_MQTT_PLUGINS, NATIVE_WEB_MQTT_PLUGINS } from "./enabled-plugins.ts";
import { findClashes, formatAddress, listenersOf, pluginKeysIn, type ConfText } from "./listeners.ts";
import {
  BINARY_DIR,
  BINARY_PATH,
  COMMAND_LINK_PATH,
  COMMAND_LINK_TARGET,
  CONFIG_PATH,
  RETAINED_DIR,
  UNIT_NAME,
  UNIT_PATH,
  underRoot,
} from "./paths.ts";
import { inspectPlan, type Action, type Step } from "./plan.ts";
import { locateRabbitmq, type RabbitmqLayout } from "./rabbitmq-layout.ts";
import { DEFAULT_CONFIG_TEXT, UNIT_FILE_TEXT } from "./templates.ts";
import { parseConf } from "../config/index.ts";

export interface EnableOptions {
  /** --root: prefix of every path written or read; "" for the real system. */
  root: string;
  /** Environment for RABBITMQ_CONF_ENV_FILE, RABBITMQ_ENABLED_PLUGINS_FILE, …. */
  env: Record<string, string | undefined>;
  /** The executable to install (host path): --binary, or the running compiled binary. */
  binary: string;
  /** --force: enable despite the checks (see the module comment). */
  force: boolean;
  /** systemd is PID 1 on this host and no --root was given: run systemctl. */
  systemd: boolean;
}

export type EnablePlan =
  | {
      ok: true;
      layout: RabbitmqLayout;
      /** What was found, for the report header. */
      found: string[];
      warnings: string[];
      actions: Action[];
      /** What the operator still has to do (when systemctl is not run for them). */
      afterwards: string[];
    }
  | { ok: false; found: string[]; problems: string[]; warnings: string[] };

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/** Why `path` cannot be installed as the adapter binary, or null when it can. */
export function checkBinary(path: string): string | null {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) return `${path} is not a regular file, expected the rabbitmq-mqtt executable (bun run build makes dist/rabbitmq-mqtt)`;
    size = st.size;
  } catch {
    return `${path} does not exist, expected the rabbitmq-mqtt executable (bun run build makes dist/rabbitmq-mqtt)`;
  }
  const head = new Uint8Array(4);
  const fd = openSync(path, "r");
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (size < 4 || !ELF_MAGIC.every((b, i) => head[i] === b)) {
    return `${path} is not a Linux executable (no ELF header), expected the compiled rabbitmq-mqtt binary, not a script or an archive`;
  }
  return null;
}

/** Steps creating every missing directory from the root down to `targetDir` (a target path). */
export function dirSteps(root: string, targetDir: string, mode = 0o755): Step[] {
  const steps: Step[] = [];
  let current = "";
  for (const part of targetDir.split("/").filter((p) => p !== "")) {
    current += `/${part}`;
    steps.push({ kind: "dir", path: underRoot(root, current), mode });
  }
  return steps;
}

/** Builds and inspects the plan; refuses (with every reason) before anything is written. */
export function planEnable(options: EnableOptions): EnablePlan {
  const { root, force } = options;
  const host = (path: string) => underRoot(root, path);
  const problems: string[] = [];
  const warnings: string[] = [];
  /** A refusal that --force turns into a warning. */
  const refuse = (message: string) => (force ? warnings.push(`${message} (going ahead: --force)`) : problems.push(message));

  const binaryProblem = checkBinary(options.binary);
  if (binaryProblem) problems.push(binaryProblem);

  const layout = locateRabbitmq({ root, env: options.env });
  warnings.push(...layout.warnings);
  const found: string[] = [];
  if (layout.installed) {
    found.push(`RabbitMQ ${layout.version ?? "(version unknown)"} in ${host("/usr/lib/rabbitmq")}`);
  } else {
    refuse(
      `no RabbitMQ installation found (looked for ${host("/usr/lib/rabbitmq")}); install rabbitmq-server first: ` +
        `the unit is bound to rabbitmq-server.service and runs as its rabbitmq user`,
    );
  }
  if (layout.serverUnit === null && layout.installed) warnings.push("no rabbitmq-server.service unit found; rabbitmq-mqtt.service is bound to it (BindsTo=) and will not start without it");
  if (!layout.userExists && layout.installed) warnings.push(`no rabbitmq user in ${host("/etc/passwd")}; the unit runs as User=rabbitmq`);

  // Our listeners: from the config file we keep, or from the defaults we are about to write.
  const configPath = host(CONFIG_PATH);
  const configExists = existsSync(configPath);
  const ourConfig: ConfText = configExists
    ? { path: configPath, text: readText(configPath, warnings) }
    : { path: `${configPath} (defaults)`, text: DEFAULT_CONFIG_TEXT };
  const ours = listenersOf([ourConfig], { webMqtt: true });
  warnings.push(...ours.warnings);
  warnings.push(...configAdvice(ourConfig));

  const rabbitConfigs: ConfText[] = layout.configFiles.map((path) => ({ path, text: readText(path, warnings) }));
  if (layout.configFiles.length > 0) found.push(`RabbitMQ config: ${layout.configFiles.join(", ")}`);
  const plugins = layout.enabledPlugins;
  if (!plugins.ok) {
    refuse(`cannot tell whether RabbitMQ's own MQTT plugin is enabled: ${plugins.source}: ${plugins.problem}`);
  } else {
    found.push(`enabled plugins: ${plugins.plugins === "all" ? "ALL" : plugins.plugins.join(", ") || "none"} (from ${plugins.source})`);
    const has = (names: readonly string[]) => plugins.plugins === "all" || names.some((n) => (plugins.plugins as string[]).includes(n));
    if (has(NATIVE_MQTT_PLUGINS)) {
      const native = listenersOf(rabbitConfigs, { webMqtt: has(NATIVE_WEB_MQTT_PLUGINS) });
      warnings.push(...native.warnings);
      for (const file of layout.erlangConfigFiles) {
        warnings.push(`${file} is in Erlang term format, which enable cannot read; if it moves the native plugin's listeners, the port check above may be wrong`);
      }
      const clashes = findClashes(ours.listeners, native.listeners);
      const pluginList = plugins.plugins === "all" ? "ALL" : NATIVE_MQTT_PLUGINS.filter((n) => (plugins.plugins as string[]).includes(n)).join(", ");
      for (const { ours: o, native: n } of clashes) {
        refuse(
          `RabbitMQ's own MQTT plugin is enabled (${pluginList} in ${plugins.source}) and its ${n.kind} listener ` +
            `${formatAddress(n)} (${n.source}) takes the port of rabbitmq-mqtt's ${o.kind} listener ${formatAddress(o)} (${o.source}). ` +
            `Disable the plugin first (rabbitmq-plugins disable ${pluginList === "ALL" ? "rabbitmq_mqtt" : pluginList.replaceAll(", ", " ")}, ` +
            `and move its mqtt.* keys from rabbitmq.conf to ${CONFIG_PATH}), or give one of them another port, or run again with --force`,
        );
      }
      if (clashes.length === 0) {
        warnings.push(
          `RabbitMQ's own MQTT plugin is enabled too (${pluginList}); it listens on ${native.listeners.map(formatAddress).join(", ") || "no port"} ` +
            `and rabbitmq-mqtt on ${ours.listeners.map(formatAddress).join(", ")}: clients reach whichever owns the port they use`,
        );
      }
    } else {
      for (const { path, entry } of pluginKeysIn(rabbitConfigs)) {
        warnings.push(
          `${path}:${entry.line}: ${entry.key} is a key of the MQTT plugin, which is not enabled: RabbitMQ refuses to boot with it. ` +
            `Move it to ${CONFIG_PATH}`,
        );
      }
    }
  }
  if (problems.length > 0) return { ok: false, found, problems, warnings };

  const gid = layout.groupId;
  if (gid === null) warnings.push(`no rabbitmq group in ${host("/etc/group")}: ${CONFIG_PATH} is made world-readable (0644) so the rabbitmq user can read it`);
  const steps: Step[] = [
    ...dirSteps(root, BINARY_DIR),
    { kind: "file", path: host(BINARY_PATH), source: { copyOf: options.binary }, mode: 0o755, what: `the adapter, copied from ${options.binary}` },
    ...dirSteps(root, dirname(COMMAND_LINK_PATH)),
    { kind: "symlink", path: host(COMMAND_LINK_PATH), target: COMMAND_LINK_TARGET, force },
    ...dirSteps(root, dirname(CONFIG_PATH)),
    {
      kind: "file",
      path: configPath,
      source: { text: DEFAULT_CONFIG_TEXT },
      mode: gid === null ? 0o644 : 0o640,
      gid,
      onlyIfAbsent: true,
      what: "config, every key commented out at its default",
    },
    ...dirSteps(root, dirname(UNIT_PATH)),
    { kind: "file", path: host(UNIT_PATH), source: { text: UNIT_FILE_TEXT }, mode: 0o644, what: "systemd unit, bound to rabbitmq-server.service" },
  ];
  const actions = inspectPlan(dedupeDirs(steps));

  const afterwards: string[] = [];
  if (options.systemd) {
    const updated = actions.some((a) => a.status === "update" && (a.step.kind === "file" && a.step.path !== configPath));
    const commands: Step[] = [
      { kind: "command", argv: ["systemctl", "daemon-reload"] },
      // A running adapter keeps the old binary and unit until restarted; try-restart leaves a stopped one stopped.
      ...(updated ? [{ kind: "command", argv: ["systemctl", "try-restart", UNIT_NAME] } as Step] : []),
      { kind: "command", argv: ["systemctl", "enable", "--now", UNIT_NAME] },
    ];
    actions.push(...inspectPlan(commands));
  } else if (root !== "") {
    afterwards.push(`on the system installed in ${root}: systemctl daemon-reload && systemctl enable --now ${UNIT_NAME}`);
  } else {
    afterwards.push(
      `systemd is not running here, so nothing was started. Under systemd: systemctl daemon-reload && systemctl enable --now ${UNIT_NAME}; ` +
        `without it: ${BINARY_PATH} start --config ${CONFIG_PATH}`,
    );
  }
  return { ok: true, layout, found, warnings, actions, afterwards };
}

/** Config settings the unit's sandbox does not allow without a drop-in. */
function configAdvice(config: ConfText): string[] {
  const advice: string[] = [];
  const ports = listenersOf([config], { webMqtt: true }).listeners.filter((l) => l.port > 0 && l.port < 1024);
  for (const l of ports) {
    advice.push(
      `${l.source}: port ${l.port} is below 1024; the unit has no capabilities, so add AmbientCapabilities=CAP_NET_BIND_SERVICE and ` +
        `CapabilityBoundingSet=CAP_NET_BIND_SERVICE with systemctl edit rabbitmq-mqtt`,
    );
  }
  const retained = parseConf(config.text, config.path).entries.find((e) => e.key === "adapter.retained.dir");
  if (retained && retained.value !== RETAINED_DIR) {
    advice.push(
      `${config.path}:${retained.line}: adapter.retained.dir = ${retained.value} is read-only under the unit's ProtectSystem=strict; ` +
        `add ReadWritePaths=${retained.value} with systemctl edit rabbitmq-mqtt`,
    );
  }
  return advice;
}

/** The same directory may be planned twice (e.g. /usr for /usr/lib and /usr/sbin): keep the first. */
function dedupeDirs(steps: Step[]): Step[] {
  const seen = new Set<string>();
  return steps.filter((step) => {
    if (step.kind !== "dir") return true;
    if (seen.has(step.path)) return false;
    seen.add(step.path);
    return true;
  });
}

function readText(path: string, warnings: string[]): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    warnings.push(`cannot read ${path}: ${(error as Error).message}`);
    return "";
  }
}
