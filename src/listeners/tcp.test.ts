import { afterEach, describe, expect, test } from "bun:test";
import { connect as netConnect, type Socket as NetSocket } from "node:net";
import { createMemoryLogger } from "../log.ts";
import { HIGH_WATER_BYTES, type SocketTransport } from "./socket-transport.ts";
import { listenTcp, type ConnectionHandler, type RunningListener } from "./tcp.ts";

let listener: RunningListener | undefined;
afterEach(() => {
  listener?.stop();
  listener = undefined;
});

/** Starts a listener on a free loopback port whose connections are driven by `make`. */
function start(make: (transport: SocketTransport) => ConnectionHandler) {
  const log = createMemoryLogger("info");
  listener = listenTcp({ host: "127.0.0.1", port: 0, accept: make, log });
  return { log, port: listener.port };
}

function connectClient(port: number): Promise<NetSocket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, "127.0.0.1", () => resolve(socket));
    socket.once("error", reject);
  });
}

function readBytes(socket: NetSocket, count: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= count) {
        socket.off("data", onData);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on("data", onData);
  });
}

describe("TCP listener and socket transport", () => {
  test("logs the plugin's listener line with the bound address", () => {
    const { log, port } = start(() => ({ onData() {}, onDrain() {}, onClose() {} }));
    expect(log.lines.some((l) => l.includes(`started MQTT TCP Listener on 127.0.0.1:${port}`))).toBe(true);
  });

  test("many writes in one turn arrive in order, as one stream", async () => {
    const { port } = start((transport) => ({
      onData(chunk) {
        // Answer every byte with 3 writes in the same turn.
        for (const byte of chunk) {
          transport.write(new Uint8Array([byte, byte + 1]));
          transport.write(new Uint8Array([0xaa]));
          transport.write(new Uint8Array(0));
        }
      },
      onDrain() {},
      onClose() {},
    }));
    const client = await connectClient(port);
    const reply = readBytes(client, 30);
    client.write(Buffer.from([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]));
    const bytes = await reply;
    const expected: number[] = [];
    for (const b of [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]) expected.push(b, b + 1, 0xaa);
    expect([...bytes]).toEqual(expected);
    client.destroy();
  });

  test("writes are copied: reusing the caller's buffer after write() does not corrupt output", async () => {
    const { port } = start((transport) => ({
      onData() {
        const scratch = new Uint8Array(4);
        for (let i = 0; i < 4; i++) {
          scratch.fill(i);
          transport.write(scratch);
        }
      },
      onDrain() {},
      onClose() {},
    }));
    const client = await connectClient(port);
    const reply = readBytes(client, 16);
    client.write("x");
    expect([...(await reply)]).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    client.destroy();
  });

  test("a client that does not read gets backpressure (write returns false), then onDrain once it reads", async () => {
    let transportRef: SocketTransport | undefined;
    let sawFalse = false;
    let drained = 0;
    const chunk = new Uint8Array(8192).fill(7);
    const { port } = start((transport) => {
      transportRef = transport;
      return {
        onData() {
          // Flood until the transport says stop (bounded: never more than 4 MiB), then stay quiet.
          for (let i = 0; i < 512 && !sawFalse; i++) {
            if (!transport.write(chunk)) {
              sawFalse = true;
              break;
            }
          }
        },
        onDrain() {
          drained++;
        },
        onClose() {},
      };
    });
    const client = await connectClient(port);
    client.pause();
    client.write("go");
    // Keep asking for more in later turns until the socket buffers fill and we see pressure.
    for (let round = 0; round < 200 && !sawFalse; round++) {
      await Bun.sleep(5);
      client.write("go");
    }
    expect(sawFalse).toBe(true);
    expect(transportRef!.bufferedBytes).toBeGreaterThan(HIGH_WATER_BYTES);
    // Now read everything: the backlog drains and the owner is told.
    client.on("data", () => {});
    client.resume();
    for (let i = 0; i < 200 && drained === 0; i++) await Bun.sleep(10);
    expect(drained).toBeGreaterThan(0);
    expect(transportRef!.bufferedBytes).toBe(0);
    client.destroy();
  });

  test("reading paused by the owner stays paused after our own backpressure drains", async () => {
    let transportRef: SocketTransport | undefined;
    let chunksSeen = 0;
    let drained = 0;
    const chunk = new Uint8Array(8192).fill(7);
    const { port } = start((transport) => {
      transportRef = transport;
      return {
        onData() {
          chunksSeen++;
          if (chunksSeen > 1) return;
          // The owner stops reading (e.g. too many unconfirmed PUBLISHes), then floods the client.
          transport.pauseReading();
          for (let i = 0; i < 512; i++) if (!transport.write(chunk)) break;
        },
        onDrain() {
          drained++;
        },
        onClose() {},
      };
    });
    const client = await connectClient(port);
    client.pause();
    client.write("go");
    for (let i = 0; i < 200 && (transportRef === undefined || transportRef.bufferedBytes <= HIGH_WATER_BYTES); i++) await Bun.sleep(5);
    expect(transportRef!.bufferedBytes).toBeGreaterThan(HIGH_WATER_BYTES);
    client.on("data", () => {});
    client.resume();
    for (let i = 0; i < 200 && drained === 0; i++) await Bun.sleep(10);
    expect(drained).toBeGreaterThan(0);
    // Our backpressure is gone, the owner's pause is not: nothing new is read.
    client.write("more");
    await Bun.sleep(100);
    expect(chunksSeen).toBe(1);
    transportRef!.resumeReading();
    for (let i = 0; i < 100 && chunksSeen === 1; i++) await Bun.sleep(10);
    expect(chunksSeen).toBe(2);
    client.destroy();
  });

  test("close() sends what was queued before closing", async () => {
    const { port } = start((transport) => ({
      onData() {
        transport.write(new Uint8Array([1, 2, 3]));
        transport.close();
      },
      onDrain() {},
      onClose() {},
    }));
    const client = await connectClient(port);
    const received: number[] = [];
    const ended = new Promise<void>((resolve) => client.on("close", () => resolve()));
    client.on("data", (d: Buffer) => received.push(...d));
    client.write("x");
    await ended;
    expect(received).toEqual([1, 2, 3]);
  });

  test("the handler hears about the close, with the peer address known", async () => {
    let closed = false;
    let peer = "";
    const { port } = start((transport) => {
      peer = transport.remoteAddress;
      return { onData() {}, onDrain() {}, onClose: () => (closed = true) };
    });
    const client = await connectClient(port);
    await Bun.sleep(20);
    client.destroy();
    for (let i = 0; i < 100 && !closed; i++) await Bun.sleep(10);
    expect(closed).toBe(true);
    expect(peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});
