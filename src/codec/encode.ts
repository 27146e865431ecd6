/**
 * Encoding packets: every length is computed first (measure), then the fixed header and fields
 * are written in one pass into a buffer of exactly the right size (write). `encodePacket`
 * allocates that buffer; an `Encoder` reuses one per connection.
 *
 * Bad arguments are our own bugs, not network input, so they throw RangeError: a PUBLISH at
 * QoS 1 without a packet id, a string over 65,535 bytes, a property not allowed in the packet.
 */
import { MAX_VARIABLE_BYTE_INTEGER, PACKET_TYPE_NAMES, PacketType, type PropertyContext, type ProtocolVersion } from "./constants.ts";
import { measureConnect, writeConnect } from "./encode-connect.ts";
import { topicLength, writeTopic } from "./encode-topic.ts";
import type { Packet, Properties, PublishPacket } from "./packets.ts";
import { propertiesLength, writeProperties } from "./properties.ts";
import { Writer, stringLength, varintLength } from "./writer.ts";

/**
 * Lengths found by measure() for write() to reuse. One module-level instance: encoding is
 * synchronous and never re-entered, so it is never shared by two packets at once.
 */
export class Plan {
  /** Property Length of the packet's properties. */
  propertiesLength = 0;
  /** Property Length of the CONNECT will's properties. */
  willPropertiesLength = 0;
  /** Size of the whole packet, fixed header included (set by sizeOf). */
  totalBytes = 0;
}
const plan = new Plan();

/** Preallocated constant packets. Shared: callers must not modify them. */
const PINGREQ_BYTES = Uint8Array.of(0xc0, 0x00);
const PINGRESP_BYTES = Uint8Array.of(0xd0, 0x00);
const DISCONNECT_BYTES = Uint8Array.of(0xe0, 0x00);

/** The fixed bytes of `packet` when it has no variable part (PINGREQ, PINGRESP, plain DISCONNECT / AUTH). */
function constantBytes(packet: Packet, version: ProtocolVersion): Uint8Array | undefined {
  switch (packet.type) {
    case PacketType.Pingreq:
      return PINGREQ_BYTES;
    case PacketType.Pingresp:
      return PINGRESP_BYTES;
    case PacketType.Disconnect:
      if (version !== 5 || ((packet.reasonCode ?? 0) === 0 && isEmpty(packet.properties))) return DISCONNECT_BYTES;
      return undefined;
    default:
      return undefined;
  }
}

function isEmpty(props: Properties | undefined): boolean {
  if (props === undefined) return true;
  for (const key in props) if ((props as Record<string, unknown>)[key] !== undefined) return false;
  return true;
}

function checkPacketId(id: number | undefined, what: string): number {
  if (id === undefined || !Number.isInteger(id) || id < 1 || id > 0xffff) {
    throw new RangeError(`${what} Packet Identifier must be 1..65535, got ${id}`);
  }
  return id;
}

/** Properties length for `context` in MQTT 5 (recorded in plan), and the bytes it takes with its varint. */
function measureProperties(props: Properties | undefined, context: PropertyContext, version: ProtocolVersion): number {
  if (version !== 5) return 0;
  const length = propertiesLength(props, context);
  plan.propertiesLength = length;
  return varintLength(length) + length;
}

/** Bytes of a PUBLISH's Variable Header (Topic Name, Packet Identifier, properties); fills `plan`. */
function measurePublishVariableHeader(packet: PublishPacket, version: ProtocolVersion): number {
  const length = packet.qos > 0 ? 4 + topicLength(packet.topic) : 2 + topicLength(packet.topic);
  return version === 5 ? length + measureProperties(packet.properties, PacketType.Publish, version) : length;
}

/** Remaining Length of `packet` for `version`; fills `plan`. */
function measure(packet: Packet, version: ProtocolVersion): number {
  plan.propertiesLength = 0;
  plan.willPropertiesLength = 0;
  switch (packet.type) {
    case PacketType.Connect:
      return measureConnect(packet, version, plan);
    case PacketType.Connack:
      return 2 + measureProperties(packet.properties, PacketType.Connack, version);
    case PacketType.Publish:
      return measurePublishVariableHeader(packet, version) + packet.payload.length;
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp: {
      if (version !== 5) return 2;
      const props = measureProperties(packet.properties, packet.type, version);
      if (plan.propertiesLength > 0) return 3 + props;
      return (packet.reasonCode ?? 0) === 0 ? 2 : 3;
    }
    case PacketType.Subscribe: {
      if (packet.subscriptions.length === 0) throw new RangeError("SUBSCRIBE needs at least one subscription");
      let length = 2 + measureProperties(packet.properties, PacketType.Subscribe, version);
      for (const s of packet.subscriptions) length += 3 + stringLength(s.topicFilter, "SUBSCRIBE topic filter");
      return length;
    }
    case PacketType.Suback:
      return 2 + measureProperties(packet.properties, PacketType.Suback, version) + packet.reasonCodes.length;
    case PacketType.Unsubscribe: {
      if (packet.topicFilters.length === 0) throw new RangeError("UNSUBSCRIBE needs at least one topic filter");
      let length = 2 + measureProperties(packet.properties, PacketType.Unsubscribe, version);
      for (const f of packet.topicFilters) length += 2 + stringLength(f, "UNSUBSCRIBE topic filter");
      return length;
    }
    case PacketType.Unsuback:
      if (version !== 5) return 2;
      if (packet.reasonCodes === undefined || packet.reasonCodes.length === 0) {
        throw new RangeError("an MQTT 5 UNSUBACK needs one reason code per topic filter");
      }
      return 2 + measureProperties(packet.properties, PacketType.Unsuback, version) + packet.reasonCodes.length;
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return 0;
    case PacketType.Disconnect: {
      if (version !== 5) return 0;
      const props = measureProperties(packet.properties, PacketType.Disconnect, version);
      if (plan.propertiesLength > 0) return 1 + props;
      return (packet.reasonCode ?? 0) === 0 ? 0 : 1;
    }
    case PacketType.Auth: {
      if (version !== 5) throw new RangeError(`AUTH exists only in MQTT 5, not in protocol level ${version}`);
      const props = measureProperties(packet.properties, PacketType.Auth, version);
      if (plan.propertiesLength > 0) return 1 + props;
      return packet.reasonCode === 0 ? 0 : 1;
    }
  }
}

function publishFirstByte(packet: PublishPacket): number {
  const qos = packet.qos;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`PUBLISH QoS must be 0, 1 or 2, got ${qos}`);
  return 0x30 | (packet.dup ? 8 : 0) | (qos << 1) | (packet.retain ? 1 : 0);
}

/** First byte of the fixed header: type and flags. */
function firstByte(packet: Packet): number {
  switch (packet.type) {
    case PacketType.Publish:
      return publishFirstByte(packet);
    case PacketType.Pubrel:
    case PacketType.Subscribe:
    case PacketType.Unsubscribe:
      return (packet.type << 4) | 0b0010;
    default:
      return packet.type << 4;
  }
}

/** PUBLISH's Variable Header: Topic Name, Packet Identifier (QoS > 0), MQTT 5 properties as measured. */
function writePublishVariableHeader(w: Writer, packet: PublishPacket, version: ProtocolVersion): void {
  writeTopic(w, packet.topic);
  if (packet.qos > 0) w.u16(checkPacketId(packet.packetId, "PUBLISH"));
  if (version === 5) writeProperties(w, packet.properties, plan.propertiesLength);
}

/** Writes the body (everything after the fixed header) as measured. */
function writeBody(w: Writer, packet: Packet, version: ProtocolVersion, remainingLength: number): void {
  switch (packet.type) {
    case PacketType.Connect:
      writeConnect(w, packet, version, plan);
      return;
    case PacketType.Connack:
      // 3.1 has no Session Present flag: the byte is reserved there.
      w.u8(version !== 3 && packet.sessionPresent ? 1 : 0);
      w.u8(packet.reasonCode);
      if (version === 5) writeProperties(w, packet.properties, plan.propertiesLength);
      return;
    case PacketType.Publish:
      writePublishVariableHeader(w, packet, version);
      w.raw(packet.payload);
      return;
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      w.u16(checkPacketId(packet.packetId, PACKET_TYPE_NAMES[packet.type]!));
      if (remainingLength > 2) w.u8(packet.reasonCode ?? 0);
      if (remainingLength > 3) writeProperties(w, packet.properties, plan.propertiesLength);
      return;
    case PacketType.Subscribe:
      w.u16(checkPacketId(packet.packetId, "SUBSCRIBE"));
      if (version === 5) writeProperties(w, packet.properties, plan.propertiesLength);
      for (const s of packet.subscriptions) {
        w.utf8(s.topicFilter);
        let options = s.qos;
        if (version === 5) {
          options |= (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | (s.retainHandling << 4);
        }
        w.u8(options);
      }
      return;
    case PacketType.Suback:
      w.u16(checkPacketId(packet.packetId, "SUBACK"));
      if (version === 5) writeProperties(w, packet.properties, plan.propertiesLength);
      for (const code of packet.reasonCodes) w.u8(code);
      return;
    case PacketType.Unsubscribe:
      w.u16(checkPacketId(packet.packetId, "UNSUBSCRIBE"));
      if (version === 5) writeProperties(w, packet.properties, plan.propertiesLength);
      for (const f of packet.topicFilters) w.utf8(f);
      return;
    case PacketType.Unsuback:
      w.u16(checkPacketId(packet.packetId, "UNSUBACK"));
      if (version === 5) {
        writeProperties(w, packet.properties, plan.propertiesLength);
        for (const code of packet.reasonCodes!) w.u8(code);
      }
      return;
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return;
    case PacketType.Disconnect:
    case PacketType.Auth:
      if (remainingLength > 0) w.u8(packet.reasonCode ?? 0);
      if (remainingLength > 1) writeProperties(w, packet.properties, plan.propertiesLength);
      return;
  }
}

/**
 * Measures `packet` (filling `plan`) and returns its Remaining Length; its total size goes to
 * plan.totalBytes (a field, not a returned object: no allocation per packet).
 */
function sizeOf(packet: Packet, version: ProtocolVersion): number {
  const remainingLength = measure(packet, version);
  if (remainingLength > MAX_VARIABLE_BYTE_INTEGER) {
    throw new RangeError(`${PACKET_TYPE_NAMES[packet.type]} would be ${remainingLength} bytes; the MQTT maximum is ${MAX_VARIABLE_BYTE_INTEGER}`);
  }
  plan.totalBytes = 1 + varintLength(remainingLength) + remainingLength;
  return remainingLength;
}

function writePacket(w: Writer, packet: Packet, version: ProtocolVersion, remainingLength: number): void {
  w.u8(firstByte(packet));
  w.varint(remainingLength);
  writeBody(w, packet, version, remainingLength);
}

/**
 * Encodes `packet` for a connection speaking `protocolVersion` into a new buffer of exactly its
 * size (PINGREQ, PINGRESP and a plain DISCONNECT return shared constants: do not modify them).
 * Throws RangeError for a packet that cannot be encoded (a caller bug).
 */
export function encodePacket(packet: Packet, protocolVersion: ProtocolVersion): Uint8Array {
  const constant = constantBytes(packet, protocolVersion);
  if (constant !== undefined) return constant;
  const remainingLength = sizeOf(packet, protocolVersion);
  const total = plan.totalBytes;
  const w = new Writer(new Uint8Array(total));
  writePacket(w, packet, protocolVersion, remainingLength);
  return w.bytes;
}

/**
 * By default an Encoder does not keep a buffer grown past this, so one large packet does not pin
 * memory on a connection that then goes quiet.
 */
const ENCODER_KEEP_BYTES = 64 * 1024;
/** Views an Encoder keeps, one per slot of (length mod this): a power of two. */
const VIEW_SLOTS = 32;

/**
 * One per connection (or one per process: encoding is synchronous): encodes into a buffer it
 * reuses and grows. The result is a view valid only until the next encode(): write it to the
 * socket (or copy it) before encoding again.
 *
 * `maxKeptBytes` caps the buffer it keeps between packets (default 64 KiB); a larger packet gets
 * a buffer of its own each time. One Encoder shared by a whole process can afford to keep up to
 * the largest packet it sends (the maximum packet size), which saves allocating for every large
 * one; for a large PUBLISH, encodePublishHeaders avoids the big buffer altogether.
 */
export class Encoder {
  private buffer: Uint8Array;
  private readonly writer: Writer;
  /**
   * Views of `buffer` from 0, by length (slot = length mod VIEW_SLOTS): JavaScriptCore spends more
   * on creating a typed-array view than on encoding a PUBACK, and a connection sends the same
   * few sizes over and over, so the view for a length is made once and handed out again.
   * Emptied whenever `buffer` is replaced.
   */
  private readonly views: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(VIEW_SLOTS).fill(undefined);

  constructor(
    initialBytes = 256,
    /** Largest buffer kept between packets. */
    private readonly maxKeptBytes = ENCODER_KEEP_BYTES,
  ) {
    this.buffer = new Uint8Array(initialBytes);
    this.writer = new Writer(this.buffer);
  }

  encode(packet: Packet, protocolVersion: ProtocolVersion): Uint8Array {
    const constant = constantBytes(packet, protocolVersion);
    if (constant !== undefined) return constant;
    const remainingLength = sizeOf(packet, protocolVersion);
    const total = plan.totalBytes;
    const w = this.writerFor(total);
    writePacket(w, packet, protocolVersion, remainingLength);
    return this.viewOf(w.bytes, total);
  }

  /**
   * A PUBLISH without its payload: the Fixed Header and the Variable Header (Topic Name, Packet
   * Identifier, properties) as a view valid until the next encode. Send it, then `packet.payload`
   * itself right after it (the Remaining Length counts the payload). Saves copying the payload:
   * for a large one that copy is most of the cost of encoding (and a 64 KiB PUBLISH no longer
   * needs a 64 KiB buffer here).
   */
  encodePublishHeaders(packet: PublishPacket, protocolVersion: ProtocolVersion): Uint8Array {
    // measure() and firstByte() without their switch on the packet type: this is the hot path
    // for deliveries.
    plan.propertiesLength = 0;
    const variableHeader = measurePublishVariableHeader(packet, protocolVersion);
    const remainingLength = variableHeader + packet.payload.length;
    if (remainingLength > MAX_VARIABLE_BYTE_INTEGER) {
      throw new RangeError(`PUBLISH would be ${remainingLength} bytes; the MQTT maximum is ${MAX_VARIABLE_BYTE_INTEGER}`);
    }
    const headerBytes = 1 + varintLength(remainingLength) + variableHeader;
    const w = this.writerFor(headerBytes);
    w.u8(publishFirstByte(packet));
    w.varint(remainingLength);
    writePublishVariableHeader(w, packet, protocolVersion);
    if (w.pos !== headerBytes) throw new Error(`bug: PUBLISH headers measured ${headerBytes} bytes but wrote ${w.pos}`);
    return this.viewOf(w.bytes, headerBytes);
  }

  /** bytes[0, length) as a view: the kept one for that length when `bytes` is the kept buffer. */
  private viewOf(bytes: Uint8Array, length: number): Uint8Array {
    if (bytes !== this.buffer) return bytes.subarray(0, length);
    const slot = length & (VIEW_SLOTS - 1);
    const kept = this.views[slot];
    if (kept !== undefined && kept.length === length) return kept;
    const view = bytes.subarray(0, length);
    this.views[slot] = view;
    return view;
  }

  /** The writer, at 0, over a buffer of at least `bytes`: the kept one, or a larger one for this packet. */
  private writerFor(bytes: number): Writer {
    let buffer = this.buffer;
    if (bytes > buffer.length) {
      buffer = new Uint8Array(Math.max(bytes, buffer.length * 2));
      if (buffer.length <= this.maxKeptBytes) {
        this.buffer = buffer;
        this.views.fill(undefined);
      }
    }
    const w = this.writer;
    w.bytes = buffer;
    w.pos = 0;
    return w;
  }
}

