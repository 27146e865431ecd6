import { expect, test } from "bun:test";

const SRC = `${import.meta.dir}/..`;
const IMPORT = /^\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']/gms;

/** Every import specifier of the runtime (non-test) files of `folder`, as "file: specifier". */
async function imports(folder: string): Promise<string[]> {
  const files = [...new Bun.Glob("*.ts").scanSync(`${SRC}/${folder}`)].filter(
    (f) => !f.endsWith(".test.ts") && f !== "test-support.ts",
  );
  const found: string[] = [];
  for (const file of files) {
    const source = await Bun.file(`${SRC}/${folder}/${file}`).text();
    for (const match of source.matchAll(IMPORT)) found.push(`${file}: ${match[1]}`);
  }
  return found;
}

test("protocol/ imports only codec (via its index), session, the backend interface, the retained store, log and itself: no sockets, no AMQP", async () => {
  const allowed = [
    /^\.\/[a-z0-9-]+\.ts$/,
    /^\.\.\/codec\/index\.ts$/,
    /^\.\.\/session\/index\.ts$/,
    /^\.\.\/backend\/backend\.ts$/,
    /^\.\.\/retained\/index\.ts$/,
    /^\.\.\/log\.ts$/,
  ];
  const found = await imports("protocol");
  expect(found.length).toBeGreaterThan(20);
  expect(found.filter((line) => !allowed.some((rule) => rule.test(line.split(": ")[1]!)))).toEqual([]);
});

test("retained/ imports nothing above it (codec types, log and itself only)", async () => {
  const allowed = [/^\.\/[a-z0-9-]+\.ts$/, /^\.\.\/codec\/index\.ts$/, /^\.\.\/log\.ts$/, /^bun:sqlite$/, /^node:(fs|path)$/];
  const found = await imports("retained");
  expect(found.length).toBeGreaterThan(5);
  expect(found.filter((line) => !allowed.some((rule) => rule.test(line.split(": ")[1]!)))).toEqual([]);
});

test("session/ imports nothing above it (codec types and itself only)", async () => {
  const allowed = [/^\.\/[a-z0-9-]+\.ts$/, /^\.\.\/codec\/index\.ts$/];
  const found = await imports("session");
  expect(found.filter((line) => !allowed.some((rule) => rule.test(line.split(": ")[1]!)))).toEqual([]);
});
