/**
 * PacketReader: the reading side of a connection. Feeds received chunks to the Decoder and hands
 * whole packets to the connection one at a time, unless something pauses reading (a CONNECT
 * being checked, too many publishes in flight, a blocked broker, too many queued operations).
 *
 * Invariants:
 * - no packet is handed out while any PauseReason is set; the transport is paused exactly while
 *   at least one is set;
 * - paused mid-chunk, the unread bytes are moved out of the caller's chunk into the decoder's
 *   carry (`feed(NO_BYTES)`), because the listener may reuse its buffer once onData returns;
 * - packets are handed out in arrival order and never re-entrantly.
 */
import { Decoder, type DecodeError, type Packet, type ProtocolVersion } from "../codec/index.ts";
import type { PauseReason } from "./context.ts";
import type { Transport } from "./transport.ts";

const NO_BYTES = new Uint8Array(0);

/** What the reader tells its connection. */
export interface PacketSink {
  /** Whether packets may be handled at all now (false while connecting or closing). */
  acceptsPackets(): boolean;
  /** `sizeBytes`: the whole packet as it arrived, fixed header included. */
  onPacket(packet: Packet, sizeBytes: number): void;
  /** The byte stream is broken; nothing more will be handed out. */
  onDecodeError(error: DecodeError): void;
  /** A handler threw (a bug): the connection closes itself. */
  onUnexpected(error: unknown): void;
}

export class PacketReader {
  private readonly decoder: Decoder;
  /** Bit set of PauseReason. */
  private pauseReasons = 0;
  private draining = false;

  constructor(
    private readonly transport: Transport,
    private readonly sink: PacketSink,
    limits: { maxPacketSizeBytes: number; maxPacketSizeBeforeConnectBytes: number },
  ) {
    // Wildcards anywhere in a filter (`a/#/b`): the compatibility contract keeps the native
    // plugin's AMQP semantics in MQTT syntax, so `#` need not be the last level (we deliberately
    // accept what MQTT-4.7.1-2 forbids, as the plugin does).
    this.decoder = new Decoder({ ...limits, multiLevelWildcardAnywhere: true });
  }

  /** Set once CONNECT is accepted: later packets decode for it, under the larger size limit. */
  set protocolVersion(version: ProtocolVersion) {
    this.decoder.protocolVersion = version;
  }

  /** Whether any reason to stop reading is set. */
  get paused(): boolean {
    return this.pauseReasons !== 0;
  }

  feed(chunk: Uint8Array): void {
    this.decoder.feed(chunk);
    this.drain();
  }

  /** Sets or clears one reason to stop reading; clearing the last one hands out what is buffered. */
  setPaused(reason: PauseReason, paused: boolean): void {
    const before = this.pauseReasons;
    const after = paused ? before | reason : before & ~reason;
    if (after === before) return;
    this.pauseReasons = after;
    if (before === 0) {
      this.transport.pauseReading();
    } else if (after === 0) {
      this.drain(); // packets that arrived before the pause took effect
      if (this.pauseReasons === 0) this.transport.resumeReading();
    }
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    const { decoder, sink } = this;
    try {
      while (this.pauseReasons === 0 && sink.acceptsPackets()) {
        const result = decoder.next();
        if (result.kind === "more") break;
        if (result.kind === "error") {
          sink.onDecodeError(result.error);
          break;
        }
        sink.onPacket(result.packet, result.size);
      }
      if (this.pauseReasons !== 0 && decoder.bufferedBytes > 0) decoder.feed(NO_BYTES);
    } catch (error) {
      sink.onUnexpected(error);
    } finally {
      this.draining = false;
    }
  }
}
