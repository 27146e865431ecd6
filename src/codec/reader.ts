/**
 * Reader: a bounds-checked cursor over one packet's bytes.
 *
 * Errors are values: a read that fails records a DecodeError in `error` and returns a sentinel
 * (-1 for numbers, undefined for strings and bytes). Callers check the sentinel and return
 * `reader.error`. Binary reads return `subarray` views, never copies.
 */
import { ReasonCode, type PacketType } from "./constants.ts";
import { DecodeError } from "./errors.ts";

/**
 * One TextDecoder for the whole process: `fatal` makes ill-formed UTF-8 (including encoded
 * surrogates U+D800..U+DFFF, [MQTT-1.5.4-1]) an exception we turn into a Malformed Packet.
 * `ignoreBOM` keeps a leading U+FEFF in the string: [MQTT-1.5.4-3] says it must not be stripped.
 */
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Below this many bytes an all-ASCII string is built by hand: cheaper than a TextDecoder call. */
const SHORT_ASCII_MAX_BYTES = 16;

export class Reader {
  /** Cursor: index into `bytes` of the next byte to read. */
  pos: number;
  /** First failure; set once, then every caller returns it. */
  error: DecodeError | undefined = undefined;

  constructor(
    public bytes: Uint8Array,
    start: number,
    /** One past the last byte this reader may read (the end of the packet). */
    public end: number,
    /** Packet being read, for error messages. */
    public packetType?: PacketType,
  ) {
    this.pos = start;
  }

  /** Points this reader at another packet, forgetting any error: one reader serves every packet. */
  reset(bytes: Uint8Array, start: number, end: number, packetType: PacketType | undefined): this {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
    this.packetType = packetType;
    this.error = undefined;
    return this;
  }

  /** Bytes left before `end`. */
  remaining(): number {
    return this.end - this.pos;
  }

  /** Records a failure (the first one wins) and returns it. */
  fail(reasonCode: ReasonCode, field: string, message: string): DecodeError {
    this.error ??= new DecodeError(reasonCode, field, message, this.packetType);
    return this.error;
  }

  private short(field: string, needed: number): void {
    this.fail(
      ReasonCode.MalformedPacket,
      field,
      `needs ${needed} more byte(s) but the packet has ${this.end - this.pos} left: Remaining Length is too short for its contents`,
    );
  }

  u8(field: string): number {
    if (this.pos >= this.end) {
      this.short(field, 1);
      return -1;
    }
    return this.bytes[this.pos++]!;
  }

  u16(field: string): number {
    if (this.end - this.pos < 2) {
      this.short(field, 2);
      return -1;
    }
    const b = this.bytes;
    const value = (b[this.pos]! << 8) | b[this.pos + 1]!;
    this.pos += 2;
    return value;
  }

  u32(field: string): number {
    if (this.end - this.pos < 4) {
      this.short(field, 4);
      return -1;
    }
    const b = this.bytes;
    const p = this.pos;
    // `* 2 ** 24` instead of `<< 24` keeps values >= 2^31 positive.
    const value = b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
    this.pos += 4;
    return value;
  }

  /** Variable Byte Integer (§1.5.5): at most 4 bytes. Non-minimal encodings are accepted (a sender rule). */
  varint(field: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      if (this.pos >= this.end) {
        this.short(field, 1);
        return -1;
      }
      const byte = this.bytes[this.pos++]!;
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return value;
      multiplier *= 128;
    }
    this.fail(
      ReasonCode.MalformedPacket,
      field,
      "Variable Byte Integer continues past 4 bytes; at most 4 are allowed (MQTT 5 §1.5.5, 3.1.1 §2.2.3)",
    );
    return -1;
  }

  /** `length` bytes as a view (no copy). */
  view(field: string, length: number): Uint8Array | undefined {
    if (this.end - this.pos < length) {
      this.short(field, length);
      return undefined;
    }
    const start = this.pos;
    this.pos += length;
    return this.bytes.subarray(start, this.pos);
  }

  /** Binary Data (§1.5.6): 2-byte length then bytes, as a view. */
  binary(field: string): Uint8Array | undefined {
    const length = this.u16(field);
    if (length < 0) return undefined;
    return this.view(field, length);
  }

  /**
   * UTF-8 Encoded String (§1.5.4): 2-byte length then UTF-8. Ill-formed UTF-8 and U+0000 are a
   * Malformed Packet [MQTT-1.5.4-1] [MQTT-1.5.4-2].
   */
  utf8(field: string): string | undefined {
    const length = this.u16(field);
    if (length < 0) return undefined;
    if (this.end - this.pos < length) {
      this.short(field, length);
      return undefined;
    }
    const b = this.bytes;
    const start = this.pos;
    const stop = start + length;
    this.pos = stop;
    if (length <= SHORT_ASCII_MAX_BYTES) {
      let ascii = true;
      let s = "";
      for (let i = start; i < stop; i++) {
        const c = b[i]!;
        if (c === 0) return this.nulCharacter(field, i - start);
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        s += String.fromCharCode(c);
      }
      if (ascii) return s;
    }
    // Search only the string's own bytes: indexOf on `b` would run on past `stop`, through the
    // rest of the packet and chunk, until it met a zero byte (a whole 64 KiB payload, per topic).
    const bytes = b.subarray(start, stop);
    const nul = bytes.indexOf(0);
    if (nul !== -1) return this.nulCharacter(field, nul);
    try {
      return utf8Decoder.decode(bytes);
    } catch {
      this.fail(
        ReasonCode.MalformedPacket,
        field,
        `is not well-formed UTF-8 (bytes ${hexPreview(bytes)}) [MQTT-1.5.4-1] [MQTT-1.5.3-1]`,
      );
      return undefined;
    }
  }

  /**
   * If the UTF-8 string at the cursor has exactly the bytes expected[0, length) (length > 0),
   * skips it and returns true; otherwise leaves the cursor where it was and returns false.
   */
  skipIfString(expected: Uint8Array, length: number): boolean {
    const b = this.bytes;
    const p = this.pos;
    if (length === 0 || this.end - p < length + 2 || ((b[p]! << 8) | b[p + 1]!) !== length) return false;
    for (let i = 0; i < length; i++) if (b[p + 2 + i] !== expected[i]) return false;
    this.pos = p + 2 + length;
    return true;
  }

  private nulCharacter(field: string, offset: number): undefined {
    this.fail(
      ReasonCode.MalformedPacket,
      field,
      `contains the null character U+0000 at byte ${offset}; UTF-8 strings must not [MQTT-1.5.4-2] [MQTT-1.5.3-2]`,
    );
    return undefined;
  }
}

/** The first bytes as hex, for messages: "c3 28 …". */
export function hexPreview(bytes: Uint8Array, maxBytes = 16): string {
  const parts: string[] = [];
  const n = Math.min(bytes.length, maxBytes);
  for (let i = 0; i < n; i++) parts.push(bytes[i]!.toString(16).padStart(2, "0"));
  if (bytes.length > maxBytes) parts.push("…");
  return parts.join(" ");
}
