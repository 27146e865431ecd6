import { describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { buildCertificate, buildName } from "../auth/test-helpers.ts";
import { describeHandshakeFailure, judgeHandshake, type HandshakeFacts } from "./tls-handshake.ts";

const certificate = new X509Certificate(buildCertificate({ subject: buildName([[["O", "Acme"]], [["CN", "device-1"]]]), issuer: buildName([[["CN", "Some CA"]]]) }));

function error(message: string, code?: string): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

const FACTS: HandshakeFacts = { success: true, error: null, peerCertificate: undefined, verifyPeer: true, failIfNoPeerCert: false, prefix: "ssl_options" };

describe("a TLS handshake's verdict (RabbitMQ's verify / fail_if_no_peer_cert)", () => {
  test("a verified certificate is accepted and handed on", () => {
    expect(judgeHandshake({ ...FACTS, peerCertificate: certificate })).toEqual({ ok: true, certificate });
  });
  test("verify_peer without fail_if_no_peer_cert serves a client without a certificate", () => {
    expect(judgeHandshake({ ...FACTS, error: error("unable to get issuer certificate", "UNABLE_TO_GET_ISSUER_CERT") })).toEqual({ ok: true, certificate: undefined });
  });
  test("verify_none ignores whatever Bun reports about certificates", () => {
    expect(judgeHandshake({ ...FACTS, verifyPeer: false, peerCertificate: certificate, error: error("x", "CERT_HAS_EXPIRED") })).toEqual({ ok: true, certificate: undefined });
  });
  test("fail_if_no_peer_cert refuses a client without a certificate", () => {
    const verdict = judgeHandshake({ ...FACTS, failIfNoPeerCert: true });
    expect(verdict).toMatchObject({ ok: false, level: "warning" });
    expect(verdict.ok || verdict.reason).toContain("ssl_options.fail_if_no_peer_cert = true requires one");
  });

  const refused: Array<[string, string, string]> = [
    ["CERT_HAS_EXPIRED", "certificate has expired", `refused: it expired on ${certificate.validTo}`],
    ["CERT_NOT_YET_VALID", "certificate is not yet valid", `it is not valid before ${certificate.validFrom}`],
    ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate", "it is not signed by a CA in ssl_options.cacertfile"],
    ["DEPTH_ZERO_SELF_SIGNED_CERT", "self signed certificate", "it is not signed by a CA in ssl_options.cacertfile"],
    ["INVALID_PURPOSE", "unsupported certificate purpose", "not meant for client authentication"],
    ["CERT_REVOKED", "certificate revoked", "refused: certificate revoked (CERT_REVOKED)"],
  ];
  for (const [code, message, fragment] of refused) {
    test(`a certificate failing with ${code} is refused, naming subject and issuer`, () => {
      const verdict = judgeHandshake({ ...FACTS, peerCertificate: certificate, error: error(message, code) });
      if (verdict.ok) throw new Error("accepted");
      expect(verdict.reason).toContain('client certificate "O=Acme, CN=device-1" (issuer "CN=Some CA")');
      expect(verdict.reason).toContain(fragment);
    });
  }
});

describe("failed handshakes named for the operator", () => {
  const cases: Array<[string, Error | null, string, "info" | "warning"]> = [
    ["plain bytes (an MQTT client without TLS)", error("error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER", "EPROTO"), "plain (unencrypted) bytes on the TLS port", "warning"],
    ["an HTTP request", error("error:1000009c:SSL routines:OPENSSL_internal:HTTP_REQUEST", "EPROTO"), "an HTTP request arrived on the MQTT TLS port", "warning"],
    ["no client certificate with fail_if_no_peer_cert", error("error:100000c0:SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE", "EPROTO"), "ssl_options.fail_if_no_peer_cert = true", "warning"],
    ["no shared cipher", error("error:100000b8:SSL routines:OPENSSL_internal:NO_SHARED_CIPHER"), "no cipher suite in common with the client (ssl_options.ciphers)", "warning"],
    ["a TLS version not allowed", error("error:100000f0:SSL routines:OPENSSL_internal:UNSUPPORTED_PROTOCOL"), "(ssl_options.versions)", "warning"],
    ["a client that does not trust our certificate", error("error:10000418:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA"), "does it trust the CA of ssl_options.certfile?", "warning"],
    ["any other alert", error("error:1000042e:SSL routines:OPENSSL_internal:TLSV1_ALERT_INTERNAL_ERROR"), "TLS alert internal_error", "warning"],
    ["a disconnect mid-handshake (port scans): info, not a warning", error("Client network socket disconnected before secure TLS connection was established", "ECONNRESET"), "closed the connection during the TLS handshake", "info"],
    ["anything else, with BoringSSL's words", error("something new"), "TLS handshake failed: something new", "warning"],
    ["no error at all", null, "TLS handshake failed: no reason given", "warning"],
  ];
  for (const [name, failure, fragment, level] of cases) {
    test(name, () => {
      const described = describeHandshakeFailure(failure, "ssl_options");
      expect(described.reason).toContain(fragment);
      expect(described.level).toBe(level);
      expect(judgeHandshake({ ...FACTS, success: false, error: failure })).toEqual({ ok: false, ...described });
    });
  }
});
