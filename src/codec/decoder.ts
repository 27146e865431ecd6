/**
 * Decoder: one per connection. Framer + decodeFrame, with the size limits and the rule that a
 * stream is dead after its first error.
 */
import type { ProtocolVersion } from "./constants.ts";
import { TopicCache } from "./decode-publish.ts";
import { MORE, decodeFrame } from "./decode.ts";
import { DecodeError } from "./errors.ts";
import { FRAME, Framer, NEED_MORE } from "./framer.ts";
import type { DecodeResult } from "./packets.ts";
import type { TopicFilterOptions } from "./topic.ts";

export interface DecoderOptions extends TopicFilterOptions {
  /** Largest whole packet (fixed header included) accepted once the protocol version is set. */
  maxPacketSizeBytes: number;
  /** Largest whole packet accepted while `protocolVersion` is undefined (before CONNECT is accepted). */
  maxPacketSizeBeforeConnectBytes: number;
}

/**
 * Decodes a connection's byte stream. Framing works in place on each chunk; only a packet that
 * straddles chunks is copied, into a carry buffer that is reused and grown. Binary fields of the
 * packets handed out are views, valid until the next feed() / next() call.
 *
 * Usage: `feed(chunk)`, then `next()` until it returns "more" or "error". After "error" the
 * stream is dead: every later next() returns the same error, and the decoder holds no bytes:
 * whatever is fed while the connection closes is dropped (bufferedBytes stays 0).
 */
export class Decoder {
  /**
   * Set by the protocol layer once it has accepted the CONNECT. While undefined only CONNECT
   * decodes, and only packets up to maxPacketSizeBeforeConnectBytes. Never set by the decoder:
   * the larger limit must not apply to a client that has not yet been authenticated.
   */
  protocolVersion: ProtocolVersion | undefined = undefined;
  private readonly framer = new Framer();
  /** The last PUBLISH Topic Name this connection sent, to reuse when it repeats. */
  private readonly topicCache = new TopicCache();
  private failure: DecodeResult | undefined = undefined;

  constructor(private readonly options: DecoderOptions) {}

  /** Adds received bytes. `chunk` must stay unchanged until next() returns "more". */
  feed(chunk: Uint8Array): void {
    // A dead stream keeps nothing: buffering for it would only grow until the socket closes.
    if (this.failure !== undefined) return;
    this.framer.feed(chunk);
  }

  /** Bytes received and not yet returned as packets (a partial packet, or packets not yet read). */
  get bufferedBytes(): number {
    return this.framer.bufferedBytes;
  }

  next(): DecodeResult {
    if (this.failure !== undefined) return this.failure;
    const version = this.protocolVersion;
    const limit = version === undefined ? this.options.maxPacketSizeBeforeConnectBytes : this.options.maxPacketSizeBytes;
    const framer = this.framer;
    const status = framer.next(version, limit);
    if (status === NEED_MORE) return MORE;
    if (status !== FRAME) return this.fail(status);
    const packet = decodeFrame(framer.frameBytes, framer.frameStart, framer.header, version, this.options, this.topicCache);
    if (packet instanceof DecodeError) return this.fail(packet);
    return { kind: "packet", packet, size: framer.frameSize };
  }

  private fail(error: DecodeError): DecodeResult {
    this.failure = { kind: "error", error };
    this.framer.release();
    return this.failure;
  }
}
