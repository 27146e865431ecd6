import { expect, test } from "bun:test";

const DIR = import.meta.dir;
const files = [...new Bun.Glob("*.ts").scanSync(DIR)].sort();

// The oracle test exists to compare us with an independent implementation: mqtt-packet, a dev
// dependency. Nothing else in the folder, tests included, may import from outside it.
const ORACLE_IMPORTS: Record<string, string> = { "oracle.test.ts": "mqtt-packet" };

test("the codec imports nothing from outside src/codec/ (tests may also use bun:test; the oracle test, mqtt-packet)", async () => {
  const outside: string[] = [];
  for (const file of files) {
    const source = await Bun.file(`${DIR}/${file}`).text();
    for (const match of source.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']/gms)) {
      const specifier = match[1]!;
      const allowed =
        /^\.\/[a-z0-9-]+\.ts$/.test(specifier) ||
        (file.endsWith(".test.ts") && specifier === "bun:test") ||
        ORACLE_IMPORTS[file] === specifier;
      if (!allowed) outside.push(`${file}: ${specifier}`);
    }
  }
  expect(files.length).toBeGreaterThan(15);
  expect(outside).toEqual([]);
});

test("the codec's runtime files do not use Node's Buffer", async () => {
  const users: string[] = [];
  for (const file of files.filter((f) => !f.endsWith(".test.ts"))) {
    const code = (await Bun.file(`${DIR}/${file}`).text()).replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    if (/\bBuffer\./.test(code) || /\bBuffer\b\s*[(<]/.test(code)) users.push(file);
  }
  expect(users).toEqual([]);
});
