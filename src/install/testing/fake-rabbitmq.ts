/**
 * Test support (not shipped: nothing outside tests imports it): a temporary root holding the
 * files a Debian rabbitmq-server 3.10 package installs and that `enable` reads, plus a fake
 * "compiled binary" (an ELF header and some bytes) outside that root, and a snapshot of a
 * tree so tests can assert exactly which paths changed.
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface FakeRabbitmqOptions {
  /** /etc/rabbitmq/enabled_plugins content; null: no file (nothing ever enabled). */
  enabledPlugins?: string | null;
  /** /etc/rabbitmq/rabbitmq.conf content; null: no file. */
  rabbitmqConf?: string | null;
  /** Extra files under /etc/rabbitmq/conf.d, by name. */
  confD?: Record<string, string>;
  /** /etc/rabbitmq/rabbitmq-env.conf content (default: Debian's, everything commented). */
  rabbitmqEnvConf?: string;
  /** An existing /etc/rabbitmq/rabbitmq_mqtt.conf. */
  ourConf?: string;
  /** Other files to create, by target path. */
  files?: Record<string, string>;
  /** false: no rabbitmq-server installed at all (default true). */
  server?: boolean;
}

export interface FakeRabbitmq {
  root: string;
  /** A fake executable outside the root, as --binary would name it. */
  binary: string;
  /** root + target path. */
  path(target: string): string;
  cleanup(): void;
}

const DEBIAN_ENV_CONF = `# Defaults to rabbit. This can be useful if you want to run more than one node
#NODENAME=rabbit

# Defaults to 5672.
#NODE_PORT=5672
`;

/** A fake compiled binary: ELF magic, then `tag` so two versions differ. */
export function fakeBinaryBytes(tag: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, ...new TextEncoder().encode(`fake rabbitmq-mqtt ${tag}\n`)]);
}

export function makeFakeRabbitmq(options: FakeRabbitmqOptions = {}): FakeRabbitmq {
  const base = mkdtempSync(join(tmpdir(), "rabbitmq-mqtt-install-"));
  const root = join(base, "root");
  const path = (target: string) => join(root, target);
  const write = (target: string, text: string | Uint8Array) => {
    mkdirSync(dirname(path(target)), { recursive: true });
    writeFileSync(path(target), text);
  };
  mkdirSync(root);

  if (options.server !== false) {
    mkdirSync(path("/usr/lib/rabbitmq/lib/rabbitmq_server-3.10.8/sbin"), { recursive: true });
    write("/usr/lib/rabbitmq/bin/rabbitmq-server", "#!/bin/sh\n");
    mkdirSync(path("/var/lib/rabbitmq/mnesia"), { recursive: true });
    write("/lib/systemd/system/rabbitmq-server.service", "[Unit]\nDescription=RabbitMQ Messaging Server\n[Service]\nType=notify\nExecStart=/usr/lib/rabbitmq/bin/rabbitmq-server\n");
    write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nrabbitmq:x:104:107:RabbitMQ messaging server,,,:/var/lib/rabbitmq:/usr/sbin/nologin\n");
    write("/etc/group", "root:x:0:\nrabbitmq:x:107:\n");
    write("/etc/rabbitmq/rabbitmq-env.conf", options.rabbitmqEnvConf ?? DEBIAN_ENV_CONF);
  }
  if (options.enabledPlugins !== undefined && options.enabledPlugins !== null) write("/etc/rabbitmq/enabled_plugins", options.enabledPlugins);
  if (options.rabbitmqConf !== undefined && options.rabbitmqConf !== null) write("/etc/rabbitmq/rabbitmq.conf", options.rabbitmqConf);
  for (const [name, text] of Object.entries(options.confD ?? {})) write(`/etc/rabbitmq/conf.d/${name}`, text);
  if (options.ourConf !== undefined) write("/etc/rabbitmq/rabbitmq_mqtt.conf", options.ourConf);
  for (const [target, text] of Object.entries(options.files ?? {})) write(target, text);

  const binary = join(base, "download", "rabbitmq-mqtt");
  mkdirSync(dirname(binary));
  writeFileSync(binary, fakeBinaryBytes("v1"), { mode: 0o755 });
  return { root, binary, path, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** What a path is, enough to see any change: type, mode, group, content or link target. */
export type Entry = { type: "dir" | "file" | "symlink"; mode: number; gid: number; content?: string; target?: string; mtimeMs?: number };

/** Every path under `root` (relative, with a leading "/") → its entry. */
export function snapshotTree(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const relPath = `${rel}/${name}`;
      const st = lstatSync(full);
      const mode = st.mode & 0o7777;
      if (st.isSymbolicLink()) out.set(relPath, { type: "symlink", mode, gid: st.gid, target: readlinkSync(full) });
      else if (st.isDirectory()) {
        out.set(relPath, { type: "dir", mode, gid: st.gid });
        walk(full, relPath);
      } else out.set(relPath, { type: "file", mode, gid: st.gid, content: readFileSync(full, "latin1"), mtimeMs: st.mtimeMs });
    }
  };
  walk(root, "");
  return out;
}

/** Paths added, removed or changed between two snapshots, sorted. */
export function diffTrees(before: Map<string, Entry>, after: Map<string, Entry>): { added: string[]; removed: string[]; changed: string[] } {
  const added = [...after.keys()].filter((p) => !before.has(p)).sort();
  const removed = [...before.keys()].filter((p) => !after.has(p)).sort();
  const changed = [...after.keys()]
    .filter((p) => before.has(p) && JSON.stringify(before.get(p)) !== JSON.stringify(after.get(p)))
    .sort();
  return { added, removed, changed };
}
