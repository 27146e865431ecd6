/**
 * Test helpers for protocol tests (imported by *.test.ts only): an in-memory Transport and a tiny
 * MQTT client built on our own codec, driving a real Connection against the memory backend.
 */
import type { Backend } from "../backend/backend.ts";
import { MemoryBackend } from "../backend/memory/index.ts";
import { Decoder, PacketType, encodePacket, type ConnectPacket, type Packet, type ProtocolVersion, type QoS } from "../codec/index.ts";
import { createMemoryLogger, type Logger } from "../log.ts";
import { createMemoryRetainedStore, MemoryPayloadStorage, type IndexedRetainedStore, type RetainedLimits } from "../retained/index.ts";
import { MemorySessionStore, type SessionStore } from "../session/index.ts";
import { Connection } from "./connection.ts";
import type { ProtocolMetrics } from "./metrics.ts";
import type { ConnectionOptions } from "./options.ts";
import { ClientRegistry } from "./registry.ts";
import type { Transport } from "./transport.ts";

/** A Transport that records what the connection wrote and calls onClose() like a listener would. */
export class MemoryTransport implements Transport {
  readonly remoteAddress: string;
  readonly localPort = 1883;
  /** Copies of every write, in order (the connection's bytes may be views into a reused buffer). */
  private written: Uint8Array[] = [];
  closed = false;
  readingPaused = false;
  /** What write() answers: false simulates a client that does not read (over high water). */
  belowHighWater = true;
  /** What bufferedBytes says: bytes a client that does not read would have waiting. */
  bufferedBytes = 0;
  /** Set by the test harness: who to tell that the transport closed. */
  connection: Connection | undefined;

  constructor(remoteAddress = "127.0.0.1:50000") {
    this.remoteAddress = remoteAddress;
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.written.push(bytes.slice());
    return this.belowHighWater;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Bun may report a socket's close from inside end(): the harsher case, so tests use it.
    this.connection?.onClose();
  }

  pauseReading(): void {
    this.readingPaused = true;
  }

  resumeReading(): void {
    this.readingPaused = false;
  }

  /** Everything written since the last call, as one byte string. */
  takeBytes(): Uint8Array {
    const total = this.written.reduce((n, b) => n + b.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const b of this.written) {
      out.set(b, at);
      at += b.length;
    }
    this.written = [];
    return out;
  }
}

export const TEST_OPTIONS: ConnectionOptions = {
  allowAnonymous: true,
  defaultUser: "guest",
  defaultPass: "guest",
  vhost: "/",
  loginTimeoutMs: 10_000,
  maxPacketSizeBytes: 1024 * 1024,
  maxPacketSizeBeforeConnectBytes: 4096,
  maxInflightPublishesPerClient: 64,
};

/** Shared by the clients of one test: one process's view of the world. */
export class TestWorld {
  readonly backend: MemoryBackend;
  readonly registry = new ClientRegistry();
  readonly sessionStore: SessionStore = new MemorySessionStore();
  readonly log: Logger & { lines: string[] };
  /** Retained payloads; a new store over the same storage is what an adapter restart sees. */
  readonly retainedStorage = new MemoryPayloadStorage();
  retainedStore: IndexedRetainedStore;
  nowMs = 1_000_000;
  /** Given to every connection made after it is set (metrics tests); none by default. */
  metrics: ProtocolMetrics | undefined;
  private nextId = 1;

  constructor(
    readonly options: ConnectionOptions = TEST_OPTIONS,
    backend?: MemoryBackend,
    retainedLimits: RetainedLimits = { maxCount: 1000, maxBytes: 1 << 20 },
  ) {
    this.backend = backend ?? new MemoryBackend();
    this.log = createMemoryLogger("debug");
    this.retainedStore = createMemoryRetainedStore(retainedLimits, this.log, this.retainedStorage);
  }

  get broker() {
    return this.backend.broker;
  }

  /** A new socket to the adapter (nothing sent yet). */
  client(version: ProtocolVersion = 4, backend: Backend = this.backend, remoteAddress = `127.0.0.1:${50000 + this.nextId}`): TestClient {
    const transport = new MemoryTransport(remoteAddress);
    const connection = new Connection(transport, {
      backend,
      registry: this.registry,
      sessionStore: this.sessionStore,
      retainedStore: this.retainedStore,
      options: this.options,
      log: this.log,
      connectionId: String(this.nextId++),
      now: () => this.nowMs,
      ...(this.metrics === undefined ? {} : { metrics: this.metrics }),
    });
    transport.connection = connection;
    return new TestClient(connection, transport, version);
  }

  /** A client that has sent CONNECT and received CONNACK 0. */
  async connected(connect: Partial<ConnectPacket> = {}, version: ProtocolVersion = 4): Promise<TestClient> {
    const client = this.client(version);
    client.connect(connect);
    const connack = await client.nextPacket();
    if (connack.type !== PacketType.Connack || connack.reasonCode !== 0) {
      throw new Error(`expected CONNACK 0, got ${JSON.stringify(connack)}; log:\n${this.log.lines.join("\n")}`);
    }
    return client;
  }

  /** Log lines containing `fragment`. */
  logLines(fragment: string): string[] {
    return this.log.lines.filter((line) => line.includes(fragment));
  }
}

/** Lets pending promise callbacks and the memory broker's microtasks / zero timers run. */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

/** The client side: encodes packets into the connection, decodes what the connection wrote. */
export class TestClient {
  private readonly decoder: Decoder;
  private readonly pending: Packet[] = [];

  constructor(
    readonly connection: Connection,
    readonly transport: MemoryTransport,
    readonly version: ProtocolVersion,
  ) {
    this.decoder = new Decoder({ maxPacketSizeBytes: 1 << 28, maxPacketSizeBeforeConnectBytes: 1 << 28 });
    this.decoder.protocolVersion = version;
  }

  /** Sends raw bytes (hex string or bytes) as one chunk. */
  sendBytes(bytes: Uint8Array | string): void {
    this.connection.onData(typeof bytes === "string" ? Uint8Array.from(Buffer.from(bytes, "hex")) : bytes);
  }

  send(packet: Packet): void {
    this.sendBytes(encodePacket(packet, this.version));
  }

  connect(fields: Partial<ConnectPacket> = {}): void {
    this.send({
      type: PacketType.Connect,
      protocolName: this.version === 3 ? "MQIsdp" : "MQTT",
      protocolVersion: this.version,
      cleanSession: true,
      keepaliveSeconds: 60,
      clientId: "test-client",
      ...fields,
    });
  }

  publish(topic: string, payload: string, qos: QoS = 0, packetId?: number, extra: { dup?: boolean; retain?: boolean } = {}): void {
    this.send({
      type: PacketType.Publish,
      topic,
      payload: new TextEncoder().encode(payload),
      qos,
      retain: extra.retain ?? false,
      dup: extra.dup ?? false,
      ...(qos > 0 ? { packetId: packetId ?? 1 } : {}),
    });
  }

  subscribe(packetId: number, ...filters: Array<[string, QoS]>): void {
    this.send({
      type: PacketType.Subscribe,
      packetId,
      subscriptions: filters.map(([topicFilter, qos]) => ({ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 })),
    });
  }

  /** Raw bytes the connection wrote since the last take (nothing is decoded). */
  takeBytes(): Uint8Array {
    return this.transport.takeBytes();
  }

  /** Decodes everything written so far into packets (payloads copied). */
  packets(): Packet[] {
    this.decoder.feed(this.transport.takeBytes());
    for (;;) {
      const result = this.decoder.next();
      if (result.kind === "more") break;
      if (result.kind === "error") throw new Error(`the server wrote bytes our decoder refuses: ${result.error.message}`);
      const packet = result.packet;
      this.pending.push(packet.type === PacketType.Publish ? { ...packet, payload: packet.payload.slice() } : packet);
    }
    return this.pending.splice(0);
  }

  /** Waits (a few event-loop turns) for the next packet from the server. */
  async nextPacket(): Promise<Packet> {
    for (let i = 0; i < 50; i++) {
      const packets = this.packets();
      if (packets.length > 0) {
        this.pending.unshift(...packets.slice(1));
        return packets[0]!;
      }
      await settle(1);
    }
    throw new Error("no packet from the server");
  }

  /** Waits until the connection has fully closed (transport closed and close sequence done). */
  async closed(): Promise<void> {
    for (let i = 0; i < 50 && !this.transport.closed; i++) await settle(1);
    if (!this.transport.closed) throw new Error("the connection did not close");
    await settle(2);
  }
}

export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
