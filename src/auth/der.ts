/**
 * The little of ASN.1 DER that X.509 needs here: walking a certificate's structure (to find the
 * subject and the subjectAltName extension) and writing a certificate (to mint one). Reading
 * never throws on bad input: a certificate comes from the network, so a malformed one is a
 * value (`DerError`), not an exception.
 *
 * Only definite lengths (DER forbids the indefinite form) and single-byte tags (every tag an
 * X.509 certificate uses is below 31) are supported.
 */

/** Universal and context-specific tags used by X.509. */
export const Tag = {
  Boolean: 0x01,
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Null: 0x05,
  ObjectIdentifier: 0x06,
  Utf8String: 0x0c,
  PrintableString: 0x13,
  TeletexString: 0x14,
  Ia5String: 0x16,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  UniversalString: 0x1c,
  BmpString: 0x1e,
  Sequence: 0x30,
  Set: 0x31,
} as const;

/** A tag-length-value found in a buffer; `value` is a view (no copy). */
export interface Tlv {
  tag: number;
  /** The content octets. */
  value: Uint8Array;
  /** The whole encoding, header included (to copy an element verbatim). */
  encoded: Uint8Array;
}

export class DerError {
  constructor(readonly message: string) {}
}

/** Reads the element at `offset`; a DerError when it does not fit or is not DER. */
export function readTlv(bytes: Uint8Array, offset = 0): Tlv | DerError {
  if (offset + 2 > bytes.length) return new DerError(`truncated element at byte ${offset}`);
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) return new DerError(`multi-byte tag at byte ${offset} (not used by X.509)`);
  let length = bytes[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) return new DerError(`indefinite length at byte ${offset} (not allowed in DER)`);
    if (count > 4) return new DerError(`length of ${count} bytes at byte ${offset} (too long)`);
    if (offset + 2 + count > bytes.length) return new DerError(`truncated length at byte ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[offset + 2 + i]!;
    header += count;
  }
  const end = offset + header + length;
  if (end > bytes.length) return new DerError(`element at byte ${offset} claims ${length} bytes, only ${bytes.length - offset - header} left`);
  return { tag, value: bytes.subarray(offset + header, end), encoded: bytes.subarray(offset, end) };
}

/** Every element inside a constructed value (SEQUENCE, SET, explicit tag), in order. */
export function readChildren(value: Uint8Array): Tlv[] | DerError {
  const children: Tlv[] = [];
  let offset = 0;
  while (offset < value.length) {
    const child = readTlv(value, offset);
    if (child instanceof DerError) return child;
    children.push(child);
    offset += child.encoded.length;
  }
  return children;
}

/** Dotted form of an OBJECT IDENTIFIER's content octets, e.g. "2.5.4.3". */
export function decodeOid(value: Uint8Array): string | DerError {
  if (value.length === 0) return new DerError("empty object identifier");
  const arcs: number[] = [];
  let arc = 0;
  for (let i = 0; i < value.length; i++) {
    const byte = value[i]!;
    arc = arc * 128 + (byte & 0x7f);
    if (arc > Number.MAX_SAFE_INTEGER / 128) return new DerError("object identifier arc too large");
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) {
        const first = arc < 80 ? Math.floor(arc / 40) : 2;
        arcs.push(first, arc - first * 40);
      } else {
        arcs.push(arc);
      }
      arc = 0;
    } else if (i === value.length - 1) {
      return new DerError("object identifier ends inside an arc");
    }
  }
  return arcs.join(".");
}

// --- writing -------------------------------------------------------------------------------------

function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const out: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) out.unshift(n & 0xff);
  return [0x80 | out.length, ...out];
}

/** One element: tag, length, then the parts concatenated. */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const size = parts.reduce((sum, part) => sum + part.length, 0);
  const header = [tag, ...lengthBytes(size)];
  const out = new Uint8Array(header.length + size);
  out.set(header, 0);
  let offset = header.length;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export const sequence = (...parts: Uint8Array[]): Uint8Array => tlv(Tag.Sequence, ...parts);

/** `[n] EXPLICIT` (constructed, context-specific). */
export const explicit = (n: number, ...parts: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...parts);

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const bytes: number[] = [];
  const push = (arc: number) => {
    const chunk = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift((n & 0x7f) | 0x80);
    bytes.push(...chunk);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) push(arc);
  return tlv(Tag.ObjectIdentifier, Uint8Array.from(bytes));
}

/** A non-negative INTEGER from its big-endian magnitude (a leading 0 is added when needed). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return (trimmed[0] ?? 0) & 0x80 ? tlv(Tag.Integer, Uint8Array.of(0), trimmed) : tlv(Tag.Integer, trimmed.length ? trimmed : Uint8Array.of(0));
}

export const smallInteger = (n: number): Uint8Array => unsignedInteger(Uint8Array.of(n));
export const boolean = (value: boolean): Uint8Array => tlv(Tag.Boolean, Uint8Array.of(value ? 0xff : 0));
export const nullValue = (): Uint8Array => tlv(Tag.Null);
export const octetString = (bytes: Uint8Array): Uint8Array => tlv(Tag.OctetString, bytes);
/** A BIT STRING with no unused bits. */
export const bitString = (bytes: Uint8Array): Uint8Array => tlv(Tag.BitString, Uint8Array.of(0), bytes);
export const utf8String = (text: string): Uint8Array => tlv(Tag.Utf8String, new TextEncoder().encode(text));

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always with seconds and Z. */
export function time(ms: number): Uint8Array {
  const iso = new Date(ms).toISOString(); // 2026-01-02T03:04:05.678Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, ""); // 20260102030405
  const year = Number(iso.slice(0, 4));
  const text = year < 2050 ? `${digits.slice(2)}Z` : `${digits}Z`;
  return tlv(year < 2050 ? Tag.UtcTime : Tag.GeneralizedTime, new TextEncoder().encode(text));
}
