/**
 * Where `enable` puts things on a Debian host, and how a `--root DIR` prefix applies.
 *
 * Paths are always the ones of the target system (what the unit file and symlink refer to);
 * `--root` only prefixes where they are written, like DESTDIR in a package build.
 *
 * The command symlink goes to /usr/sbin, next to rabbitmqctl and rabbitmq-plugins (Debian's
 * rabbitmq-server puts its tools there), not to /usr/local/sbin: the binary itself lives in
 * /usr/lib/rabbitmq-mqtt, so keeping both under /usr keeps the install in one tree, and
 * /usr/sbin is on root's and sudo's PATH on every Debian. `enable` never replaces a
 * /usr/sbin/rabbitmq-mqtt that is not its own symlink without --force.
 */
import { join, relative, dirname, resolve } from "node:path";

/** The installed executable (a copy of the compiled binary). */
export const BINARY_PATH = "/usr/lib/rabbitmq-mqtt/rabbitmq-mqtt";
/** Its directory, removed by `disable` when empty. */
export const BINARY_DIR = "/usr/lib/rabbitmq-mqtt";
/** The command on PATH: a relative symlink to BINARY_PATH. */
export const COMMAND_LINK_PATH = "/usr/sbin/rabbitmq-mqtt";
/** The adapter's config file (written only if absent, never removed). */
export const CONFIG_PATH = "/etc/rabbitmq/rabbitmq_mqtt.conf";
/** systemd unit name and where `enable` installs it. */
export const UNIT_NAME = "rabbitmq-mqtt.service";
export const UNIT_PATH = `/etc/systemd/system/${UNIT_NAME}`;
/** Operator drop-ins (`systemctl edit rabbitmq-mqtt`): never touched. */
export const UNIT_DROPIN_DIR = `/etc/systemd/system/${UNIT_NAME}.d`;
/** The link `systemctl enable` makes because of WantedBy=rabbitmq-server.service. */
export const WANTS_LINK_PATH = `/etc/systemd/system/rabbitmq-server.service.wants/${UNIT_NAME}`;
/** The retained message store's default directory (adapter.retained.dir); kept by `disable`. */
export const RETAINED_DIR = "/var/lib/rabbitmq/mqtt-retained";
/** Present on a host where systemd is PID 1 (sd_booted(3)). */
export const SYSTEMD_RUNNING_MARKER = "/run/systemd/system";

/** Symlink text for COMMAND_LINK_PATH: relative, so it also resolves inside a --root tree. */
export const COMMAND_LINK_TARGET = relative(dirname(COMMAND_LINK_PATH), BINARY_PATH);

/**
 * A target-system path as seen from here: `root` + `path`. `root` "" or "/" means the real
 * system. `path` must be absolute.
 */
export function underRoot(root: string, path: string): string {
  if (!path.startsWith("/")) throw new Error(`underRoot expects an absolute path, got ${path}`);
  if (root === "" || root === "/") return path;
  return join(resolve(root), path);
}
