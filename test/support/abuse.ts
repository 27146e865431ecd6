/**
 * Raw-socket MQTT clients for robustness tests: a byte-level client that records what the
 * adapter sends and who closed the connection, hand-made packet bytes (valid and broken), and a
 * catalogue of abusive connections with what the adapter must do with each.
 *
 * Why hand-made bytes and not the project's encoder: these tests check the adapter's decoder and
 * state machine, so the bytes must not come from the code under test (a bug shared by encoder and
 * decoder would cancel out). The builders are tiny and only cover what the cases need.
 */
import type { Socket } from "bun";

const encoder = new TextEncoder();

// --- bytes ---------------------------------------------------------------------------------------

/** MQTT Variable Byte Integer (Remaining Length). */
export function varint(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

/** A UTF-8 string field: two length bytes, then the bytes (or `raw` bytes as they are, e.g. broken UTF-8). */
export function str(value: string | Uint8Array): number[] {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
}

/** A whole packet: first byte, Remaining Length computed from `body`. */
export function packet(firstByte: number, body: number[]): Uint8Array {
  return Uint8Array.from([firstByte, ...varint(body.length), ...body]);
}

export interface ConnectOptions {
  clientId: string;
  /** 4 = 3.1.1 ("MQTT"), 3 = 3.1 ("MQIsdp"), anything else for abuse. */
  level?: number;
  protocolName?: string;
  cleanSession?: boolean;
  keepaliveSeconds?: number;
  username?: string;
  password?: string;
  will?: { topic: string; payload: string; qos: 0 | 1 };
}

/** A CONNECT packet (3.1 / 3.1.1 layout; for level 5 an empty property list is added). */
export function connectPacket(options: ConnectOptions): Uint8Array {
  const level = options.level ?? 4;
  const name = options.protocolName ?? (level === 3 ? "MQIsdp" : "MQTT");
  let flags = options.cleanSession === false ? 0 : 0x02;
  if (options.will !== undefined) flags |= 0x04 | (options.will.qos << 3);
  if (options.username !== undefined) flags |= 0x80;
  if (options.password !== undefined) flags |= 0x40;
  const keepalive = options.keepaliveSeconds ?? 60;
  const body = [...str(name), level, flags, keepalive >> 8, keepalive & 0xff];
  if (level === 5) body.push(0); // Property Length
  body.push(...str(options.clientId));
  if (options.will !== undefined) body.push(...str(options.will.topic), ...str(options.will.payload));
  if (options.username !== undefined) body.push(...str(options.username));
  if (options.password !== undefined) body.push(...str(options.password));
  return packet(0x10, body);
}

/** A PUBLISH (3.1.1): `flags` are the low 4 bits of the first byte, so broken QoS/DUP bits are possible. */
export function publishPacket(topic: string | Uint8Array, payload: string, qos: number, packetId = 1, flags?: number): Uint8Array {
  const first = 0x30 | (flags ?? qos << 1);
  const body = [...str(topic)];
  if (qos > 0) body.push(packetId >> 8, packetId & 0xff);
  body.push(...encoder.encode(payload));
  return packet(first, body);
}

/** A SUBSCRIBE (first byte 0x82, as [MQTT-3.8.1-1] requires, unless `firstByte` says otherwise). */
export function subscribePacket(packetId: number, filter: string, qos: number, firstByte = 0x82): Uint8Array {
  return packet(firstByte, [packetId >> 8, packetId & 0xff, ...str(filter), qos]);
}

export const PINGREQ = Uint8Array.of(0xc0, 0x00);
export const DISCONNECT = Uint8Array.of(0xe0, 0x00);

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Splits a byte stream of whole packets (what a RawClient received) into type, flags and body. */
export function splitPackets(bytes: Uint8Array): Array<{ type: number; flags: number; body: Uint8Array }> {
  const packets: Array<{ type: number; flags: number; body: Uint8Array }> = [];
  let at = 0;
  while (at < bytes.length) {
    let length = 0;
    let i = at + 1;
    for (let shift = 0; i < bytes.length; i++, shift += 7) {
      length += (bytes[i]! & 0x7f) << shift;
      if ((bytes[i]! & 0x80) === 0) break;
    }
    if (i + 1 + length > bytes.length) break; // a packet still arriving
    packets.push({ type: bytes[at]! >> 4, flags: bytes[at]! & 0x0f, body: bytes.subarray(i + 1, i + 1 + length) });
    at = i + 1 + length;
  }
  return packets;
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

// --- the raw client ------------------------------------------------------------------------------

/**
 * One TCP connection driven byte by byte. Everything the server sends is kept in `received`
 * (abuse cases get a few bytes at most); `closedBy` says which side closed first.
 */
export class RawClient {
  private chunks: Uint8Array[] = [];
  private receivedLength = 0;
  private waiters: Array<() => void> = [];
  private endedByUs = false;
  /** "adapter" when the server closed (FIN or RST) before we did. */
  closedBy: "adapter" | "client" | undefined;
  readonly closed: Promise<void>;
  private markClosed!: () => void;

  private constructor(
    private readonly socket: Socket<undefined>,
    /** Our side's port: the adapter logs it as the peer (`127.0.0.1:PORT`). */
    readonly localPort: number,
  ) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
  }

  /** Connects to 127.0.0.1:`port`; rejects if the connection is refused. */
  static async open(port: number): Promise<RawClient> {
    let client: RawClient | undefined;
    const onClosed = () => {
      if (client === undefined || client.closedBy !== undefined) return;
      client.closedBy = client.endedByUs ? "client" : "adapter";
      client.markClosed();
      client.wake();
    };
    const socket = await Bun.connect<undefined>({
      hostname: "127.0.0.1",
      port,
      socket: {
        binaryType: "uint8array",
        data(_s, chunk: Uint8Array) {
          if (client === undefined) return;
          client.chunks.push(chunk.slice());
          client.receivedLength += chunk.length;
          client.wake();
        },
        end(s) {
          // The server half-closed: finish our side too, as any client would.
          onClosed();
          s.end();
        },
        close: onClosed,
        error: onClosed,
      },
    });
    client = new RawClient(socket, socket.localPort);
    return client;
  }

  /** Everything received so far. */
  get received(): Uint8Array {
    if (this.chunks.length > 1) this.chunks = [concat(...this.chunks)];
    return this.chunks[0] ?? new Uint8Array(0);
  }

  get isClosed(): boolean {
    return this.closedBy !== undefined;
  }

  /** Sends bytes; false when the socket is already closed. */
  send(bytes: Uint8Array): boolean {
    if (this.isClosed) return false;
    this.socket.write(bytes);
    this.socket.flush();
    return true;
  }

  /** Sends `bytes` one at a time, `delayMs` apart, until done or the adapter closes the socket. */
  async sendSlowly(bytes: Uint8Array, delayMs: number): Promise<number> {
    let sent = 0;
    for (const byte of bytes) {
      if (!this.send(Uint8Array.of(byte))) break;
      sent++;
      await Promise.race([Bun.sleep(delayMs), this.closed]);
    }
    return sent;
  }

  /** Stops reading: the adapter's writes pile up in the kernel, then in the adapter. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Closes our side (a FIN). */
  end(): void {
    this.endedByUs = true;
    this.socket.end();
  }

  /** Waits until at least `length` bytes arrived; rejects after `timeoutMs` naming `what`. */
  async waitForBytes(length: number, what: string, timeoutMs = 10_000): Promise<Uint8Array> {
    await this.waitUntil(() => this.receivedLength >= length, `${what}: waited for ${length} byte(s)`, timeoutMs);
    return this.received.subarray(0, length);
  }

  /** Waits until the connection is closed (by either side). */
  async waitForClose(what: string, timeoutMs = 10_000): Promise<void> {
    await this.waitUntil(() => this.isClosed, `${what}: waited for the connection to close`, timeoutMs);
  }

  /** Waits until `check()` holds, re-checked whenever bytes arrive or the socket closes. */
  async waitUntil(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`${what}; gave up after ${timeoutMs} ms (received ${hex(this.received.subarray(0, 32))}, closed by ${this.closedBy ?? "nobody"})`);
      }
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
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

/**
 * The first bytes a real TLS client sends (its ClientHello), captured once from Bun's own TLS
 * client against a throw-away listener, so the abuse case replays a genuine handshake.
 */
export async function captureTlsClientHello(): Promise<Uint8Array> {
  let resolveHello!: (bytes: Uint8Array) => void;
  const hello = new Promise<Uint8Array>((resolve) => (resolveHello = resolve));
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      binaryType: "uint8array",
      data(socket, chunk: Uint8Array) {
        resolveHello(chunk.slice());
        socket.terminate();
      },
    },
  });
  try {
    const client = Bun.connect({
      hostname: "127.0.0.1",
      port: listener.port,
      tls: { rejectUnauthorized: false, serverName: "localhost" },
      socket: { data() {}, error() {}, connectError() {} },
    }).catch(() => undefined);
    const bytes = await Promise.race([hello, Bun.sleep(5000).then(() => undefined)]);
    (await client)?.terminate();
    if (bytes === undefined) throw new Error("no TLS ClientHello captured within 5 s");
    return bytes;
  } finally {
    listener.stop(true);
  }
}

/** Runs `tasks` with at most `limit` at a time, in order; resolves with their results in order. */
export async function inBatches<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

// --- the catalogue of abusive connections --------------------------------------------------------

/** CONNACK bytes the cases expect (3.1.1 return codes; the 5.0 one carries reason 0x84). */
export const CONNACK = {
  accepted: Uint8Array.of(0x20, 0x02, 0x00, 0x00),
  unacceptableProtocolVersion: Uint8Array.of(0x20, 0x02, 0x00, 0x01),
  identifierRejected: Uint8Array.of(0x20, 0x02, 0x00, 0x02),
  serverUnavailable: Uint8Array.of(0x20, 0x02, 0x00, 0x03),
  badUserNameOrPassword: Uint8Array.of(0x20, 0x02, 0x00, 0x04),
  v5UnsupportedProtocolVersion: Uint8Array.of(0x20, 0x03, 0x00, 0x84, 0x00),
} as const;

/** What the cases need to know about the adapter they abuse. */
export interface AbuseContext {
  /** A fresh, unique client id. */
  clientId(): string;
  maxPacketSizeBytes: number;
  maxPacketSizeBeforeConnectBytes: number;
  /** A real TLS ClientHello (captureTlsClientHello). */
  tlsClientHello: Uint8Array;
}

export interface AbuseCase {
  name: string;
  /** Does its abuse; returns when it has done its part (the adapter may close at any moment). */
  drive(client: RawClient, context: AbuseContext): Promise<void>;
  /** "adapter": a violation the adapter must close on; "client": we hang up mid-packet. */
  closedBy: "adapter" | "client";
  /** Exactly the bytes the adapter sends before the close (a CONNACK where the spec wants one, else none). */
  expectBytes: Uint8Array;
  /** Must appear in the one "closing MQTT connection from <peer>: …" line for this socket. */
  logFragment: string | ((context: AbuseContext) => string);
}

const NOTHING = new Uint8Array(0);

/** Sends a CONNECT, waits for CONNACK 0, then sends `bad` (a violation of a connected session). */
async function afterConnack(client: RawClient, context: AbuseContext, bad: Uint8Array, level = 4): Promise<void> {
  client.send(connectPacket({ clientId: context.clientId(), level }));
  await client.waitForBytes(CONNACK.accepted.length, "CONNACK before the abuse");
  client.send(bad);
}

const send = (bytes: (context: AbuseContext) => Uint8Array) => async (client: RawClient, context: AbuseContext) => {
  client.send(bytes(context));
};

/**
 * Every kind of bad input the adapter must survive, each with the outcome the spec (or our
 * STYLE's "explain the operator mistake") asks for. The fragments are the rule ids or the
 * explanation the log line must carry, so an operator can tell what happened and why.
 */
export const ABUSE_CASES: readonly AbuseCase[] = [
  // --- before CONNECT
  { name: "Remaining Length longer than 4 bytes in the first packet", closedBy: "adapter", expectBytes: NOTHING,
    logFragment: "Remaining Length continues past 4 bytes", drive: send(() => Uint8Array.of(0x10, 0xff, 0xff, 0xff, 0xff, 0x01)) },
  { name: "PUBLISH before CONNECT [MQTT-3.1.0-1]", closedBy: "adapter", expectBytes: NOTHING,
    logFragment: "before the CONNECT was accepted; the first packet must be CONNECT", drive: send(() => publishPacket("a/b", "x", 0)) },
  { name: "garbage bytes instead of CONNECT [MQTT-3.1.0-1]", closedBy: "adapter", expectBytes: NOTHING,
    logFragment: "is 15 (AUTH; first bytes ff ff ff ff) before the CONNECT was accepted", drive: send(() => Uint8Array.of(0xff, 0xff, 0xff, 0xff)) },
  { name: "CONNECT with reserved fixed-header flag bits", closedBy: "adapter", expectBytes: NOTHING,
    logFragment: "are 0b0010; they are reserved", drive: send((c) => { const p = connectPacket({ clientId: c.clientId() }); p[0] = 0x12; return p; }) },
  { name: "CONNECT over the before-CONNECT size limit", closedBy: "adapter", expectBytes: NOTHING,
    logFragment: (c) => `announces a CONNECT of ${c.maxPacketSizeBeforeConnectBytes + 15} bytes; the limit before CONNECT completes is ${c.maxPacketSizeBeforeConnectBytes} bytes`, drive: send((c) => connectPacket({ clientId: "x".repeat(c.maxPacketSizeBeforeConnectBytes) })) },
  { name: "a TLS ClientHello on the plain port", closedBy: "adapter", expectBytes: NOTHING,
    logFragment: "looks like a TLS ClientHello: the client uses TLS (mqtts://, usually port 8883) on the plain MQTT port", drive: send((c) => c.tlsClientHello) },
  { name: "an HTTP GET (WebSocket upgrade) on the raw MQTT port", closedBy: "adapter", expectBytes: NOTHING,
    logFragment: 'looks like an HTTP request ("GET /mqtt HTTP/1.1"): a browser, or an MQTT-over-WebSocket client',
    drive: send(() => encoder.encode("GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")) },
  { name: "unknown protocol level: CONNACK 1 [MQTT-3.1.2-2]", closedBy: "adapter", expectBytes: CONNACK.unacceptableProtocolVersion,
    logFragment: 'protocol name "MQTT" with level 6 is not supported', drive: send((c) => connectPacket({ clientId: c.clientId(), level: 6 })) },
  { name: "MQTT 5.0 CONNECT: CONNACK 0x84 (not supported yet)", closedBy: "adapter", expectBytes: CONNACK.v5UnsupportedProtocolVersion,
    logFragment: "asks for MQTT 5.0, which this adapter does not support yet", drive: send((c) => connectPacket({ clientId: c.clientId(), level: 5 })) },
  { name: "empty client id with Clean Session 0: CONNACK 2 [MQTT-3.1.3-8]", closedBy: "adapter", expectBytes: CONNACK.identifierRejected,
    logFragment: "empty Client Identifier with Clean Session 0", drive: send(() => connectPacket({ clientId: "", cleanSession: false })) },
  { name: "user name without password: CONNACK 4", closedBy: "adapter", expectBytes: CONNACK.badUserNameOrPassword,
    logFragment: 'has user name "guest" but no password', drive: send((c) => connectPacket({ clientId: c.clientId(), username: "guest" })) },
  { name: "half a CONNECT, then the client hangs up", closedBy: "client", expectBytes: NOTHING,
    logFragment: "the client closed the connection without DISCONNECT",
    drive: async (client, c) => { client.send(connectPacket({ clientId: c.clientId() }).subarray(0, 9)); client.end(); } },
  { name: "slowloris: CONNECT one byte at a time, slower than the login timeout", closedBy: "adapter", expectBytes: NOTHING,
    logFragment: "no accepted CONNECT within the login timeout",
    drive: async (client, c) => { await client.sendSlowly(connectPacket({ clientId: `${c.clientId()}-${"s".repeat(60)}` }), 100); } },
  { name: "a silent socket (no CONNECT at all)", closedBy: "adapter", expectBytes: NOTHING,
    logFragment: "no accepted CONNECT within the login timeout", drive: async () => {} },

  // --- after CONNACK 0 (3.1.1 has no server DISCONNECT: CONNACK 0, then a plain close)
  { name: "reserved packet type 0", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: "is 0, which is reserved", drive: (client, c) => afterConnack(client, c, Uint8Array.of(0x00, 0x00)) },
  { name: "reserved packet type 15 (AUTH) in 3.1.1", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: "only exists in MQTT 5; it is reserved in MQTT 3.1.1", drive: (client, c) => afterConnack(client, c, Uint8Array.of(0xf0, 0x00)) },
  { name: "Remaining Length longer than 4 bytes after CONNECT", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: "Remaining Length continues past 4 bytes", drive: (client, c) => afterConnack(client, c, Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff, 0x01)) },
  { name: "SUBSCRIBE with reserved flag bits [MQTT-3.8.1-1]", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: "they must be 0b0010 [MQTT-3.8.1-1]", drive: (client, c) => afterConnack(client, c, subscribePacket(1, "a/b", 1, 0x80)) },
  { name: "ill-formed UTF-8 in a PUBLISH topic [MQTT-1.5.4-1]", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: "is not well-formed UTF-8 (bytes 61 2f c3 28) [MQTT-1.5.4-1]", drive: (client, c) => afterConnack(client, c, publishPacket(Uint8Array.of(0x61, 0x2f, 0xc3, 0x28), "x", 0)) },
  { name: "wildcard in a PUBLISH topic [MQTT-3.3.2-2]", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: "topic names must not contain wildcards [MQTT-3.3.2-2]", drive: (client, c) => afterConnack(client, c, publishPacket("a/+/b", "x", 1)) },
  { name: "QoS 1 PUBLISH with packet id 0 [MQTT-2.3.1-1]", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: "Packet Identifiers must be non-zero [MQTT-2.3.1-1]", drive: (client, c) => afterConnack(client, c, publishPacket("a/b", "x", 1, 0)) },
  { name: "PUBLISH with QoS 3 [MQTT-3.3.1-4]", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: "QoS bits must not both be 1 [MQTT-3.3.1-4]", drive: (client, c) => afterConnack(client, c, publishPacket("a/b", "x", 1, 1, 0x06)) },
  { name: "PUBLISH over the size limit (refused from its fixed header)", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: (c) => `announces a PUBLISH of ${c.maxPacketSizeBytes * 4 + 4} bytes; the limit is ${c.maxPacketSizeBytes} bytes`, drive: (client, c) => afterConnack(client, c, Uint8Array.of(0x30, ...varint(c.maxPacketSizeBytes * 4), 0x00, 0x01)) },
  { name: "PUBLISH to a topic longer than an AMQP routing key may be (255 bytes)", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: "is 301 bytes of UTF-8; RabbitMQ accepts at most 255 (AMQP short string); MQTT 3.1.1 cannot refuse a PUBLISH, so the connection is closed [MQTT-3.3.5-2]",
    drive: (client, c) => afterConnack(client, c, publishPacket(`${"a/".repeat(150)}b`, "x", 1, 3)) },
  { name: "a second CONNECT [MQTT-3.1.0-2]", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: "a client may send CONNECT only once [MQTT-3.1.0-2]", drive: (client, c) => afterConnack(client, c, connectPacket({ clientId: c.clientId() })) },
  { name: "SUBACK from a client (a server-only packet)", closedBy: "adapter", expectBytes: CONNACK.accepted,
    logFragment: "received SUBACK, which only a server sends", drive: (client, c) => afterConnack(client, c, packet(0x90, [0, 1, 0])) },
  { name: "half a PUBLISH after CONNACK, then the client hangs up", closedBy: "client", expectBytes: CONNACK.accepted,
    logFragment: "the client closed the connection without DISCONNECT",
    drive: async (client, c) => { await afterConnack(client, c, publishPacket("a/b", "half of me", 1, 7).subarray(0, 6)); client.end(); } },
];
