import { describe, expect, test } from "bun:test";
import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { AdapterCa, type MintedCredentials } from "./adapter-ca.ts";
import { pemBlocks, parseCertificate } from "./certificate.ts";
import { DerError, tlv } from "./der.ts";
import { buildCertificate, buildName, sanExtension, selfSignedCa } from "./test-helpers.ts";

const LIFETIME_MS = 600_000;

function clientCertificate(cn: string, withSan = false): Uint8Array {
  return buildCertificate({
    subject: buildName([[["O", "Acme, Inc."]], [["OU", "dev"], ["CN", cn]]]),
    extensions: withSan ? [sanExtension([tlv(0x82, new TextEncoder().encode(`${cn}.example`))])] : [],
  });
}

function mintedDer(minted: { cert: string }): Uint8Array {
  return pemBlocks(minted.cert, "CERTIFICATE")[0]!;
}

describe("adapter CA: client certificates for RabbitMQ's EXTERNAL mechanism", () => {
  const ca = selfSignedCa("Adapter CA");

  test("mints a certificate signed by the adapter CA, for clientAuth, carrying the client's exact subject", () => {
    const adapterCa = new AdapterCa({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, certificateLifetimeMs: LIFETIME_MS });
    const client = clientCertificate("alice");
    const minted = adapterCa.credentialsFor(client);
    if (minted instanceof DerError) throw new Error(minted.message);
    const x509 = new X509Certificate(minted.cert);
    expect(x509.verify(ca.publicKey)).toBe(true);
    expect(x509.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(x509.ca).toBe(false);
    expect(x509.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
    expect(x509.checkPrivateKey(createPrivateKey(minted.key))).toBe(true);
    const subject = (parseCertificate(mintedDer(minted)) as Exclude<ReturnType<typeof parseCertificate>, DerError>).subject.encoded;
    const original = (parseCertificate(client) as Exclude<ReturnType<typeof parseCertificate>, DerError>).subject.encoded;
    expect(Buffer.from(subject).equals(Buffer.from(original))).toBe(true);
  });

  test("copies the subjectAltName extension, so SAN-based names resolve the same in RabbitMQ", () => {
    const adapterCa = new AdapterCa({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, certificateLifetimeMs: LIFETIME_MS });
    const minted = adapterCa.credentialsFor(clientCertificate("bob", true)) as { cert: string };
    expect(new X509Certificate(minted.cert).subjectAltName).toBe("DNS:bob.example");
  });

  test("is valid from 5 minutes back (clock skew) for the configured lifetime, and re-minted after half of it", () => {
    let nowMs = Date.UTC(2026, 5, 1, 12, 0, 0);
    const adapterCa = new AdapterCa({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, certificateLifetimeMs: LIFETIME_MS, now: () => nowMs });
    const client = clientCertificate("carol");
    const first = adapterCa.credentialsFor(client) as MintedCredentials;
    const x509 = new X509Certificate(first.cert);
    expect(Date.parse(x509.validFrom)).toBe(nowMs - 5 * 60_000);
    expect(Date.parse(x509.validTo)).toBe(nowMs + LIFETIME_MS);
    expect(first.notAfterMs).toBe(nowMs + LIFETIME_MS);
    nowMs += LIFETIME_MS / 2 - 1000;
    expect(adapterCa.credentialsFor(client)).toBe(first);
    nowMs += 2000;
    const second = adapterCa.credentialsFor(client) as { cert: string };
    expect(second).not.toBe(first);
    expect(new X509Certificate(second.cert).serialNumber).not.toBe(x509.serialNumber);
  });

  test("different subjects get different certificates", () => {
    const adapterCa = new AdapterCa({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, certificateLifetimeMs: LIFETIME_MS });
    const a = adapterCa.credentialsFor(clientCertificate("a")) as { cert: string };
    const b = adapterCa.credentialsFor(clientCertificate("b")) as { cert: string };
    expect(new X509Certificate(a.cert).subject).not.toBe(new X509Certificate(b.cert).subject);
  });

  test("signs with an RSA CA key too (sha256WithRSAEncryption)", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const der = buildCertificate({
      subject: buildName([[["CN", "RSA CA"]]]),
      publicKey: rsa.publicKey,
      signer: rsa.privateKey,
      extensions: [Uint8Array.from(Buffer.from("300f0603551d130101ff040530030101ff", "hex"))],
    });
    const certPem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64")}\n-----END CERTIFICATE-----\n`;
    const adapterCa = new AdapterCa({ caCertPem: certPem, caKeyPem: rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), certificateLifetimeMs: LIFETIME_MS });
    const minted = adapterCa.credentialsFor(clientCertificate("dave")) as { cert: string };
    expect(new X509Certificate(minted.cert).verify(rsa.publicKey)).toBe(true);
  });

  test("a client certificate that is not DER is refused as a value", () => {
    const adapterCa = new AdapterCa({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, certificateLifetimeMs: LIFETIME_MS });
    expect(adapterCa.credentialsFor(Uint8Array.of(1, 2, 3))).toBeInstanceOf(DerError);
  });

  const other = selfSignedCa("Other");
  const encryptedKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "pw" }).toString();
  const leafPem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(clientCertificate("leaf")).toString("base64")}\n-----END CERTIFICATE-----\n`;
  const startupErrors: Array<[string, () => AdapterCa, string]> = [
    ["no certificate in the CA file", () => new AdapterCa({ caCertPem: "junk", caKeyPem: ca.keyPem, certificateLifetimeMs: LIFETIME_MS }), "holds no PEM CERTIFICATE"],
    ["a certificate that is not a CA", () => new AdapterCa({ caCertPem: leafPem, caKeyPem: ca.keyPem, certificateLifetimeMs: LIFETIME_MS }), "is not a CA"],
    ["a key of another certificate", () => new AdapterCa({ caCertPem: ca.certPem, caKeyPem: other.keyPem, certificateLifetimeMs: LIFETIME_MS }), "does not belong"],
    ["an encrypted key without its password", () => new AdapterCa({ caCertPem: ca.certPem, caKeyPem: encryptedKey, certificateLifetimeMs: LIFETIME_MS }), "adapter.ssl_cert_login.ca_password"],
    ["a lifetime under a minute", () => new AdapterCa({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, certificateLifetimeMs: 1000 }), "at least 60000 ms"],
  ];
  for (const [name, build, fragment] of startupErrors) {
    test(`refuses to start with ${name}`, () => {
      expect(build).toThrow(fragment);
    });
  }
});
