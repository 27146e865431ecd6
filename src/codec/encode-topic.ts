/**
 * Encoding a PUBLISH Topic Name: measured first (the Remaining Length needs its size), written
 * after the fixed header. Both steps share one pass over the characters: measuring encodes the
 * topic into a scratch buffer, writing copies it from there.
 *
 * Invariant: `topicScratch[0, lastTopicLength)` is the UTF-8 of `lastTopic`. A repeated topic
 * (deliveries to a subscriber, a device's own publishes; compared with ===) is not encoded again.
 * One scratch for the module: encoding is synchronous, and every encode measures its topic right
 * before writing it, so encodePacket and all Encoders can share it.
 */
import { type Writer, MAX_TWO_BYTE_LENGTH } from "./writer.ts";

const utf8Encoder = new TextEncoder();

let lastTopic: string | undefined;
let lastTopicLength = 0;
let topicScratch = new Uint8Array(256);
/** From this many characters TextEncoder.encodeInto (native) beats a charCodeAt loop. */
const ENCODE_INTO_MIN_CHARS = 16;
/** Up to this many bytes a loop copies faster than Uint8Array.set. */
const COPY_LOOP_MAX_BYTES = 64;
/** topicScratch[0, lastTopicLength) as a view, for Uint8Array.set, once the topic is longer than that. */
let lastTopicView: Uint8Array | undefined;

/** UTF-8 length of a PUBLISH Topic Name, which it also encodes for writeTopic. RangeError past 65,535 bytes. */
export function topicLength(topic: string): number {
  if (topic === lastTopic) return lastTopicLength;
  // At most 3 bytes per UTF-16 unit (a surrogate pair is 2 units for 4 bytes).
  if (topicScratch.length < topic.length * 3) topicScratch = new Uint8Array(topic.length * 3);
  const b = topicScratch;
  let length: number;
  if (topic.length >= ENCODE_INTO_MIN_CHARS) {
    // The scratch has room for the worst case, so the whole topic fits (lone surrogates become U+FFFD).
    length = utf8Encoder.encodeInto(topic, b).written;
  } else {
    let i = 0;
    for (; i < topic.length; i++) {
      const c = topic.charCodeAt(i);
      if (c >= 0x80) break;
      b[i] = c;
    }
    length = i;
    if (i < topic.length) length += utf8Encoder.encodeInto(topic.slice(i), b.subarray(i)).written;
  }
  if (length > MAX_TWO_BYTE_LENGTH) {
    lastTopic = undefined;
    throw new RangeError(`PUBLISH topic is ${length} bytes of UTF-8; at most 65535 fit`);
  }
  lastTopic = topic;
  lastTopicLength = length;
  lastTopicView = length > COPY_LOOP_MAX_BYTES ? b.subarray(0, length) : undefined;
  return length;
}

/** Writes the Topic Name that topicLength measured last (its 2-byte length, then its bytes). */
export function writeTopic(w: Writer, topic: string): void {
  if (topic !== lastTopic) topicLength(topic); // not expected: every caller measures first
  const length = lastTopicLength;
  w.u16(length);
  const b = w.bytes;
  const p = w.pos;
  if (lastTopicView === undefined) {
    for (let i = 0; i < length; i++) b[p + i] = topicScratch[i]!;
  } else {
    b.set(lastTopicView, p);
  }
  w.pos = p + length;
}
