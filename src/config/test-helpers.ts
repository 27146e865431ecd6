/**
 * Test helpers for src/config: a private temp dir per test, and loadConfig on a conf snippet
 * with messages shortened to the file's base name so expected texts stay readable.
 * Only tests import this file.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { loadConfig, type LoadResult } from "./load.ts";

export interface TempDir {
  path: string;
  /** Writes a file below the dir (creating folders) and returns its absolute path. */
  write(relative: string, text: string): string;
  /** Replaces the dir's absolute path in a message by nothing: "/tmp/x/a.conf:1" → "a.conf:1". */
  short(message: string): string;
  remove(): void;
}

export function makeTempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), "rabbitmq-mqtt-config-"));
  return {
    path,
    write(relative, text) {
      const file = join(path, relative);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      return file;
    },
    short: (message) => message.replaceAll(`${path}/`, ""),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

/** loadConfig of `conf` written to rabbitmq_mqtt.conf, RabbitMQ's conf dir being <tmp>/etc-rabbitmq. */
export function loadSnippet(dir: TempDir, conf: string, env: Record<string, string> = {}): LoadResult {
  const file = dir.write("rabbitmq_mqtt.conf", conf);
  const result = loadConfig({ file, env, rabbitmqConfDir: join(dir.path, "etc-rabbitmq") });
  const warnings = result.warnings.map(dir.short);
  return "errors" in result ? { errors: result.errors.map(dir.short), warnings } : { config: result.config, warnings };
}
