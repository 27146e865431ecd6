import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readEnvFile } from "./env-file.ts";

const dir = mkdtempSync(join(tmpdir(), "env-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function read(text: string, onExpanded?: Parameters<typeof readEnvFile>[2]) {
  const path = join(dir, `rabbitmq-env-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(path, text);
  const warnings: string[] = [];
  const values = readEnvFile(path, warnings, onExpanded);
  return { values: Object.fromEntries([...values].map(([name, v]) => [name, v.value])), warnings, path };
}

describe("readEnvFile: the literal settings of a rabbitmq-env.conf, as the shell would see them", () => {
  test("plain, exported, quoted, commented and CRLF lines", () => {
    const { values } = read("NODE_PORT=5673\nexport CONFIG_FILE=/etc/r/rabbitmq\r\nA=\"two words\"\nB='x # y'\nC=1 # comment\n# D=2\n  E = 3\n");
    expect(values).toEqual({ NODE_PORT: "5673", CONFIG_FILE: "/etc/r/rabbitmq", A: "two words", B: "x # y", C: "1" });
  });

  test("`$` is literal inside single quotes; expanded (left out) elsewhere, and backquotes always", () => {
    const seen: string[] = [];
    const { values, warnings } = read("A='$HOME/x'\nB=\"$HOME/x\"\nC=$HOME\nD='`date`'\n", ({ name, line }) => {
      seen.push(`${name}@${line}`);
      return name === "C" ? `C needs a shell` : undefined;
    });
    expect(values).toEqual({ A: "$HOME/x" });
    expect(seen).toEqual(["B@2", "C@3", "D@4"]);
    expect(warnings).toEqual(["C needs a shell"]);
  });

  test("an unreadable file is a warning and no values", () => {
    const warnings: string[] = [];
    expect(readEnvFile(join(dir, "missing.conf"), warnings).size).toBe(0);
    expect(warnings[0]).toContain("cannot read");
  });
});
