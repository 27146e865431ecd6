import { describe, expect, test } from "bun:test";
import { PacketType, ReasonCode, type ProtocolVersion } from "./constants.ts";
import { decodePacket } from "./decode.ts";
import { Decoder } from "./decoder.ts";
import { encodePacket } from "./encode.ts";
import { FRAME, Framer, NEED_MORE } from "./framer.ts";
import type { Packet, PublishPacket } from "./packets.ts";
import { h, prng, snapshot, utf8 } from "./test-helpers.ts";
import { VECTORS } from "./test-vectors.ts";

const LIMITS = { maxPacketSizeBytes: 1 << 20, maxPacketSizeBeforeConnectBytes: 4096 };

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** A connection's stream for `version`: its CONNECT vector first, then every other vector of that version. */
function streamFor(version: ProtocolVersion): { bytes: Uint8Array; packets: Packet[] } {
  const vectors = VECTORS.filter((v) => v.version === version);
  const connect = vectors.find((v) => v.packet.type === PacketType.Connect)!;
  const rest = vectors.filter((v) => v.packet.type !== PacketType.Connect);
  const ordered = [connect, ...rest];
  return { bytes: concat(ordered.map((v) => v.bytes)), packets: ordered.map((v) => v.packet) };
}

/**
 * Feeds `chunks` (each copied into ONE reused scratch buffer, as a socket reader might) and
 * drains after each; the protocol version is set once a CONNECT arrives. Returns snapshots taken
 * right after each next(), plus the first error.
 */
function decodeChunks(chunks: readonly Uint8Array[]): { packets: unknown[]; error?: string } {
  const decoder = new Decoder(LIMITS);
  const scratch = new Uint8Array(Math.max(1, ...chunks.map((c) => c.length)));
  const packets: unknown[] = [];
  for (const chunk of chunks) {
    scratch.fill(0xee);
    scratch.set(chunk);
    decoder.feed(scratch.subarray(0, chunk.length));
    for (;;) {
      const result = decoder.next();
      if (result.kind === "more") break;
      if (result.kind === "error") return { packets, error: result.error.message };
      packets.push(snapshot(result.packet));
      if (result.packet.type === PacketType.Connect) decoder.protocolVersion = result.packet.protocolVersion;
    }
  }
  return { packets };
}

function splitAt(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.slice(start, p));
    start = p;
  }
  return out;
}

describe("fragmentation: every split decodes identically", () => {
  for (const version of [3, 4, 5] as const) {
    const { bytes, packets } = streamFor(version);
    const expected = packets.map(snapshot);

    test(`MQTT level ${version}: the whole stream in one chunk (many packets per chunk)`, () => {
      expect(decodeChunks([bytes])).toEqual({ packets: expected });
    });

    test(`MQTT level ${version}: the stream split in two at every byte (${bytes.length - 1} split points)`, () => {
      for (let i = 1; i < bytes.length; i++) {
        expect(decodeChunks(splitAt(bytes, [i]))).toEqual({ packets: expected });
      }
    });

    test(`MQTT level ${version}: one byte at a time`, () => {
      expect(decodeChunks(splitAt(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)))).toEqual({ packets: expected });
    });

    test(`MQTT level ${version}: 200 seeded random chunkings`, () => {
      const random = prng(version * 1000 + 7);
      for (let round = 0; round < 200; round++) {
        const points: number[] = [];
        for (let p = 1 + Math.floor(random() * 7); p < bytes.length; p += 1 + Math.floor(random() * 9)) points.push(p);
        expect(decodeChunks(splitAt(bytes, points))).toEqual({ packets: expected });
      }
    });
  }

  test("a 200 KiB PUBLISH fed in 1000-byte chunks decodes whole", () => {
    const payload = new Uint8Array(200 * 1024).map((_, i) => i * 7);
    const publish: PublishPacket = { type: PacketType.Publish, topic: "big", payload, qos: 1, packetId: 9, retain: false, dup: false };
    const connect = VECTORS.find((v) => v.version === 4 && v.packet.type === PacketType.Connect)!.bytes;
    const stream = concat([connect, encodePacket(publish, 4), h("c0 00")]);
    const points: number[] = [];
    for (let p = 1000; p < stream.length; p += 1000) points.push(p);
    const { packets, error } = decodeChunks(splitAt(stream, points));
    expect(error).toBeUndefined();
    expect(packets.length).toBe(3);
    expect(packets[1]).toEqual(snapshot(publish));
  });

  test("large packets straddling chunks reuse one carry, which is given back at the next idle point", () => {
    const framer = new Framer();
    const big = encodePacket({ type: PacketType.Publish, topic: "big", payload: new Uint8Array(100_000).fill(7), qos: 0, retain: false, dup: false }, 4);
    const stream = concat([big, big, big]);
    const capacities: number[] = [];
    let frames = 0;
    let carry: Uint8Array | undefined;
    // 64 KiB reads, as a socket gives them: every packet straddles two or three reads.
    for (let at = 0; at < stream.length; at += 65536) {
      framer.feed(stream.subarray(at, at + 65536));
      for (let status = framer.next(4, 1 << 20); status !== NEED_MORE; status = framer.next(4, 1 << 20)) {
        expect(status).toBe(FRAME);
        frames++;
        expect(framer.frameSize).toBe(big.length);
        // Every frame came out of the same carry: no buffer per packet.
        carry ??= framer.frameBytes;
        expect(framer.frameBytes).toBe(carry);
      }
      capacities.push(framer.carryCapacityBytes);
    }
    expect(frames).toBe(3);
    // Between reads a packet was partly carried, so the carry stayed; after the last read
    // everything was handed out: the large carry is gone.
    expect(capacities.slice(0, -1).every((c) => c >= big.length)).toBe(true);
    expect(capacities.at(-1)).toBe(0);
  });

  test("feeding twice before draining keeps the bytes in order", () => {
    const { bytes, packets } = streamFor(4);
    const decoder = new Decoder(LIMITS);
    decoder.feed(bytes.slice(0, 40));
    decoder.feed(bytes.slice(40, 41));
    decoder.feed(bytes.slice(41));
    const out: unknown[] = [];
    for (let r = decoder.next(); r.kind === "packet"; r = decoder.next()) {
      out.push(snapshot(r.packet));
      if (r.packet.type === PacketType.Connect) decoder.protocolVersion = 4;
    }
    expect(out).toEqual(packets.map(snapshot));
    expect(decoder.bufferedBytes).toBe(0);
  });

  test("bufferedBytes counts a partial packet", () => {
    const decoder = new Decoder(LIMITS);
    decoder.feed(VECTORS[0]!.bytes.slice(0, 5));
    expect(decoder.next().kind).toBe("more");
    expect(decoder.bufferedBytes).toBe(5);
  });
});

describe("views and copies", () => {
  const publish = h("32 0a 0003 612f62 0001 6869 21");

  test("a packet inside one chunk: payload is a view of that chunk; the topic is a string", () => {
    const decoder = new Decoder(LIMITS);
    decoder.protocolVersion = 4;
    const chunk = concat([h("c0 00"), publish, h("c0 00")]);
    decoder.feed(chunk);
    expect(decoder.next().kind).toBe("packet");
    const result = decoder.next();
    if (result.kind !== "packet" || result.packet.type !== PacketType.Publish) throw new Error("expected PUBLISH");
    expect(result.packet.payload.buffer).toBe(chunk.buffer);
    expect(result.packet.payload.byteOffset).toBe(2 + 9);
    expect(result.packet.payload.length).toBe(3);
    expect(typeof result.packet.topic).toBe("string");
  });

  test("a packet straddling two chunks: payload is a copy (in the carry), not either chunk", () => {
    const decoder = new Decoder(LIMITS);
    decoder.protocolVersion = 4;
    const first = publish.slice(0, 5);
    const second = publish.slice(5);
    decoder.feed(first);
    expect(decoder.next().kind).toBe("more");
    decoder.feed(second);
    const result = decoder.next();
    if (result.kind !== "packet" || result.packet.type !== PacketType.Publish) throw new Error("expected PUBLISH");
    expect(result.packet.payload.buffer).not.toBe(first.buffer);
    expect(result.packet.payload.buffer).not.toBe(second.buffer);
    expect([...result.packet.payload]).toEqual([0x68, 0x69, 0x21]);
  });

  test("CONNECT password and will payload, MQTT 5 Correlation Data and Authentication Data are views", () => {
    const connect = VECTORS.find((v) => v.name.startsWith("CONNECT with will QoS 1"))!.bytes.slice();
    const r1 = decodePacket(connect, undefined);
    if (r1.kind !== "packet" || r1.packet.type !== PacketType.Connect) throw new Error("expected CONNECT");
    expect(r1.packet.password!.buffer).toBe(connect.buffer);
    expect(r1.packet.will!.payload.buffer).toBe(connect.buffer);

    const pub = VECTORS.find((v) => v.name.includes("Correlation Data"))!.bytes.slice();
    const r2 = decodePacket(pub, 5);
    if (r2.kind !== "packet" || r2.packet.type !== PacketType.Publish) throw new Error("expected PUBLISH");
    expect(r2.packet.properties!.correlationData!.buffer).toBe(pub.buffer);
    expect(r2.packet.payload.buffer).toBe(pub.buffer);

    const auth = VECTORS.find((v) => v.name.startsWith("AUTH continue"))!.bytes.slice();
    const r3 = decodePacket(auth, 5);
    if (r3.kind !== "packet" || r3.packet.type !== PacketType.Auth) throw new Error("expected AUTH");
    expect(r3.packet.properties!.authenticationData!.buffer).toBe(auth.buffer);
  });

  test("encodePacket copies the payload into a fresh buffer of exactly the packet's size", () => {
    const payload = utf8("hello");
    const bytes = encodePacket({ type: PacketType.Publish, topic: "t", payload, qos: 0, retain: false, dup: false }, 4);
    expect(bytes.buffer).not.toBe(payload.buffer);
    expect(bytes.byteLength).toBe(bytes.buffer.byteLength);
  });

  test("1000 PUBLISHes in one chunk are all views of that chunk", () => {
    const decoder = new Decoder(LIMITS);
    decoder.protocolVersion = 4;
    const chunk = concat(Array.from({ length: 1000 }, () => publish));
    decoder.feed(chunk);
    let count = 0;
    for (let r = decoder.next(); r.kind === "packet"; r = decoder.next()) {
      if (r.packet.type !== PacketType.Publish || r.packet.payload.buffer !== chunk.buffer) throw new Error(`packet ${count} is not a view`);
      count++;
    }
    expect(count).toBe(1000);
  });
});

describe("packet size limits, checked from the fixed header before buffering", () => {
  test("a CONNECT over the before-CONNECT limit fails on its header alone", () => {
    const decoder = new Decoder({ maxPacketSizeBytes: 1 << 20, maxPacketSizeBeforeConnectBytes: 100 });
    decoder.feed(h("10 e5 07"));
    const result = decoder.next();
    if (result.kind !== "error") throw new Error(`expected an error, got ${result.kind}`);
    expect(result.error.reasonCode).toBe(ReasonCode.PacketTooLarge);
    expect(result.error.message).toBe("announces a CONNECT of 1000 bytes; the limit before CONNECT completes is 100 bytes");
  });

  test("the larger limit applies once protocolVersion is set; exactly the limit is accepted", () => {
    const decoder = new Decoder({ maxPacketSizeBytes: 13, maxPacketSizeBeforeConnectBytes: 2 });
    decoder.protocolVersion = 4;
    decoder.feed(h("30 0b 0003 612f62 686921 2122 23"));
    expect(decoder.next().kind).toBe("packet");
    decoder.feed(h("30 0c"));
    const result = decoder.next();
    expect(result.kind === "error" && result.error.message).toBe("announces a PUBLISH of 14 bytes; the limit is 13 bytes");
  });

  test("a 256 MiB Remaining Length is refused at once, not buffered", () => {
    const decoder = new Decoder(LIMITS);
    decoder.protocolVersion = 5;
    decoder.feed(h("30 ff ff ff 7f"));
    const result = decoder.next();
    expect(result.kind === "error" && result.error.reasonCode).toBe(ReasonCode.PacketTooLarge);
    expect(decoder.bufferedBytes).toBeLessThanOrEqual(5);
  });

  test("the stream is dead after an error: later bytes are not decoded", () => {
    const decoder = new Decoder(LIMITS);
    decoder.protocolVersion = 4;
    decoder.feed(h("00 00"));
    const first = decoder.next();
    expect(first.kind).toBe("error");
    decoder.feed(h("c0 00"));
    expect(decoder.next()).toBe(first);
  });

  test("a failed Decoder keeps nothing: bytes fed while the connection closes are dropped, not buffered", () => {
    // Found by bench/codec/fuzz.ts: a dead decoder used to carry every later chunk, without limit.
    const decoder = new Decoder({ maxPacketSizeBytes: 64, maxPacketSizeBeforeConnectBytes: 64 });
    decoder.protocolVersion = 4;
    decoder.feed(h("30 03 0001 61 30 7f 0001 61"));
    expect(decoder.next().kind).toBe("packet");
    const failure = decoder.next();
    expect(failure.kind === "error" && failure.error.reasonCode).toBe(ReasonCode.PacketTooLarge);
    expect(decoder.bufferedBytes).toBe(0);
    for (let i = 0; i < 100; i++) {
      decoder.feed(new Uint8Array(1000).fill(0x30));
      expect(decoder.next()).toBe(failure);
    }
    expect(decoder.bufferedBytes).toBe(0);
  });
});

describe("before CONNECT", () => {
  test("a TLS ClientHello is recognised from its first two bytes, fed one at a time", () => {
    const decoder = new Decoder(LIMITS);
    decoder.feed(h("16"));
    expect(decoder.next().kind).toBe("more");
    decoder.feed(h("03"));
    const result = decoder.next();
    expect(result.kind === "error" && result.error.message).toContain("looks like a TLS ClientHello");
  });

  test("an HTTP request is recognised byte by byte", () => {
    const decoder = new Decoder(LIMITS);
    const request = utf8("GET / HTTP/1.1\r\n");
    for (let i = 0; i < 3; i++) {
      decoder.feed(request.slice(i, i + 1));
      expect(decoder.next().kind).toBe("more");
    }
    decoder.feed(request.slice(3));
    const result = decoder.next();
    expect(result.kind === "error" && result.error.message).toContain('looks like an HTTP request ("GET / HTTP/1.1")');
  });

  test("a packet after CONNECT but before the protocol layer set protocolVersion is refused [MQTT-3.1.0-1]", () => {
    const decoder = new Decoder(LIMITS);
    decoder.feed(concat([VECTORS[0]!.bytes, h("c0 00")]));
    expect(decoder.next().kind).toBe("packet");
    const result = decoder.next();
    expect(result.kind === "error" && result.error.message).toContain("is 12 (PINGREQ; first bytes c0 00) before the CONNECT was accepted");
  });

  test("an unknown protocol level is reported as UnsupportedProtocolVersion through the Decoder", () => {
    const decoder = new Decoder(LIMITS);
    decoder.feed(h("10 0c 0004 4d515454 07 02 003c 0000"));
    const result = decoder.next();
    expect(result.kind === "error" && result.error.reasonCode).toBe(ReasonCode.UnsupportedProtocolVersion);
  });
});

describe("multiLevelWildcardAnywhere reaches SUBSCRIBE and UNSUBSCRIBE decoding [MQTT-4.7.1-2]", () => {
  /** A SUBSCRIBE (QoS 1) or UNSUBSCRIBE of `filter` for `version`, packet id 7. */
  const packetFor = (type: "SUBSCRIBE" | "UNSUBSCRIBE", filter: string): Packet =>
    type === "SUBSCRIBE"
      ? {
          type: PacketType.Subscribe,
          packetId: 7,
          subscriptions: [{ topicFilter: filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
        }
      : { type: PacketType.Unsubscribe, packetId: 7, topicFilters: [filter] };

  const decodeWith = (bytes: Uint8Array, version: ProtocolVersion, anywhere: boolean | undefined) => {
    const decoder = new Decoder(anywhere === undefined ? LIMITS : { ...LIMITS, multiLevelWildcardAnywhere: anywhere });
    decoder.protocolVersion = version;
    decoder.feed(bytes);
    return decoder.next();
  };

  for (const version of [3, 4, 5] as const) {
    for (const type of ["SUBSCRIBE", "UNSUBSCRIBE"] as const) {
      test(`MQTT level ${version} ${type} "a/#/b": refused by default and with false, accepted with the option`, () => {
        const packet = packetFor(type, "a/#/b");
        const bytes = encodePacket(packet, version);
        for (const anywhere of [undefined, false]) {
          const strict = decodeWith(bytes, version, anywhere);
          expect(strict.kind).toBe("error");
          if (strict.kind === "error") {
            expect(strict.error.reasonCode).toBe(ReasonCode.TopicFilterInvalid);
            expect(strict.error.message).toContain("[MQTT-4.7.1-2]");
            expect(strict.error.field).toBe(`${type} Topic Filter 1`);
          }
        }
        const loose = decodeWith(bytes, version, true);
        expect(loose.kind).toBe("packet");
        if (loose.kind === "packet") expect(snapshot(loose.packet)).toEqual(snapshot(packet));
        // decodePacket takes the same option as its third argument.
        expect(decodePacket(bytes, version).kind).toBe("error");
        expect(decodePacket(bytes, version, { multiLevelWildcardAnywhere: true }).kind).toBe("packet");
      });
      test(`MQTT level ${version} ${type} "a/b#" is refused even with the option: '#' must fill a whole level`, () => {
        const result = decodeWith(encodePacket(packetFor(type, "a/b#"), version), version, true);
        expect(result.kind).toBe("error");
        if (result.kind === "error") expect(result.error.message).toContain("must fill a whole level");
      });
    }
  }

  test("MQTT 5 shared subscription $share/g/#/x: the inner filter follows the option", () => {
    const bytes = encodePacket(packetFor("SUBSCRIBE", "$share/g/#/x"), 5);
    expect(decodeWith(bytes, 5, false).kind).toBe("error");
    const loose = decodeWith(bytes, 5, true);
    expect(loose.kind === "packet" && loose.packet.type === PacketType.Subscribe && loose.packet.subscriptions[0]!.topicFilter).toBe("$share/g/#/x");
  });

  test("the option leaves topic names alone: a PUBLISH to a/#/b is still refused [MQTT-3.3.2-2]", () => {
    const bytes = h(`30 07 0005 ${toHexAscii("a/#/b")}`);
    const result = decodeWith(bytes, 4, true);
    expect(result.kind === "error" && result.error.message).toContain("[MQTT-3.3.2-2]");
  });
});

function toHexAscii(s: string): string {
  return [...s].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
}

describe("the Decoder's last-topic cache", () => {
  const publish = (topic: string, payload = "x", extra: Partial<PublishPacket> = {}): PublishPacket => ({
    type: PacketType.Publish, topic, payload: utf8(payload), qos: 0, retain: false, dup: false, ...extra,
  });
  /** Decodes `packets` (encoded for `version`) one per feed, each copied into ONE reused scratch buffer. */
  function decodeEach(packets: PublishPacket[], version: ProtocolVersion = 4) {
    const decoder = new Decoder(LIMITS);
    decoder.protocolVersion = version;
    const scratch = new Uint8Array(4096);
    return packets.map((p) => {
      const bytes = encodePacket(p, version);
      scratch.fill(0xee);
      scratch.set(bytes);
      decoder.feed(scratch.subarray(0, bytes.length));
      const result = decoder.next();
      expect(decoder.next().kind).toBe("more");
      return result.kind === "packet" ? snapshot(result.packet) : result.kind === "error" ? result.error.message : result.kind;
    });
  }

  test("a repeated topic, a same-length different topic, a prefix and a longer one all decode as sent", () => {
    const sent = [publish("a/b/c"), publish("a/b/c", "y"), publish("a/b/d"), publish("a/b"), publish("a/b/c/d"), publish("a/b/c", "z")];
    // The scratch buffer is overwritten for every packet: a cache holding a view would return "a/b/c" for "a/b/d".
    expect(decodeEach(sent)).toEqual(sent.map((p) => snapshot(p)));
  });

  test("a topic over 256 bytes and non-ASCII topics round-trip through the cache", () => {
    const long = `${"l".repeat(300)}/x`;
    const sent = [publish(long), publish(long), publish("ü/€/😀"), publish("ü/€/😀"), publish("ü/€/😁")];
    expect(decodeEach(sent)).toEqual(sent.map((p) => snapshot(p)));
  });

  test("MQTT 5: an empty topic with a Topic Alias is not cached, and a cached topic's properties are still checked", () => {
    const alias = publish("", "x", { properties: { topicAlias: 3 } });
    const sent = [publish("t/1"), alias, publish("t/1", "x", { properties: { topicAlias: 3 } }), alias];
    expect(decodeEach(sent, 5)).toEqual(sent.map((p) => snapshot(p)));
    const decoder = new Decoder(LIMITS);
    decoder.protocolVersion = 5;
    decoder.feed(encodePacket(publish("t/1"), 5));
    expect(decoder.next().kind).toBe("packet");
    // Same topic, then a Topic Alias of 0 [MQTT-3.3.2-8]: the cache must not skip the property checks.
    decoder.feed(h("30 09 0003 742f31 03 23 0000"));
    const result = decoder.next();
    expect(result.kind === "error" && result.error.reasonCode).toBe(ReasonCode.TopicAliasInvalid);
  });

  test("a topic that fails validation is never cached: the same bytes fail again on a new connection's stream", () => {
    for (let i = 0; i < 2; i++) {
      const decoder = new Decoder(LIMITS);
      decoder.protocolVersion = 4;
      decoder.feed(encodePacket(publish("ok"), 4));
      expect(decoder.next().kind).toBe("packet");
      decoder.feed(h("30 05 0003 612f23"));
      const result = decoder.next();
      expect(result.kind === "error" && result.error.message).toContain("[MQTT-3.3.2-2]");
    }
  });
});
