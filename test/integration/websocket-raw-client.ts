/**
 * A WebSocket client written for the tests (RFC 6455 over a plain node:net or node:tls socket),
 * because browser-style clients hide what these tests need: exact message boundaries (a packet
 * split over messages, several packets in one), text messages, the HTTP answer to a refused
 * upgrade, the close code, and a socket that stops reading (backpressure).
 */
import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { randomBytes } from "node:crypto";

export interface UpgradeAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawWebSocketOptions {
  /** Default 127.0.0.1. */
  host?: string;
  path?: string;
  /** Offered subprotocols; [] sends no Sec-WebSocket-Protocol header. */
  protocols?: string[];
  /** Connect with TLS, trusting this CA (PEM). */
  tlsCa?: string;
  /** Send an ordinary GET without the upgrade headers. */
  plainHttp?: boolean;
}

const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export class RawWebSocket {
  /** Binary messages received, in order. */
  readonly messages: Uint8Array[] = [];
  /** Set once a Close frame arrived (or the socket ended without one: code 1006). */
  closeCode: number | undefined;
  closeReason = "";
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly socket: Socket,
    /** The 101 answer's headers (lower-case names). */
    readonly headers: Record<string, string>,
    rest: Buffer,
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("close", () => {
      this.closeCode ??= 1006;
      this.wake();
    });
    socket.on("error", () => {});
    if (rest.length > 0) this.onData(rest);
  }

  /** Opens the connection; resolves with the client after a 101, or with the HTTP answer otherwise. */
  static open(port: number, options: RawWebSocketOptions = {}): Promise<RawWebSocket | UpgradeAnswer> {
    const path = options.path ?? "/ws";
    const protocols = options.protocols ?? ["mqtt"];
    return new Promise((resolve, reject) => {
      const onConnect = () => {
        const lines = [`GET ${path} HTTP/1.1`, `Host: localhost:${port}`];
        if (!options.plainHttp) {
          lines.push("Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`, "Sec-WebSocket-Version: 13");
          if (protocols.length > 0) lines.push(`Sec-WebSocket-Protocol: ${protocols.join(", ")}`);
        }
        socket.write(lines.join("\r\n") + "\r\n\r\n");
      };
      const host = options.host ?? "127.0.0.1";
      const socket: Socket = options.tlsCa === undefined
        ? connectTcp({ host, port }, onConnect)
        : connectTls({ host, port, servername: "localhost", ca: options.tlsCa }, onConnect);
      let head = Buffer.alloc(0);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error("no HTTP answer to the upgrade within 5 s"));
      }, 5_000);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        clearTimeout(timer);
        socket.off("data", onData);
        const [statusLine, ...headerLines] = head.subarray(0, end).toString("latin1").split("\r\n");
        const status = Number(statusLine!.split(" ")[1]);
        const headers: Record<string, string> = {};
        for (const line of headerLines) {
          const colon = line.indexOf(":");
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const rest = head.subarray(end + 4);
        if (status === 101) {
          resolve(new RawWebSocket(socket, headers, rest));
          return;
        }
        let body = rest.toString();
        socket.on("data", (more: Buffer) => (body += more.toString()));
        socket.on("close", () => resolve({ status, headers, body }));
        socket.on("error", () => {});
      };
      socket.on("data", onData);
      socket.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** Sends one frame (masked, as a client must). */
  sendFrame(opcode: number, payload: Uint8Array, fin = true): void {
    const mask = randomBytes(4);
    const length = payload.length;
    const header = length < 126 ? Buffer.from([0, 0x80 | length]) : length < 65536 ? Buffer.from([0, 0x80 | 126, length >> 8, length & 0xff]) : Buffer.alloc(10);
    if (length >= 65536) {
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(length), 2);
    }
    header[0] = (fin ? 0x80 : 0) | opcode;
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i % 4]!;
    this.socket.write(Buffer.concat([header, mask, masked]));
  }

  sendBinary(payload: Uint8Array): void {
    this.sendFrame(OPCODE.binary, payload);
  }

  sendText(text: string): void {
    this.sendFrame(OPCODE.text, Buffer.from(text));
  }

  /** Stops / restarts reading from the socket (the server then sees TCP backpressure). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Waits until `count` binary messages have arrived in total (bounded). */
  async waitForMessages(count: number, what: string, timeoutMs = 10_000): Promise<Uint8Array[]> {
    await this.waitFor(() => this.messages.length >= count || this.closeCode !== undefined, what, timeoutMs);
    if (this.messages.length < count) throw new Error(`closed (code ${this.closeCode}) after ${this.messages.length} of ${count} messages: ${what}`);
    return this.messages.slice(0, count);
  }

  /** Every byte of every binary message so far, as one stream. */
  get bytes(): Buffer {
    return Buffer.concat(this.messages);
  }

  /** Waits for the server's Close frame (or the socket's end) and returns the close code. */
  async waitForClose(timeoutMs = 10_000): Promise<number> {
    await this.waitFor(() => this.closeCode !== undefined, "the server to close the WebSocket", timeoutMs);
    return this.closeCode!;
  }

  end(): void {
    this.socket.destroy();
  }

  private async waitFor(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const waiters = this.waiters.splice(0);
    for (const waiter of waiters) waiter();
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 2) break;
      const opcode = this.buffer[0]! & 0x0f;
      let length = this.buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) break;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) break;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + length) break;
      const payload = this.buffer.subarray(offset, offset + length);
      this.buffer = this.buffer.subarray(offset + length);
      if (opcode === OPCODE.binary || opcode === OPCODE.continuation) this.messages.push(Buffer.from(payload));
      else if (opcode === OPCODE.close) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.closeReason = payload.subarray(2).toString();
        this.socket.end();
      } else if (opcode === OPCODE.ping) this.sendFrame(OPCODE.pong, payload);
    }
    this.wake();
  }
}
