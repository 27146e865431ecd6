/**
 * Whether rabbitmq-mqtt is enabled on this host, read from the files `enable` installs (the
 * same paths, the same `--root` prefix rule), so `status` answers it even when the adapter is
 * not running.
 */
import { existsSync, lstatSync } from "node:fs";
import { BINARY_PATH, COMMAND_LINK_PATH, CONFIG_PATH, UNIT_PATH, WANTS_LINK_PATH, underRoot } from "../install/index.ts";

/** One installed file: its target-system path and whether it is there. */
export interface InstalledFile {
  path: string;
  present: boolean;
}

export interface Installation {
  /** "yes": unit, binary and the link that starts it with rabbitmq-server; "no": none of them; "partly": some. */
  enabled: "yes" | "no" | "partly";
  unit: InstalledFile;
  binary: InstalledFile;
  command: InstalledFile;
  /** rabbitmq-server.service.wants/rabbitmq-mqtt.service: started and stopped with RabbitMQ. */
  startsWithRabbitmq: InstalledFile;
  config: InstalledFile;
}

/** Looks at the installed files under `root` ("" = the real system). */
export function inspectInstallation(root: string): Installation {
  const file = (path: string): InstalledFile => ({ path, present: exists(underRoot(root, path)) });
  const unit = file(UNIT_PATH);
  const binary = file(BINARY_PATH);
  const startsWithRabbitmq = file(WANTS_LINK_PATH);
  const essentials = [unit, binary, startsWithRabbitmq].filter((f) => f.present).length;
  return {
    enabled: essentials === 3 ? "yes" : essentials === 0 ? "no" : "partly",
    unit,
    binary,
    command: file(COMMAND_LINK_PATH),
    startsWithRabbitmq,
    config: file(CONFIG_PATH),
  };
}

/** Present as a file or a symlink (even a dangling one: `disable` still has something to remove). */
function exists(path: string): boolean {
  if (existsSync(path)) return true;
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
