/**
 * The parts of an X.509 certificate (RFC 5280 §4.1) that certificate login needs: the subject
 * Name and the extensions, as views into the DER. Bun's TLS already verified the signature and
 * the chain before we get here; this only finds fields.
 *
 *   Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
 *   TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
 *                                 validity, subject, subjectPublicKeyInfo,
 *                                 [1] issuerUniqueID OPTIONAL, [2] subjectUniqueID OPTIONAL,
 *                                 [3] extensions OPTIONAL }
 */
import { DerError, decodeOid, readChildren, readTlv, Tag, type Tlv } from "./der.ts";

/** OID of the subjectAltName extension. */
export const OID_SUBJECT_ALT_NAME = "2.5.29.17";

export interface CertificateExtension {
  oid: string;
  critical: boolean;
  /** Content of extnValue (the extension's own DER). */
  value: Uint8Array;
  /** The whole Extension element, to copy it verbatim. */
  encoded: Uint8Array;
}

export interface ParsedCertificate {
  /** The subject Name (a SEQUENCE of RDNs), whole element. */
  subject: Tlv;
  issuer: Tlv;
  extensions: CertificateExtension[];
}

/** Finds the subject, issuer and extensions of a DER certificate; a DerError when it is not one. */
export function parseCertificate(der: Uint8Array): ParsedCertificate | DerError {
  const certificate = readTlv(der);
  if (certificate instanceof DerError) return certificate;
  if (certificate.tag !== Tag.Sequence) return new DerError("not a certificate: expected a SEQUENCE");
  const parts = readChildren(certificate.value);
  if (parts instanceof DerError) return parts;
  const tbs = parts[0];
  if (tbs === undefined || tbs.tag !== Tag.Sequence) return new DerError("not a certificate: no TBSCertificate");
  const fields = readChildren(tbs.value);
  if (fields instanceof DerError) return fields;
  // Skip the optional [0] version.
  const rest = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
  const [, , issuer, , subject, , ...optional] = rest;
  if (issuer?.tag !== Tag.Sequence || subject?.tag !== Tag.Sequence) return new DerError("TBSCertificate has no issuer or subject Name");
  const extensions: CertificateExtension[] = [];
  const wrapped = optional.find((field) => field.tag === 0xa3);
  if (wrapped !== undefined) {
    const inner = readTlv(wrapped.value);
    if (inner instanceof DerError) return inner;
    const list = readChildren(inner.value);
    if (list instanceof DerError) return list;
    for (const element of list) {
      const items = readChildren(element.value);
      if (items instanceof DerError) return items;
      const id = items[0];
      if (id?.tag !== Tag.ObjectIdentifier) return new DerError("extension without an OID");
      const dotted = decodeOid(id.value);
      if (dotted instanceof DerError) return dotted;
      const critical = items[1]?.tag === Tag.Boolean && items[1].value[0] !== 0;
      const value = items[items.length - 1];
      if (value?.tag !== Tag.OctetString) return new DerError(`extension ${dotted} has no extnValue`);
      extensions.push({ oid: dotted, critical, value: value.value, encoded: element.encoded });
    }
  }
  return { subject, issuer, extensions };
}

/** PEM armour → DER of every block with `label` (e.g. CERTIFICATE), in order. */
export function pemBlocks(pem: string, label: string): Uint8Array[] {
  const pattern = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, "g");
  return [...pem.matchAll(pattern)].map((match) => Uint8Array.from(Buffer.from(match[1]!.replace(/\s+/g, ""), "base64")));
}

/** DER → PEM with 64-character lines. */
export function toPem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  return `-----BEGIN ${label}-----\n${base64.replace(/.{64}/g, "$&\n").replace(/\n$/, "")}\n-----END ${label}-----\n`;
}
