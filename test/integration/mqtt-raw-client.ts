/**
 * A raw-socket MQTT client for the cases real client libraries will not produce: a PUBLISH
 * before CONNECT, a second CONNECT, an unknown protocol level, a client that never PUBACKs,
 * a client that goes silent. Packets are built and parsed with mqtt-packet (not our codec), so
 * a bug in our codec cannot hide behind a matching bug in the test.
 */
import { connect as connectTcp, type Socket } from "node:net";
import mqttPacket, { type Packet } from "mqtt-packet";
import { withTimeout } from "./mqtt-support.ts";

export type RawPacket = Packet;

export class RawMqttClient {
  /** Every packet received so far, in order. */
  readonly received: Packet[] = [];
  /** Resolves when the socket closed (either side). */
  readonly closed: Promise<void>;
  private isClosed = false;
  private readIndex = 0;
  private waiter: (() => void) | undefined;
  private readonly parser;

  private constructor(
    private readonly socket: Socket,
    /** Protocol level the parser and generator use: 3, 4 (or 5). */
    private readonly protocolVersion: number,
  ) {
    this.parser = mqttPacket.parser({ protocolVersion });
    this.parser.on("packet", (packet: Packet) => {
      this.received.push(packet);
      this.waiter?.();
    });
    this.parser.on("error", (error: Error) => {
      this.received.push({ cmd: "parse-error", message: error.message } as unknown as Packet);
      this.waiter?.();
    });
    socket.on("data", (chunk: Buffer) => this.parser.parse(chunk));
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.isClosed = true;
        this.waiter?.();
        resolve();
      });
    });
    socket.on("error", () => {}); // a reset by the adapter shows up as 'close'
  }

  /** Opens a TCP connection to the adapter on 127.0.0.1:`port`. */
  static async open(port: number, protocolVersion = 4): Promise<RawMqttClient> {
    const socket = connectTcp({ host: "127.0.0.1", port });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("error", reject);
      }),
      5_000,
      `a TCP connection to port ${port}`,
    );
    return new RawMqttClient(socket, protocolVersion);
  }

  /** Opens a connection and completes CONNECT; fails unless CONNACK 0 comes back. */
  static async connected(
    port: number,
    connect: { clientId: string; clean?: boolean; keepalive?: number; username?: string; password?: string; will?: WillSpec },
    protocolVersion = 4,
  ): Promise<RawMqttClient> {
    const client = await RawMqttClient.open(port, protocolVersion);
    client.sendConnect(connect);
    const connack = await client.next("CONNACK");
    if (connack.cmd !== "connack" || connack.returnCode !== 0) {
      client.destroy();
      throw new Error(`expected CONNACK 0 for ${connect.clientId}, got ${JSON.stringify(connack)}`);
    }
    return client;
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Sends a CONNECT in this client's protocol version. */
  sendConnect(connect: { clientId: string; clean?: boolean; keepalive?: number; username?: string; password?: string; will?: WillSpec }): void {
    this.send({
      cmd: "connect",
      protocolId: this.protocolVersion === 3 ? "MQIsdp" : "MQTT",
      protocolVersion: this.protocolVersion as 3 | 4,
      clientId: connect.clientId,
      clean: connect.clean ?? true,
      keepalive: connect.keepalive ?? 0,
      ...(connect.username === undefined ? {} : { username: connect.username }),
      ...(connect.password === undefined ? {} : { password: Buffer.from(connect.password) }),
      ...(connect.will === undefined
        ? {}
        : { will: { topic: connect.will.topic, payload: Buffer.from(connect.will.payload), qos: connect.will.qos, retain: connect.will.retain ?? false } }),
    });
  }

  /** Encodes `packet` with mqtt-packet and writes it. */
  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.protocolVersion }));
  }

  sendBytes(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next packet not yet returned; rejects if the socket closes first or after `timeoutMs`. */
  async next(what: string, timeoutMs = 5_000): Promise<Packet> {
    const packet = await this.nextOrClose(what, timeoutMs);
    if (packet === undefined) throw new Error(`connection closed while waiting for ${what}`);
    return packet;
  }

  /** The next packet, or undefined when the socket closed before one arrived. */
  async nextOrClose(what: string, timeoutMs = 5_000): Promise<Packet | undefined> {
    if (this.readIndex < this.received.length) return this.received[this.readIndex++];
    if (this.isClosed) return undefined;
    await withTimeout(new Promise<void>((resolve) => (this.waiter = resolve)), timeoutMs, what).finally(() => {
      this.waiter = undefined;
    });
    return this.nextOrClose(what, 0);
  }

  /** Every packet received and not yet returned, now (no waiting); marks them read. */
  takeUnread(): Packet[] {
    const unread = this.received.slice(this.readIndex);
    this.readIndex = this.received.length;
    return unread;
  }

  /** Waits until the adapter closes the socket; rejects after `timeoutMs`. */
  waitClosed(what: string, timeoutMs = 5_000): Promise<void> {
    return withTimeout(this.closed, timeoutMs, what);
  }

  /** Ends the TCP connection without DISCONNECT. */
  destroy(): void {
    this.socket.destroy();
  }
}

export interface WillSpec {
  topic: string;
  payload: string;
  qos: 0 | 1 | 2;
  retain?: boolean;
}

/**
 * A CONNECT assembled byte by byte, for what mqtt-packet refuses to generate (an unknown
 * protocol level, a password without a user name). Fields are written in §3.1 order.
 */
export function handmadeConnect(fields: {
  protocolName: string;
  level: number;
  clientId: string;
  clean?: boolean;
  username?: string;
  password?: string;
  keepaliveSeconds?: number;
}): Uint8Array {
  const utf8 = (text: string): number[] => {
    const bytes = [...Buffer.from(text, "utf8")];
    return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
  };
  let flags = fields.clean === false ? 0 : 0x02;
  if (fields.username !== undefined) flags |= 0x80;
  if (fields.password !== undefined) flags |= 0x40;
  const keepalive = fields.keepaliveSeconds ?? 0;
  const body = [
    ...utf8(fields.protocolName),
    fields.level,
    flags,
    keepalive >> 8,
    keepalive & 0xff,
    ...utf8(fields.clientId),
    ...(fields.username === undefined ? [] : utf8(fields.username)),
    ...(fields.password === undefined ? [] : utf8(fields.password)),
  ];
  if (body.length > 127) throw new Error("handmadeConnect: keep it under 128 bytes (one-byte remaining length)");
  return Uint8Array.from([0x10, body.length, ...body]);
}
