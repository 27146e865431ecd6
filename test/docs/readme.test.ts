import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SCHEMA } from "../../src/config/index.ts";
import { withConfigReference } from "../../scripts/config-docs.ts";

const readme = readFileSync(join(import.meta.dir, "..", "..", "README.md"), "utf8");

test("the README's key reference matches the config schema (run `bun scripts/config-docs.ts` to update it)", () => {
  expect(readme).toBe(withConfigReference(readme, SCHEMA));
});

test("the README names every config key of the schema", () => {
  for (const spec of SCHEMA) expect(readme).toContain(`\`${spec.key}\``);
});

test("the README gives the two set-up commands that CI also runs", () => {
  expect(readme).toContain("./scripts/start.sh");
  expect(readme).toContain("./scripts/test.sh");
  expect(readFileSync(join(import.meta.dir, "..", "..", ".ci", "run"), "utf8")).toContain("./scripts/test.sh");
});
