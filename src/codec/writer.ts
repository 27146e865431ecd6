/**
 * Writer: fills a buffer that was sized before writing (encode.ts computes every length first),
 * so there are no bounds checks or growth on the write path. Integers by shifts, no DataView.
 */

/** One TextEncoder for the process; only used for non-ASCII strings. */
const utf8Encoder = new TextEncoder();

/** Longest UTF-8 string or binary field: its length prefix is 2 bytes (§1.5.4, §1.5.6). */
export const MAX_TWO_BYTE_LENGTH = 0xffff;

/**
 * UTF-8 byte length of `s`, as TextEncoder would encode it (a lone surrogate becomes U+FFFD,
 * 3 bytes). Used by the sizing pass.
 */
export function utf8Length(s: string): number {
  let length = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      length += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // A surrogate pair: 2 UTF-16 units, 4 UTF-8 bytes.
        length += 2;
        i++;
      } else {
        length += 2;
      }
    } else {
      length += 2;
    }
  }
  return length;
}

/** UTF-8 length of a string field, refusing (a caller bug) what cannot fit its 2-byte length prefix. */
export function stringLength(s: string, what: string): number {
  const length = utf8Length(s);
  if (length > MAX_TWO_BYTE_LENGTH) throw new RangeError(`${what} is ${length} bytes of UTF-8; at most 65535 fit`);
  return length;
}

/** Length of a binary field, refusing (a caller bug) what cannot fit its 2-byte length prefix. */
export function binaryLength(b: Uint8Array, what: string): number {
  if (b.length > MAX_TWO_BYTE_LENGTH) throw new RangeError(`${what} is ${b.length} bytes; at most 65535 fit`);
  return b.length;
}

/** Bytes a Variable Byte Integer takes (§1.5.5); `value` must be 0..268,435,455. */
export function varintLength(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : 4;
}

export class Writer {
  constructor(
    /** Destination, at least as long as what will be written. */
    public bytes: Uint8Array,
    /** Cursor: index of the next byte to write. */
    public pos = 0,
  ) {}

  u8(value: number): void {
    this.bytes[this.pos++] = value;
  }

  u16(value: number): void {
    const b = this.bytes;
    b[this.pos] = value >>> 8;
    b[this.pos + 1] = value;
    this.pos += 2;
  }

  u32(value: number): void {
    const b = this.bytes;
    const p = this.pos;
    b[p] = value >>> 24;
    b[p + 1] = value >>> 16;
    b[p + 2] = value >>> 8;
    b[p + 3] = value;
    this.pos += 4;
  }

  /** Variable Byte Integer (§1.5.5); `value` is 0..268,435,455, so 28 bits: shifts are safe. */
  varint(value: number): void {
    const b = this.bytes;
    let p = this.pos;
    while (value >= 0x80) {
      b[p++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    b[p++] = value;
    this.pos = p;
  }

  /** Raw bytes, no length prefix. */
  raw(bytes: Uint8Array): void {
    this.bytes.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Binary Data: 2-byte length then bytes. */
  binary(bytes: Uint8Array): void {
    this.u16(bytes.length);
    this.raw(bytes);
  }

  /**
   * UTF-8 Encoded String: 2-byte length then bytes. ASCII is copied by hand; the first
   * non-ASCII character hands the rest to TextEncoder.encodeInto. The length is written last.
   */
  utf8(s: string): void {
    const b = this.bytes;
    const lengthAt = this.pos;
    let p = lengthAt + 2;
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[p++] = c;
    }
    if (i < s.length) {
      const rest = i === 0 ? s : s.slice(i);
      p += utf8Encoder.encodeInto(rest, b.subarray(p)).written;
    }
    const length = p - lengthAt - 2;
    b[lengthAt] = length >>> 8;
    b[lengthAt + 1] = length;
    this.pos = p;
  }
}
