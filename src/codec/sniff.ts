/**
 * Recognises common operator mistakes from the first bytes of a connection that does not start
 * with CONNECT: TLS on the plain port, HTTP / WebSocket on the raw MQTT port, a load balancer's
 * PROXY protocol header, an AMQP or SSH client on the wrong port. One line says what happened.
 */
import { PACKET_TYPE_NAMES, PacketType, ReasonCode } from "./constants.ts";
import { DecodeError } from "./errors.ts";
import { hexPreview } from "./reader.ts";

interface Signature {
  /** Bytes the connection starts with. */
  prefix: Uint8Array;
  explain: (bytes: Uint8Array) => string;
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** The request line, printable and cut short: `GET /mqtt HTTP/1.1`. */
function firstLine(bytes: Uint8Array): string {
  let line = "";
  for (let i = 0; i < bytes.length && i < 80; i++) {
    const c = bytes[i]!;
    if (c === 0x0d || c === 0x0a) break;
    line += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : ".";
  }
  return line;
}

const httpExplain = (bytes: Uint8Array): string =>
  `looks like an HTTP request ("${firstLine(bytes)}"): a browser, or an MQTT-over-WebSocket client (ws://), ` +
  "is talking to the raw MQTT port; point it at the Web MQTT listener (web_mqtt.tcp.port, default 15675, path /ws)";

const SIGNATURES: readonly Signature[] = [
  {
    // TLS record: content type 22 (handshake), major version 3.
    prefix: Uint8Array.of(0x16, 0x03),
    explain: () =>
      "looks like a TLS ClientHello: the client uses TLS (mqtts://, usually port 8883) on the plain MQTT port; " +
      "connect it to the TLS listener (mqtt.listeners.ssl) or turn TLS off in the client",
  },
  ...["GET ", "POST ", "PUT ", "HEAD ", "OPTIONS ", "DELETE ", "PATCH ", "CONNECT ", "PRI * HTTP/2"].map((method) => ({
    prefix: ascii(method),
    explain: httpExplain,
  })),
  {
    prefix: ascii("PROXY "),
    explain: () =>
      "starts with a PROXY protocol v1 header: a load balancer adds one but this listener does not expect it; " +
      "enable proxy protocol on the listener or turn it off on the load balancer",
  },
  {
    prefix: Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a),
    explain: () =>
      "starts with a PROXY protocol v2 header: a load balancer adds one but this listener does not expect it; " +
      "enable proxy protocol on the listener or turn it off on the load balancer",
  },
  {
    prefix: ascii("AMQP"),
    explain: () => "starts with an AMQP protocol header: an AMQP client is connecting to the MQTT port; AMQP listens on 5672",
  },
  {
    prefix: ascii("SSH-"),
    explain: () => "starts with an SSH banner: an SSH client is connecting to the MQTT port",
  },
];

/** Longest prefix in SIGNATURES: sniffing never waits for more than this many bytes. */
export const SNIFF_MAX_BYTES = Math.max(...SIGNATURES.map((s) => s.prefix.length));

/**
 * Sniffs the first bytes of a connection for a known mistake: `"more"` while the bytes seen so far
 * could still be one's signature, the DecodeError explaining it when one matched, else undefined.
 */
export function sniffFirstBytes(bytes: Uint8Array): DecodeError | "more" | undefined {
  let couldMatch = false;
  for (const signature of SIGNATURES) {
    const prefix = signature.prefix;
    const n = Math.min(prefix.length, bytes.length);
    let same = true;
    for (let i = 0; i < n; i++) {
      if (bytes[i] !== prefix[i]) {
        same = false;
        break;
      }
    }
    if (!same) continue;
    if (n === prefix.length) {
      return new DecodeError(
        ReasonCode.ProtocolError,
        "first packet",
        `${signature.explain(bytes)}; an MQTT connection must start with CONNECT [MQTT-3.1.0-1]`,
      );
    }
    couldMatch = true;
  }
  return couldMatch ? "more" : undefined;
}

/** A packet other than CONNECT while no protocol version is known [MQTT-3.1.0-1]. */
export function notConnectYet(bytes: Uint8Array): DecodeError {
  const first = bytes[0]!;
  const type = first >> 4;
  return new DecodeError(
    ReasonCode.ProtocolError,
    "fixed header packet type",
    `is ${type} (${PACKET_TYPE_NAMES[type]}; first bytes ${hexPreview(bytes)}) before the CONNECT was accepted; ` +
      "the first packet must be CONNECT (first byte 0x10) and nothing else may be sent until it is answered [MQTT-3.1.0-1]",
    type,
  );
}

/**
 * What may start a packet while the protocol version is unknown: a CONNECT only. `atStreamStart`
 * says these are the connection's first bytes, where known mistakes are explained. Returns
 * undefined when the bytes may start a CONNECT (its flags are checked later), "more" while a
 * mistake's signature is still possible, else the error.
 */
export function checkBeforeConnect(bytes: Uint8Array, atStreamStart: boolean): DecodeError | "more" | undefined {
  const first = bytes[0]!;
  if (first === 0x10) return undefined;
  if (atStreamStart) {
    const sniffed = sniffFirstBytes(bytes);
    if (sniffed !== undefined) return sniffed;
  }
  if (first >> 4 === PacketType.Connect) return undefined;
  return notConnectYet(bytes);
}
