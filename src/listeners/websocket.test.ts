import { describe, expect, test } from "bun:test";
import type { ServerWebSocket } from "bun";
import { chooseSubprotocol } from "./websocket.ts";
import { WebSocketTransport, WS_HIGH_WATER_BYTES, WS_LOW_WATER_BYTES } from "./websocket-transport.ts";

describe("chooseSubprotocol [MQTT-6.0.0-3] [MQTT-6.0.0-4]", () => {
  const cases: Array<[string | null, string | undefined]> = [
    ["mqtt", "mqtt"],
    ["mqttv3.1", "mqttv3.1"],
    ["mqttv3.1, mqtt", "mqtt"],
    [" foo ,mqtt ", "mqtt"],
    ["MQTT", undefined],
    ["stomp, wamp", undefined],
    ["", undefined],
    [null, undefined],
  ];
  for (const [header, expected] of cases) {
    test(`Sec-WebSocket-Protocol ${JSON.stringify(header)} → ${JSON.stringify(expected)}`, () => {
      expect(chooseSubprotocol(header)).toBe(expected);
    });
  }
});

/**
 * Stands in for Bun's ServerWebSocket where only the transport's own logic is under test
 * (batching, high/low water, pause/resume): Bun's side is covered by websocket-listener tests.
 */
class SocketStandIn {
  sent: Uint8Array[] = [];
  buffered = 0;
  paused = false;
  closed: [number, string] | undefined;
  terminated = false;
  /** What sendBinary answers: bytes sent, -1 (backpressure) or 0 (dropped). */
  status: number | undefined;
  sendBinary(data: Uint8Array): number {
    this.sent.push(data.slice());
    return this.status ?? data.length;
  }
  getBufferedAmount(): number {
    return this.buffered;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  close(code: number, reason: string): void {
    this.closed = [code, reason];
  }
  terminate(): void {
    this.terminated = true;
  }
}

function transportOn(socket: SocketStandIn) {
  const transport = new WebSocketTransport(socket as unknown as ServerWebSocket<unknown>, "127.0.0.1:5000", 15675);
  let drains = 0;
  transport.events = { onDrain: () => drains++ };
  return { transport, drains: () => drains };
}

describe("WebSocketTransport", () => {
  test("everything written in one turn goes out as one binary message, in order", async () => {
    const socket = new SocketStandIn();
    const { transport } = transportOn(socket);
    const reused = Uint8Array.of(1, 2);
    transport.write(reused);
    reused.set([9, 9]);
    transport.write(Uint8Array.of(3));
    expect(socket.sent).toHaveLength(0);
    await Promise.resolve();
    expect(socket.sent.map((m) => Array.from(m))).toEqual([[1, 2, 3]]);
  });

  test("a packet bigger than the batch buffer is sent on its own, after what was batched before it", async () => {
    const socket = new SocketStandIn();
    const { transport } = transportOn(socket);
    transport.write(Uint8Array.of(7));
    transport.write(new Uint8Array(20_000));
    await Promise.resolve();
    expect(socket.sent.map((m) => m.length)).toEqual([1, 20_000]);
  });

  test("over the high-water mark: write() says stop and reading pauses; below the low-water mark it resumes and onDrain runs", async () => {
    const socket = new SocketStandIn();
    const { transport, drains } = transportOn(socket);
    socket.buffered = WS_HIGH_WATER_BYTES + 1;
    transport.write(Uint8Array.of(1));
    await Promise.resolve();
    expect(socket.paused).toBe(true);
    expect(transport.write(Uint8Array.of(2))).toBe(false);
    socket.buffered = WS_LOW_WATER_BYTES + 1;
    transport.handleDrain();
    expect([socket.paused, drains()]).toEqual([true, 0]);
    socket.buffered = WS_LOW_WATER_BYTES;
    transport.handleDrain();
    expect([socket.paused, drains()]).toEqual([false, 1]);
    expect(transport.write(Uint8Array.of(3))).toBe(true);
  });

  test("the connection's own pause wins over a drain", async () => {
    const socket = new SocketStandIn();
    const { transport } = transportOn(socket);
    transport.pauseReading();
    socket.buffered = WS_HIGH_WATER_BYTES + 1;
    transport.write(Uint8Array.of(1));
    await Promise.resolve();
    socket.buffered = 0;
    transport.handleDrain();
    expect(socket.paused).toBe(true);
    transport.resumeReading();
    expect(socket.paused).toBe(false);
  });

  test("a dropped send ends the connection (the MQTT stream would have a hole)", async () => {
    const socket = new SocketStandIn();
    const { transport } = transportOn(socket);
    socket.status = 0;
    transport.write(Uint8Array.of(1));
    await Promise.resolve();
    expect(socket.terminated).toBe(true);
    expect(transport.write(Uint8Array.of(2))).toBe(false);
  });

  test("close() flushes the batch, then sends the Close frame; nothing is sent after", async () => {
    const socket = new SocketStandIn();
    const { transport } = transportOn(socket);
    transport.write(Uint8Array.of(0xe0, 0x00));
    transport.close();
    expect(socket.sent.map((m) => Array.from(m))).toEqual([[0xe0, 0x00]]);
    expect(socket.closed).toEqual([1000, ""]);
    transport.write(Uint8Array.of(1));
    await Promise.resolve();
    expect(socket.sent).toHaveLength(1);
  });
});
