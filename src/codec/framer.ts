/**
 * Framer: a byte stream in, whole-packet views out.
 *
 * Invariants:
 * - Stream order is carry[carryStart..carryEnd) then chunk[pos..): the carry holds only bytes
 *   that arrived earlier than the unread part of the current chunk.
 * - A packet that lies wholly inside a chunk is handed out as a view of that chunk (no copy).
 *   Only a packet that straddles chunks is assembled in the carry, which is reused and grown,
 *   and never to more than the packet-size limit allows.
 * - Every fixed header is checked (type, flags, size limit) as soon as its bytes are here,
 *   before any of its body is buffered.
 * - A frame handed out stays valid until the next feed() or next(): the next call may refill
 *   the carry or the caller may reuse the chunk.
 */
import type { ProtocolVersion } from "./constants.ts";
import type { DecodeError } from "./errors.ts";
import { FixedHeader, HEADER_INCOMPLETE, HEADER_TOO_LONG, checkFirstByte, packetTooLarge, parseFixedHeader, remainingLengthTooLong } from "./fixed-header.ts";
import { checkBeforeConnect } from "./sniff.ts";

/** next() results other than a DecodeError. */
export const FRAME = 0;
export const NEED_MORE = 1;

/**
 * A carry grown past this for large packets is dropped at the next idle point (every byte handed
 * out, nothing partial carried), so an idle connection does not keep a large buffer (memory per
 * connection matters: DESIGN.md). While large packets keep straddling chunks it is reused, not
 * reallocated for each one.
 */
const CARRY_KEEP_BYTES = 64 * 1024;
const EMPTY = new Uint8Array(0);

export class Framer {
  private chunk: Uint8Array = EMPTY;
  /** Next unread byte of `chunk`. */
  private pos = 0;
  private carry: Uint8Array = EMPTY;
  private carryStart = 0;
  private carryEnd = 0;
  /** Frames handed out so far: before the first, known operator mistakes are recognised. */
  private frames = 0;

  /** Fixed header of the frame last handed out (and scratch while parsing). */
  readonly header = new FixedHeader();
  /** The frame last handed out is frameBytes[frameStart .. frameStart + frameSize). */
  frameBytes: Uint8Array = EMPTY;
  frameStart = 0;
  frameSize = 0;

  /** Adds bytes. The caller may reuse `chunk` once next() has returned NEED_MORE. */
  feed(chunk: Uint8Array): void {
    if (this.pos < this.chunk.length) {
      // The caller fed again before draining: keep the unread bytes in order (rare path).
      this.appendToCarry(this.chunk.subarray(this.pos));
    }
    this.chunk = chunk;
    this.pos = 0;
  }

  /** Forgets every byte it holds (the carry too): the stream is over. */
  release(): void {
    this.chunk = EMPTY;
    this.pos = 0;
    this.carry = EMPTY;
    this.carryStart = this.carryEnd = 0;
  }

  /** Size of the carry buffer itself (its capacity, not what it holds): memory this stream keeps. */
  get carryCapacityBytes(): number {
    return this.carry.length;
  }

  /** Bytes received but not yet handed out as frames. */
  get bufferedBytes(): number {
    return this.carryEnd - this.carryStart + this.chunk.length - this.pos;
  }

  /**
   * Finds the next whole packet. FRAME: it is in frameBytes/frameStart/frameSize and `header`.
   * NEED_MORE: every byte is consumed or carried. A DecodeError: the stream cannot continue.
   * `limitBytes` caps the whole packet, fixed header included.
   */
  next(version: ProtocolVersion | undefined, limitBytes: number): typeof FRAME | typeof NEED_MORE | DecodeError {
    if (this.carryEnd > this.carryStart) return this.nextFromCarry(version, limitBytes);
    const chunk = this.chunk;
    const start = this.pos;
    if (start >= chunk.length) {
      // Idle point: nothing is carried. Give back a carry that a large packet grew.
      if (this.carry.length > CARRY_KEEP_BYTES) this.carry = EMPTY;
      return NEED_MORE;
    }
    const status = this.checkHeader(chunk, start, chunk.length, version, limitBytes);
    if (status !== FRAME) {
      if (status === NEED_MORE) {
        this.appendToCarry(chunk.subarray(start));
        this.pos = chunk.length;
      }
      return status;
    }
    const size = this.header.headerLength + this.header.remainingLength;
    if (chunk.length - start >= size) {
      this.pos = start + size;
      return this.handOut(chunk, start, size);
    }
    // The packet straddles chunks: size the carry once for the whole packet, then keep the tail.
    this.ensureCarry(size);
    this.appendToCarry(chunk.subarray(start));
    this.pos = chunk.length;
    return NEED_MORE;
  }

  private nextFromCarry(version: ProtocolVersion | undefined, limitBytes: number): typeof FRAME | typeof NEED_MORE | DecodeError {
    if (version === undefined && this.frames === 0) {
      // The connection's first bytes straddle chunks: sniff them together so a known mistake is
      // explained with all the bytes at hand (rare path, so the small copy does not matter).
      const preview = new Uint8Array(this.carryEnd - this.carryStart + Math.min(this.chunk.length - this.pos, 128));
      preview.set(this.carry.subarray(this.carryStart, this.carryEnd));
      preview.set(this.chunk.subarray(this.pos, this.pos + preview.length - (this.carryEnd - this.carryStart)), this.carryEnd - this.carryStart);
      const before = checkBeforeConnect(preview, true);
      if (before !== undefined && before !== "more") return before;
    }
    // Complete the header one byte at a time: it is at most 5 bytes (12 while sniffing).
    for (;;) {
      const status = this.checkHeader(this.carry, this.carryStart, this.carryEnd, version, limitBytes);
      if (status === FRAME) break;
      if (status !== NEED_MORE) return status;
      if (this.pos >= this.chunk.length) return NEED_MORE;
      this.appendToCarry(this.chunk.subarray(this.pos, this.pos + 1));
      this.pos++;
    }
    const size = this.header.headerLength + this.header.remainingLength;
    const missing = size - (this.carryEnd - this.carryStart);
    if (missing > 0) {
      const take = Math.min(missing, this.chunk.length - this.pos);
      this.appendToCarry(this.chunk.subarray(this.pos, this.pos + take));
      this.pos += take;
      if (take < missing) return NEED_MORE;
    }
    const carry = this.carry;
    const start = this.carryStart;
    this.carryStart += size;
    if (this.carryStart === this.carryEnd) this.carryStart = this.carryEnd = 0;
    return this.handOut(carry, start, size);
  }

  private handOut(bytes: Uint8Array, start: number, size: number): typeof FRAME {
    this.frameBytes = bytes;
    this.frameStart = start;
    this.frameSize = size;
    this.frames++;
    return FRAME;
  }

  /** Validates what is here of the fixed header at bytes[start..end): FRAME when it is whole and fine. */
  private checkHeader(
    bytes: Uint8Array,
    start: number,
    end: number,
    version: ProtocolVersion | undefined,
    limitBytes: number,
  ): typeof FRAME | typeof NEED_MORE | DecodeError {
    if (version === undefined) {
      const before = checkBeforeConnect(bytes.subarray(start, end), this.frames === 0);
      if (before === "more") return NEED_MORE;
      if (before !== undefined) return before;
    }
    const flagsError = checkFirstByte(bytes[start]!, version);
    if (flagsError !== undefined) return flagsError;
    const status = parseFixedHeader(bytes, start, end, this.header);
    if (status === HEADER_INCOMPLETE) return NEED_MORE;
    if (status === HEADER_TOO_LONG) return remainingLengthTooLong();
    if (this.header.headerLength + this.header.remainingLength > limitBytes) {
      return packetTooLarge(this.header, limitBytes, version === undefined);
    }
    return FRAME;
  }

  /** Makes room for `bytes` more bytes after carryEnd, compacting or growing the carry. */
  private ensureCarry(bytes: number): void {
    const used = this.carryEnd - this.carryStart;
    if (this.carryEnd + bytes <= this.carry.length) return;
    if (used + bytes <= this.carry.length) {
      this.carry.copyWithin(0, this.carryStart, this.carryEnd);
    } else {
      const grown = new Uint8Array(Math.max(used + bytes, Math.min(this.carry.length * 2, CARRY_KEEP_BYTES), 64));
      grown.set(this.carry.subarray(this.carryStart, this.carryEnd));
      this.carry = grown;
    }
    this.carryStart = 0;
    this.carryEnd = used;
  }

  private appendToCarry(bytes: Uint8Array): void {
    this.ensureCarry(bytes.length);
    this.carry.set(bytes, this.carryEnd);
    this.carryEnd += bytes.length;
  }
}
