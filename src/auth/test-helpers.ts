/**
 * Certificates built in memory for the unit tests of this folder (no openssl, no files): a Name
 * from attribute lists, a certificate around it, and a self-signed CA that really signs.
 * Integration tests use openssl-made certificates instead (test/support/certs.ts).
 */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { boolean, explicit, octetString, oid, sequence, smallInteger, tlv, time, Tag, unsignedInteger, utf8String } from "./der.ts";
import { toPem } from "./certificate.ts";

/** One attribute: OID (or a short name below) and an encoded value (default UTF8String of text). */
export type TestAttribute = [type: string, value: string | Uint8Array];

const SHORT: Record<string, string> = { CN: "2.5.4.3", O: "2.5.4.10", OU: "2.5.4.11", C: "2.5.4.6", L: "2.5.4.7", ST: "2.5.4.8", DC: "0.9.2342.19200300.100.1.25", EMAIL: "1.2.840.113549.1.9.1", UID: "0.9.2342.19200300.100.1.1" };

/** An encoded string value with an explicit tag (PrintableString, BMPString, ...). */
export function stringValue(tag: number, bytes: number[] | Uint8Array): Uint8Array {
  return tlv(tag, Uint8Array.from(bytes));
}

/** A Name from RDNs in certificate order; each RDN is one or more attributes. */
export function buildName(rdns: TestAttribute[][]): Uint8Array {
  return sequence(
    ...rdns.map((rdn) =>
      tlv(Tag.Set, ...rdn.map(([type, value]) => sequence(oid(SHORT[type] ?? type), typeof value === "string" ? utf8String(value) : value))),
    ),
  );
}

/** A subjectAltName extension from GeneralName elements (e.g. `tlv(0x82, dns bytes)`). */
export function sanExtension(names: Uint8Array[], critical = false): Uint8Array {
  const value = octetString(sequence(...names));
  return critical ? sequence(oid("2.5.29.17"), boolean(true), value) : sequence(oid("2.5.29.17"), value);
}

const ECDSA_SHA256 = sequence(oid("1.2.840.10045.4.3.2"));

/** A certificate (DER) for `subject`; signed by `signer` when given, else with a dummy signature. */
export function buildCertificate(options: {
  subject: Uint8Array;
  issuer?: Uint8Array;
  extensions?: Uint8Array[];
  publicKey?: KeyObject;
  signer?: KeyObject;
}): Uint8Array {
  const publicKey = options.publicKey ?? generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  const now = Date.now();
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(Uint8Array.of(1, 2, 3)),
    ECDSA_SHA256,
    options.issuer ?? options.subject,
    sequence(time(now - 3600_000), time(now + 86400_000)),
    options.subject,
    new Uint8Array(publicKey.export({ type: "spki", format: "der" })),
    ...(options.extensions && options.extensions.length > 0 ? [explicit(3, sequence(...options.extensions))] : []),
  );
  const signature = options.signer ? sign("sha256", tbs, options.signer) : Uint8Array.of(0x30, 0x00);
  return sequence(tbs, ECDSA_SHA256, tlv(Tag.BitString, Uint8Array.of(0), signature));
}

/** A self-signed EC CA (basicConstraints CA:TRUE, with a subjectKeyIdentifier) as PEM. */
export function selfSignedCa(commonName: string): { certPem: string; keyPem: string; der: Uint8Array; publicKey: KeyObject } {
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const der = buildCertificate({
    subject: buildName([[["CN", commonName]]]),
    publicKey: pair.publicKey,
    signer: pair.privateKey,
    extensions: [
      sequence(oid("2.5.29.19"), boolean(true), octetString(sequence(boolean(true)))),
      sequence(oid("2.5.29.14"), octetString(octetString(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)))),
    ],
  });
  return {
    certPem: toPem(der, "CERTIFICATE"),
    keyPem: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    der,
    publicKey: pair.publicKey,
  };
}
