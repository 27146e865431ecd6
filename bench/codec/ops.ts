/**
 * The codec benchmark's workloads: the packets measured (the same packet in both libraries'
 * shapes) and, for each, the six operations timed against each other.
 *
 * Decoding runs each library's streaming parser over one buffer holding many copies of the
 * packet, handed over in 64 KiB reads as a socket would (our Decoder.feed/next; mqtt-packet's
 * parser.parse with its 'packet' event). Encoding runs each library's public APIs on a packet
 * object built once: our Encoder.encode (a reused buffer; by default it keeps at most 64 KiB,
 * and again with maxKeptBytes 1 MiB), encodePacket (a fresh exact-size buffer) and, for PUBLISH, Encoder.encodePublishHeaders (the bytes before the payload; the
 * payload goes out as it is); mqtt-packet's generate (a fresh Buffer) and writeToStream (chunks,
 * the payload among them as it is, handed to a stream, here one that only counts them). Each
 * operation touches what it produces (payload length, bytes written) so nothing is optimised away.
 */
import * as mqtt from "mqtt-packet";
import { Decoder, Encoder, PacketType, encodePacket, type Packet, type ProtocolVersion, type PublishPacket } from "../../src/codec/index.ts";
import { toMqttPacket, type Shape } from "../../src/codec/mqtt-packet-shape.ts";

export interface BenchCase {
  name: string;
  version: ProtocolVersion;
  /** The packets, used in turn (one, except where a case varies the topic). */
  packets: Packet[];
  /** The same packets as mqtt-packet's generate() takes them (Buffers, not views). */
  shapes: Shape[];
  /** Our encoding of each packet: the decode input. */
  encoded: Uint8Array[];
  /** A PUBLISH case: these carry the 3x target. */
  isPublish: boolean;
  /** Bytes handed to the parsers per call when decoding. */
  readBytes: number;
  /** A decoding variant of another case: its encode rows would repeat that case's. */
  decodeOnly: boolean;
}

export const OPS = [
  "decode-ours",
  "decode-theirs",
  "encode-ours-Encoder",
  "encode-ours-Encoder-1MiB",
  "encode-ours-encodePacket",
  "encode-ours-publishHeaders",
  "encode-theirs-generate",
  "encode-theirs-writeToStream",
] as const;
export type OpName = (typeof OPS)[number];

/** Bytes handed to a parser per call: a typical socket read (Node reads 64 KiB at a time). */
const READ_BYTES = 64 * 1024;
/** What Bun's own TCP socket hands over per read when data is waiting (measured: up to 512 KiB). */
const BUN_READ_BYTES = 512 * 1024;
/** Each timed run covers about this many bytes of packets (between 64 and 100,000 packets). */
const RUN_BYTES = 4 * 1024 * 1024;

const encoder = new TextEncoder();

function withBuffers(value: any): any {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(withBuffers);
  if (value !== null && typeof value === "object") {
    const out: Shape = Object.getPrototypeOf(value) === null ? Object.create(null) : {};
    for (const [k, v] of Object.entries(value)) out[k] = withBuffers(v);
    return out;
  }
  return value;
}

/** `bytes` of JSON-like ASCII text, as sensors and apps mostly send: no zero bytes, no UTF-8 beyond ASCII. */
function payload(bytes: number): Uint8Array {
  const record = '{"device":"device-0042","t":21.5,"h":40.2,"ts":1732540800123},';
  return encoder.encode(record.repeat(Math.ceil(bytes / record.length)).slice(0, bytes));
}

function benchCase(name: string, version: ProtocolVersion, ...packets: Packet[]): BenchCase {
  return {
    name,
    version,
    packets,
    shapes: packets.map((p) => withBuffers(toMqttPacket(p, version))),
    encoded: packets.map((p) => encodePacket(p, version)),
    isPublish: packets[0]!.type === PacketType.Publish,
    readBytes: READ_BYTES,
    decodeOnly: false,
  };
}

const TOPIC = "sensors/device-0042/temperature";

function publish(qos: 0 | 1, bytes: number, topic = TOPIC): Packet {
  const packet: Packet = { type: PacketType.Publish, topic, payload: payload(bytes), qos, retain: false, dup: false };
  if (qos === 1) packet.packetId = 4242;
  return packet;
}

/** The measured packets: MQTT 3.1.1 unless the name says otherwise. */
export function makeCases(): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const qos of [0, 1] as const) {
    for (const [label, bytes] of [["16 B", 16], ["1 KiB", 1024], ["64 KiB", 65536]] as const) {
      cases.push(benchCase(`PUBLISH QoS ${qos} ${label}`, 4, publish(qos, bytes)));
    }
  }
  const v5: Packet = {
    ...publish(1, 1024),
    properties: { contentType: "application/json", messageExpiryIntervalSeconds: 3600, userProperties: [["trace-id", "4bf92f3577b34da6"]] },
  } as Packet;
  // 64 KiB packets straddle nearly every 64 KiB read, so both parsers must copy each one whole;
  // Bun's socket reads up to 512 KiB at a time, where most arrive inside one read.
  cases.push({ ...benchCase("PUBLISH QoS 1 64 KiB, 512 KiB reads", 4, publish(1, 65536)), readBytes: BUN_READ_BYTES, decodeOnly: true });
  // The decoder remembers a connection's last topic; here every packet has another one (a
  // gateway relaying 1000 devices), so that shortcut never applies.
  const topics = Array.from({ length: 1000 }, (_, i) => publish(1, 1024, `sensors/device-${String(i).padStart(4, "0")}/temperature`));
  cases.push(benchCase("PUBLISH QoS 1 1 KiB, 1000 topics in turn", 4, ...topics));
  cases.push(benchCase("PUBLISH QoS 1 1 KiB, MQTT 5, 3 properties", 5, v5));
  cases.push(
    benchCase("SUBSCRIBE 2 filters", 4, {
      type: PacketType.Subscribe,
      packetId: 7,
      subscriptions: [
        { topicFilter: "sensors/+/temperature", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: "alerts/#", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    }),
  );
  cases.push(
    benchCase("CONNECT", 4, {
      type: PacketType.Connect,
      protocolName: "MQTT",
      protocolVersion: 4,
      cleanSession: true,
      keepaliveSeconds: 60,
      clientId: "mqttjs_9f3a21c7",
      username: "device-0042",
      password: encoder.encode("s3cret-t0ken-0042"),
    }),
  );
  return cases;
}

/** Packets per timed run for `c`. */
export function packetsPerRun(c: BenchCase): number {
  return Math.max(64, Math.min(100_000, Math.floor(RUN_BYTES / c.encoded[0]!.length)));
}

/** The decode input: `count` packets (the case's packets in turn) in one buffer, as chunks (views) of c.readBytes. */
function chunksOf(c: BenchCase, count: number): Uint8Array[] {
  let length = 0;
  for (let i = 0; i < count; i++) length += c.encoded[i % c.encoded.length]!.length;
  const stream = new Uint8Array(length);
  for (let i = 0, at = 0; i < count; i++) {
    const bytes = c.encoded[i % c.encoded.length]!;
    stream.set(bytes, at);
    at += bytes.length;
  }
  const buffer = Buffer.from(stream.buffer);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < buffer.length; at += c.readBytes) chunks.push(buffer.subarray(at, at + c.readBytes));
  return chunks;
}

/** A size a decoded packet contributes to the checksum: its payload, or 1. */
const weight = (packet: { payload?: { length: number } | null }): number => (packet.payload ? packet.payload.length + 1 : 1);

export interface Op {
  /** Packets per run. */
  count: number;
  /** One timed run; returns how many packets it handled. */
  run: () => number;
  /** What the runs produced (for the sanity check that both sides did the same work). */
  checksum: () => number;
}

/** Operation `op` on case `c`, or undefined where it does not apply (publishHeaders on other packets, encoding a decode-only case). */
export function makeOp(c: BenchCase, op: OpName): Op | undefined {
  if (c.decodeOnly && op.startsWith("encode")) return undefined;
  const count = packetsPerRun(c);
  let sum = 0;
  const opts = { protocolVersion: c.version };
  const { packets, shapes } = c;
  const n = packets.length;
  switch (op) {
    case "decode-ours": {
      const chunks = chunksOf(c, count);
      const limits = { maxPacketSizeBytes: 1 << 20, maxPacketSizeBeforeConnectBytes: 1 << 20 };
      return {
        count,
        checksum: () => sum,
        run() {
          const decoder = new Decoder(limits);
          decoder.protocolVersion = c.version;
          let n = 0;
          for (const chunk of chunks) {
            decoder.feed(chunk);
            for (let r = decoder.next(); r.kind === "packet"; r = decoder.next()) {
              n++;
              sum += weight(r.packet as { payload?: Uint8Array });
            }
          }
          return n;
        },
      };
    }
    case "decode-theirs": {
      const chunks = chunksOf(c, count) as Buffer[];
      return {
        count,
        checksum: () => sum,
        run() {
          const parser = mqtt.parser(opts);
          let n = 0;
          parser.on("packet", (p) => {
            n++;
            sum += weight(p as { payload?: Buffer });
          });
          for (const chunk of chunks) parser.parse(chunk);
          return n;
        },
      };
    }
    case "encode-ours-Encoder":
    case "encode-ours-Encoder-1MiB": {
      // The default keeps at most 64 KiB between packets (one Encoder per connection); one shared
      // by the whole process, as src/protocol has it, can keep up to the largest packet.
      const enc = op === "encode-ours-Encoder" ? new Encoder() : new Encoder(256, 1 << 20);
      return {
        count,
        checksum: () => sum,
        run() {
          for (let i = 0; i < count; i++) sum += enc.encode(packets[i % n]!, c.version).length;
          return count;
        },
      };
    }
    case "encode-ours-encodePacket":
      return {
        count,
        checksum: () => sum,
        run() {
          for (let i = 0; i < count; i++) sum += encodePacket(packets[i % n]!, c.version).length;
          return count;
        },
      };
    case "encode-ours-publishHeaders": {
      // The zero-copy path, like writeToStream: the headers, then the payload as it is.
      if (!c.isPublish) return undefined;
      const enc = new Encoder();
      return {
        count,
        checksum: () => sum,
        run() {
          for (let i = 0; i < count; i++) {
            const packet = packets[i % n] as PublishPacket;
            sum += enc.encodePublishHeaders(packet, c.version).length + packet.payload.length;
          }
          return count;
        },
      };
    }
    case "encode-theirs-generate":
      return {
        count,
        checksum: () => sum,
        run() {
          for (let i = 0; i < count; i++) sum += mqtt.generate(shapes[i % n] as mqtt.Packet, opts).length;
          return count;
        },
      };
    case "encode-theirs-writeToStream": {
      // A stream that takes the chunks and counts them: a socket's write() would queue them.
      // Strings (the topic) arrive unencoded: that work is left to the socket, so this flatters them.
      const sink = {
        write(chunk: Uint8Array | string): boolean {
          sum += chunk.length;
          return true;
        },
      };
      return {
        count,
        checksum: () => sum,
        run() {
          for (let i = 0; i < count; i++) mqtt.writeToStream(shapes[i % n] as mqtt.Packet, sink as unknown as NodeJS.WritableStream, opts);
          return count;
        },
      };
    }
  }
}
