import { afterEach, describe, expect, test } from "bun:test";
import { createServer, connect, type Server, type Socket } from "node:net";
import { COALESCE_FLUSH_BYTES, coalesceWrites } from "./coalesce-writes.ts";

/** A real loopback TCP pair: `client` is what amqplib would write to, `received` what arrived. */
async function socketPair(): Promise<{ client: Socket; peer: Socket; received: () => Buffer; server: Server }> {
  const chunks: Buffer[] = [];
  let peer: Socket | undefined;
  const server = createServer((s) => {
    peer = s;
    s.on("data", (chunk: Buffer) => chunks.push(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const client = connect(port, "127.0.0.1");
  await new Promise<void>((resolve) => client.once("connect", resolve));
  while (peer === undefined) await Bun.sleep(1);
  return { client, peer, received: () => Buffer.concat(chunks), server };
}

/** Counts the calls that reach the socket's own write (installed before coalesceWrites wraps it). */
function countRawWrites(socket: Socket): { calls: number } {
  const counter = { calls: 0 };
  const original = socket.write;
  socket.write = function (this: Socket, ...args: unknown[]) {
    counter.calls++;
    return (original as (...a: unknown[]) => boolean).apply(this, args);
  } as Socket["write"];
  return counter;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

describe("coalesceWrites", () => {
  test("writes of one turn reach the socket as one write, in order", async () => {
    const { client, received, server } = await socketPair();
    cleanups.push(() => (client.destroy(), server.close()));
    const raw = countRawWrites(client);
    coalesceWrites(client);
    const expected: number[] = [];
    for (let i = 0; i < 300; i++) {
      expected.push(i & 0xff, (i >> 8) & 0xff);
      expect(client.write(Buffer.from([i & 0xff, (i >> 8) & 0xff]))).toBe(true);
    }
    expect(raw.calls).toBe(0); // nothing written before the turn ends
    await Promise.resolve();
    expect(raw.calls).toBe(1);
    await until(() => received().length === 600, "600 bytes");
    expect([...received()]).toEqual(expected);
  });

  test("a turn writing more than the flush size writes early, still in order", async () => {
    const { client, received, server } = await socketPair();
    cleanups.push(() => (client.destroy(), server.close()));
    const raw = countRawWrites(client);
    coalesceWrites(client);
    const chunk = 1024;
    const count = (2 * COALESCE_FLUSH_BYTES) / chunk + 3;
    for (let i = 0; i < count; i++) client.write(Buffer.alloc(chunk, i & 0xff));
    expect(raw.calls).toBe(2);
    await until(() => received().length === count * chunk, "every byte");
    expect(raw.calls).toBe(3);
    const bytes = received();
    for (let i = 0; i < count; i++) expect(bytes[i * chunk]).toBe(i & 0xff);
  });

  test("end() sends what is pending first", async () => {
    const { client, peer, received, server } = await socketPair();
    cleanups.push(() => (client.destroy(), server.close()));
    coalesceWrites(client);
    const ended = new Promise<void>((resolve) => peer.once("end", resolve));
    client.write(Buffer.from("last frames"));
    client.end();
    await ended;
    expect(received().toString()).toBe("last frames");
  });

  test("a write with a callback keeps its place after the pending bytes", async () => {
    const { client, received, server } = await socketPair();
    cleanups.push(() => (client.destroy(), server.close()));
    coalesceWrites(client);
    client.write(Buffer.from("a"));
    const written = new Promise<void>((resolve) => client.write(Buffer.from("b"), () => resolve()));
    client.write(Buffer.from("c"));
    await written;
    await until(() => received().length === 3, "3 bytes");
    expect(received().toString()).toBe("abc");
  });

  test("reports false once the socket refuses bytes, and true again after its drain", async () => {
    const { client, peer, received, server } = await socketPair();
    cleanups.push(() => (client.destroy(), server.close()));
    coalesceWrites(client);
    peer.pause(); // nobody reads: the kernel buffers fill, then the socket's own buffer
    const big = Buffer.alloc(COALESCE_FLUSH_BYTES, 7);
    let written = 0;
    let accepted = true;
    for (let i = 0; i < 4096 && accepted; i++) {
      accepted = client.write(big);
      written += big.length;
    }
    expect(accepted).toBe(false);
    const drained = new Promise<void>((resolve) => client.once("drain", resolve));
    peer.resume();
    await drained;
    expect(client.write(Buffer.from([1]))).toBe(true);
    await until(() => received().length === written + 1, "every byte after the drain");
  });
});
