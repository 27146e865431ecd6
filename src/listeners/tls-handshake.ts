/**
 * What a finished (or failed) TLS handshake means for the MQTT TLS listener: serve the client,
 * or refuse it with one log line that names the mistake in words an operator can act on.
 * BoringSSL reports failures as codes (`WRONG_VERSION_NUMBER`, `HTTP_REQUEST`, ...) and
 * certificate problems as Node-style codes (`CERT_HAS_EXPIRED`); this module turns both into
 * sentences. Pure: tls.ts passes in what Bun's `handshake` callback saw.
 */
import type { X509Certificate } from "node:crypto";

export interface HandshakeFacts {
  /** Bun's `success`: false when the handshake itself failed. */
  success: boolean;
  /** Bun's `authorizationError`, or the handshake error. */
  error: Error | null;
  /** The client's certificate, when it sent one. */
  peerCertificate: X509Certificate | undefined;
  /** ssl_options.verify = verify_peer */
  verifyPeer: boolean;
  /** ssl_options.fail_if_no_peer_cert */
  failIfNoPeerCert: boolean;
  /** Config key prefix for messages: "ssl_options" or "web_mqtt.ssl". */
  prefix: string;
}

export type HandshakeVerdict =
  | { ok: true; /** A verified client certificate (verify_peer only). */ certificate: X509Certificate | undefined }
  | { ok: false; /** Why, for the one log line. */ reason: string; /** Operator mistakes are warnings; a silent disconnect is not. */ level: "info" | "warning" };

/** Node-style certificate verification codes that mean "not signed by a CA we trust". */
const UNTRUSTED_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
]);

/** "C=US\nO=Acme\nCN=x" (node's form) → "C=US, O=Acme, CN=x". */
export function oneLineName(name: string): string {
  return name.split("\n").join(", ");
}

function describeCertificateProblem(certificate: X509Certificate, error: Error, prefix: string): string {
  const code = (error as NodeJS.ErrnoException).code ?? "";
  const who = `client certificate "${oneLineName(certificate.subject)}" (issuer "${oneLineName(certificate.issuer)}")`;
  if (code === "CERT_HAS_EXPIRED") return `${who} refused: it expired on ${certificate.validTo}`;
  if (code === "CERT_NOT_YET_VALID") return `${who} refused: it is not valid before ${certificate.validFrom}`;
  if (UNTRUSTED_CODES.has(code)) return `${who} refused: it is not signed by a CA in ${prefix}.cacertfile (${error.message})`;
  if (code === "INVALID_PURPOSE") return `${who} refused: it is not meant for client authentication (extendedKeyUsage lacks clientAuth)`;
  return `${who} refused: ${error.message}${code ? ` (${code})` : ""}`;
}

/** A failed handshake, from BoringSSL's reason code. */
export function describeHandshakeFailure(error: Error | null, prefix: string): { reason: string; level: "info" | "warning" } {
  const text = `${(error as NodeJS.ErrnoException | null)?.code ?? ""} ${error?.message ?? ""}`;
  if (/WRONG_VERSION_NUMBER|UNKNOWN_PROTOCOL|UNEXPECTED_RECORD/.test(text)) {
    return {
      reason:
        "the client did not start a TLS handshake: plain (unencrypted) bytes on the TLS port, most likely an MQTT client " +
        "without TLS (mqtt:// instead of mqtts://, mosquitto without --cafile); point it at the plain MQTT port or enable TLS in it",
      level: "warning",
    };
  }
  if (/HTTPS?_(PROXY_)?REQUEST/.test(text)) {
    return {
      reason:
        "an HTTP request arrived on the MQTT TLS port (a browser or a wss:// client?); MQTT over WebSocket is served by " +
        "the Web MQTT listener (web_mqtt.ssl.port / web_mqtt.tcp.port, path web_mqtt.ws_path)",
      level: "warning",
    };
  }
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE/.test(text)) {
    return { reason: `the client sent no certificate, and ${prefix}.fail_if_no_peer_cert = true requires one`, level: "warning" };
  }
  if (/NO_SHARED_CIPHER/.test(text)) return { reason: `no cipher suite in common with the client (${prefix}.ciphers)`, level: "warning" };
  if (/UNSUPPORTED_PROTOCOL|ALERT_PROTOCOL_VERSION/.test(text)) {
    return { reason: `the client's TLS versions are not allowed (${prefix}.versions)`, level: "warning" };
  }
  const alert = /ALERT_([A-Z_]+)/.exec(text);
  if (alert?.[1] === "UNKNOWN_CA" || alert?.[1] === "BAD_CERTIFICATE" || alert?.[1] === "CERTIFICATE_UNKNOWN") {
    return { reason: `the client refused the server certificate (TLS alert ${alert[1].toLowerCase()}): does it trust the CA of ${prefix}.certfile?`, level: "warning" };
  }
  if (alert !== null) return { reason: `the client ended the handshake with TLS alert ${alert[1]!.toLowerCase()}`, level: "warning" };
  if (/ECONNRESET|disconnected before secure TLS connection/.test(text)) {
    return {
      reason: `the client closed the connection during the TLS handshake (a port scan, or a client that does not trust the CA of ${prefix}.certfile)`,
      level: "info",
    };
  }
  return { reason: `TLS handshake failed: ${error?.message ?? "no reason given"}`, level: "warning" };
}

/** Serve or refuse, per RabbitMQ's verify / fail_if_no_peer_cert semantics. */
export function judgeHandshake(facts: HandshakeFacts): HandshakeVerdict {
  if (!facts.success) return { ok: false, ...describeHandshakeFailure(facts.error, facts.prefix) };
  // With verify_none no certificate is asked for; anything Bun reports then is not a refusal.
  if (!facts.verifyPeer) return { ok: true, certificate: undefined };
  const certificate = facts.peerCertificate;
  if (certificate === undefined) {
    if (facts.failIfNoPeerCert) {
      return { ok: false, reason: `the client sent no certificate, and ${facts.prefix}.fail_if_no_peer_cert = true requires one`, level: "warning" };
    }
    return { ok: true, certificate: undefined };
  }
  if (facts.error !== null) return { ok: false, reason: describeCertificateProblem(certificate, facts.error, facts.prefix), level: "warning" };
  return { ok: true, certificate };
}
