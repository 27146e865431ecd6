/**
 * rabbitmq-env.conf: a shell fragment RabbitMQ's scripts source. Both the config loader (which
 * finds RabbitMQ's ports and loopback_users through it) and `rabbitmq-mqtt enable` (which finds
 * RabbitMQ's config and plugin files) read its literal settings with `readEnvFile`.
 */
import { readFileSync } from "node:fs";

/** One literal `NAME=value` setting and the line it is on. */
export type EnvFileValue = { name: string; value: string; line: number };

/**
 * The literal `NAME=value` lines of `path` (optionally `export`ed; one pair of surrounding quotes
 * removed; a trailing ` # comment` dropped from an unquoted value). A value only a shell could
 * give (`$` outside single quotes, or a backquote) is left out; `onExpanded` may turn it into a
 * warning (return the text, or undefined for none). An unreadable file is a warning and no values.
 */
export function readEnvFile(
  path: string,
  warnings: string[],
  onExpanded: (setting: EnvFileValue) => string | undefined = () => undefined,
): Map<string, EnvFileValue> {
  const values = new Map<string, EnvFileValue>();
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    warnings.push(`cannot read ${path}: ${(error as Error).message}`);
    return values;
  }
  text.split("\n").forEach((raw, index) => {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw.replace(/\r$/, ""));
    if (!m) return;
    const name = m[1] as string;
    let value = (m[2] as string).trim();
    const quoted = /^(["'])(.*)\1$/.exec(value);
    value = quoted ? (quoted[2] as string) : value.replace(/\s+#.*$/, "");
    const setting = { name, value, line: index + 1 };
    // The shell expands `$` except inside single quotes, and backquotes everywhere.
    if ((quoted?.[1] !== "'" && value.includes("$")) || value.includes("`")) {
      const warning = onExpanded(setting);
      if (warning !== undefined) warnings.push(warning);
      return;
    }
    values.set(name, setting);
  });
  return values;
}
