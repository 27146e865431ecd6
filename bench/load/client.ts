/**
 * A minimal MQTT 3.1.1 client for load generation: raw Bun sockets and our own codec, so the
 * generator costs little CPU next to the broker it measures on a 2-core machine.
 *
 * Writes are batched: packets encoded during one event-loop turn are appended to one output
 * buffer and written with a single `socket.write` in a microtask. A partial write keeps the
 * rest and resumes on `drain`; `writableBytes` lets a publisher stop while the socket is full.
 *
 * Invariants: `out[0, outLength)` holds bytes not yet handed to the socket, in order; a
 * QoS 1 PUBLISH received is PUBACKed at once (the generator never holds deliveries).
 */
import { Decoder, Encoder, PacketType, type Packet, type PublishPacket, type QoS } from "../../src/codec/index.ts";
import type { Socket } from "bun";

/** One Encoder for the whole process: every encode is copied into a client's buffer at once. */
const encoder = new Encoder(4096, 1 << 20);

/** What a client does with what it receives; every callback is optional. */
export interface ClientHandlers {
  onPublish?: (packet: PublishPacket) => void;
  onPuback?: (packetId: number) => void;
  onClose?: (reason: string) => void;
}

export interface ConnectOptions {
  port: number;
  clientId: string;
  cleanSession: boolean;
  keepaliveSeconds?: number;
  username?: string;
  password?: string;
  /** Give up on CONNACK after this long. */
  timeoutMs?: number;
}

/** A connected client. Create with {@link connectClient}. */
export class LoadClient {
  handlers: ClientHandlers = {};
  sessionPresent = false;
  private socket: Socket<undefined> | undefined;
  private out = new Uint8Array(16 * 1024);
  private outLength = 0;
  private flushScheduled = false;
  private nextPacketId = 1;
  private readonly decoder = new Decoder({ maxPacketSizeBytes: 1 << 24, maxPacketSizeBeforeConnectBytes: 1 << 24 });
  private waiters = new Map<string, (packet: Packet) => void>();
  private drainWaiters: Array<() => void> = [];
  closed = false;
  closeReason = "";

  constructor() {
    this.decoder.protocolVersion = 4;
  }

  /** Bytes queued in this client (not yet accepted by the kernel). */
  get writableBytes(): number {
    return this.outLength;
  }

  attach(socket: Socket<undefined>): void {
    this.socket = socket;
  }

  /** Queues one packet; written with the rest of this turn's packets. */
  send(packet: Packet): void {
    const bytes = encoder.encode(packet, 4);
    this.append(bytes);
  }

  /** Queues a PUBLISH, returning its packet id for QoS 1 (0 for QoS 0). */
  publish(topic: string, payload: Uint8Array, qos: QoS): number {
    let packetId = 0;
    if (qos > 0) {
      packetId = this.nextPacketId;
      this.nextPacketId = packetId === 0xffff ? 1 : packetId + 1;
    }
    const packet: PublishPacket = { type: PacketType.Publish, topic, payload, qos, retain: false, dup: false, packetId: qos > 0 ? packetId : undefined };
    this.send(packet);
    return packetId;
  }

  /** SUBSCRIBE and wait for its SUBACK; rejects when the broker refuses a filter. */
  async subscribe(topicFilter: string, qos: QoS): Promise<void> {
    const packetId = this.nextPacketId;
    this.nextPacketId = packetId === 0xffff ? 1 : packetId + 1;
    const suback = this.waitFor(`suback:${packetId}`);
    this.send({
      type: PacketType.Subscribe,
      packetId,
      subscriptions: [{ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    const packet = await withTimeout(suback, 30_000, `SUBACK for ${topicFilter}`);
    if (packet.type === PacketType.Suback && packet.reasonCodes[0] === 0x80) throw new Error(`SUBSCRIBE ${topicFilter} refused`);
  }

  /** Resolves once every queued byte went to the kernel. */
  drained(): Promise<void> {
    if (this.outLength === 0 && !this.flushScheduled) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** DISCONNECT, then close once it is written. */
  async disconnect(): Promise<void> {
    if (this.closed) return;
    this.send({ type: PacketType.Disconnect });
    await this.drained();
    this.socket?.end();
  }

  /** Close at once, without DISCONNECT. */
  destroy(): void {
    this.socket?.terminate();
  }

  waitFor(key: string): Promise<Packet> {
    return new Promise((resolve) => this.waiters.set(key, resolve));
  }

  private append(bytes: Uint8Array): void {
    const needed = this.outLength + bytes.length;
    if (needed > this.out.length) {
      const grown = new Uint8Array(Math.max(needed, this.out.length * 2));
      grown.set(this.out.subarray(0, this.outLength));
      this.out = grown;
    }
    this.out.set(bytes, this.outLength);
    this.outLength = needed;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  /** Writes what is queued; called after each turn and on drain. */
  flush(): void {
    const socket = this.socket;
    if (socket === undefined || this.closed) return;
    if (this.outLength > 0) {
      const written = socket.write(this.out.subarray(0, this.outLength));
      if (written < 0) return;
      if (written < this.outLength) {
        this.out.copyWithin(0, written, this.outLength);
        this.outLength -= written;
        return;
      }
      this.outLength = 0;
    }
    const waiters = this.drainWaiters;
    if (waiters.length > 0) {
      this.drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  onData(chunk: Uint8Array): void {
    const decoder = this.decoder;
    decoder.feed(chunk);
    for (;;) {
      const result = decoder.next();
      if (result.kind === "more") return;
      if (result.kind === "error") {
        this.closeReason = `decode error: ${result.error.message}`;
        this.destroy();
        return;
      }
      this.dispatch(result.packet);
    }
  }

  onClose(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.closeReason === "") this.closeReason = reason;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
    this.handlers.onClose?.(this.closeReason);
  }

  private dispatch(packet: Packet): void {
    switch (packet.type) {
      case PacketType.Publish:
        if (packet.qos === 1 && packet.packetId !== undefined) this.send({ type: PacketType.Puback, packetId: packet.packetId });
        this.handlers.onPublish?.(packet);
        return;
      case PacketType.Puback:
        this.handlers.onPuback?.(packet.packetId);
        return;
      case PacketType.Connack:
        this.sessionPresent = packet.sessionPresent;
        this.resolve("connack", packet);
        return;
      case PacketType.Suback:
        this.resolve(`suback:${packet.packetId}`, packet);
        return;
      default:
        return;
    }
  }

  private resolve(key: string, packet: Packet): void {
    const waiter = this.waiters.get(key);
    if (waiter === undefined) return;
    this.waiters.delete(key);
    waiter(packet);
  }
}

/** Connects, sends CONNECT and waits for a successful CONNACK. */
export async function connectClient(options: ConnectOptions): Promise<LoadClient> {
  const client = new LoadClient();
  const connack = client.waitFor("connack");
  const socket = await Bun.connect<undefined>({
    hostname: "127.0.0.1",
    port: options.port,
    socket: {
      data: (_socket, chunk) => client.onData(chunk),
      drain: () => client.flush(),
      close: () => client.onClose("closed by peer"),
      error: (_socket, error) => client.onClose(`socket error: ${error.message}`),
      connectError: (_socket, error) => client.onClose(`connect error: ${error.message}`),
    },
  });
  socket.setNoDelay(true);
  client.attach(socket);
  client.send({
    type: PacketType.Connect,
    protocolName: "MQTT",
    protocolVersion: 4,
    cleanSession: options.cleanSession,
    keepaliveSeconds: options.keepaliveSeconds ?? 600,
    clientId: options.clientId,
    username: options.username,
    password: options.password === undefined ? undefined : new TextEncoder().encode(options.password),
  });
  const closed = new Promise<never>((_, reject) => {
    client.handlers.onClose = (reason) => reject(new Error(`${options.clientId}: connection closed before CONNACK (${reason})`));
  });
  const packet = await withTimeout(Promise.race([connack, closed]), options.timeoutMs ?? 30_000, `CONNACK for ${options.clientId}`);
  client.handlers = {};
  if (packet.type === PacketType.Connack && packet.reasonCode !== 0) {
    client.destroy();
    throw new Error(`${options.clientId}: CONNACK return code ${packet.reasonCode}`);
  }
  return client;
}

export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
