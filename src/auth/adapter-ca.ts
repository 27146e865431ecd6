/**
 * The adapter CA: how a client that logged in to the adapter with a TLS certificate logs in to
 * RabbitMQ as the same user, without a password and without the adapter holding any power
 * RabbitMQ does not check.
 *
 * RabbitMQ 3.10 has no way for one AMQP user to act with another user's permissions (the
 * `impersonator` tag only lets a connection set `user_id` on messages). What it does have is
 * the EXTERNAL mechanism (rabbitmq_auth_mechanism_ssl): the user is the name in the TLS client
 * certificate, RabbitMQ checks that the user exists and may use the vhost, and applies that
 * user's permissions to everything the connection does. So for each certificate client the
 * adapter presents a certificate of its own to RabbitMQ's AMQPS listener:
 *
 * - signed by the adapter CA (`adapter.ssl_cert_login.ca_certfile` / `ca_keyfile`), a CA that
 *   RabbitMQ trusts (`ssl_options.cacertfile`) and that signs nothing else;
 * - with the client certificate's subject (and subjectAltName extension) copied byte for byte,
 *   so RabbitMQ derives the user name itself, with its own `ssl_cert_login_from`, from exactly
 *   the bytes the client's certificate holds: the adapter never composes a name for RabbitMQ;
 * - for a key pair that exists only in this process's memory, valid for
 *   `adapter.ssl_cert_login.certificate_lifetime` (default 10 minutes) and re-minted at half
 *   of it. It is only ever used for the TLS handshake of the adapter's own AMQP connections.
 *
 * Only a client certificate that the MQTT TLS listener verified against `ssl_options.cacertfile`
 * reaches this module (listeners/tls.ts decides that); the trust model is in the README.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { OID_SUBJECT_ALT_NAME, parseCertificate, pemBlocks, toPem } from "./certificate.ts";
import {
  DerError,
  boolean,
  explicit,
  nullValue,
  octetString,
  oid,
  readTlv,
  sequence,
  smallInteger,
  time,
  tlv,
  Tag,
  unsignedInteger,
} from "./der.ts";

/** PEM client credentials for amqplib's TLS options (`cert`, `key`). */
export interface MintedCredentials {
  cert: string;
  key: string;
  /** When RabbitMQ stops accepting the certificate, ms since the epoch. */
  notAfterMs: number;
}

export interface AdapterCaOptions {
  /** PEM of the adapter CA certificate (the first CERTIFICATE block is used). */
  caCertPem: string;
  /** PEM of its private key (EC, RSA or Ed25519), possibly encrypted. */
  caKeyPem: string;
  caKeyPassphrase?: string | null;
  /** Lifetime of a minted certificate, ms. */
  certificateLifetimeMs: number;
  /** ms since the epoch; Date.now by default (tests pass their own). */
  now?: () => number;
}

/** How far back notBefore reaches, for a RabbitMQ host whose clock is behind ours. */
const CLOCK_SKEW_MS = 5 * 60_000;
/** Identities whose certificate is kept for reuse; beyond this the oldest are forgotten. */
const MAX_CACHED = 10_000;

const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_KEY_USAGE = "2.5.29.15";
const OID_EXT_KEY_USAGE = "2.5.29.37";
const OID_SUBJECT_KEY_ID = "2.5.29.14";
const OID_AUTHORITY_KEY_ID = "2.5.29.35";
const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

interface SignatureScheme {
  algorithm: Uint8Array;
  digest: string | null;
}

function signatureScheme(key: KeyObject): SignatureScheme {
  switch (key.asymmetricKeyType) {
    case "ec":
      return { algorithm: sequence(oid("1.2.840.10045.4.3.2")), digest: "sha256" };
    case "rsa":
      return { algorithm: sequence(oid("1.2.840.113549.1.1.11"), nullValue()), digest: "sha256" };
    case "ed25519":
      return { algorithm: sequence(oid("1.3.101.112")), digest: null };
    default:
      throw new Error(`the adapter CA key is ${key.asymmetricKeyType}; expected an EC, RSA or Ed25519 key`);
  }
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

export class AdapterCa {
  private readonly caSubject: Uint8Array;
  private readonly caKeyId: Uint8Array | undefined;
  private readonly caKey: KeyObject;
  private readonly scheme: SignatureScheme;
  private readonly spki: Uint8Array;
  private readonly keyPem: string;
  private readonly now: () => number;
  /** Identity (subject + SAN bytes, hex) → minted certificate; Map order = insertion order. */
  private readonly cache = new Map<string, MintedCredentials>();

  /** Throws (a startup error) when the CA certificate or key is unusable or they do not match. */
  constructor(private readonly options: AdapterCaOptions) {
    const caDer = pemBlocks(options.caCertPem, "CERTIFICATE")[0];
    if (caDer === undefined) throw new Error("the adapter CA file holds no PEM CERTIFICATE");
    const ca = new X509Certificate(caDer);
    if (!ca.ca) throw new Error(`the adapter CA certificate (${ca.subject.replaceAll("\n", ", ")}) is not a CA (basicConstraints CA:TRUE)`);
    try {
      this.caKey = createPrivateKey({ key: options.caKeyPem, passphrase: options.caKeyPassphrase ?? undefined });
    } catch (error) {
      throw new Error(`cannot read the adapter CA key: ${(error as Error).message}${options.caKeyPassphrase ? "" : " (encrypted keys need adapter.ssl_cert_login.ca_password)"}`);
    }
    if (!ca.checkPrivateKey(this.caKey)) throw new Error("the adapter CA key does not belong to the adapter CA certificate");
    if (!(options.certificateLifetimeMs >= 60_000)) throw new Error(`certificate lifetime must be at least 60000 ms, got ${options.certificateLifetimeMs}`);
    this.scheme = signatureScheme(this.caKey);
    const parsed = parseCertificate(caDer);
    if (parsed instanceof DerError) throw new Error(`the adapter CA certificate is not valid DER: ${parsed.message}`);
    this.caSubject = parsed.subject.encoded.slice();
    const skid = parsed.extensions.find((e) => e.oid === OID_SUBJECT_KEY_ID);
    const skidValue = skid === undefined ? undefined : readTlv(skid.value);
    this.caKeyId = skidValue === undefined || skidValue instanceof DerError ? undefined : skidValue.value.slice();
    // One key pair for every minted certificate: it never leaves this process.
    const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.spki = new Uint8Array(pair.publicKey.export({ type: "spki", format: "der" }));
    this.keyPem = pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    this.now = options.now ?? Date.now;
  }

  /**
   * Credentials that make RabbitMQ's EXTERNAL mechanism see the identity of `clientCertificate`
   * (DER, already verified by the TLS listener). Reused until half their lifetime has passed.
   */
  credentialsFor(clientCertificate: Uint8Array): MintedCredentials | DerError {
    const parsed = parseCertificate(clientCertificate);
    if (parsed instanceof DerError) return parsed;
    const san = parsed.extensions.find((e) => e.oid === OID_SUBJECT_ALT_NAME);
    const identity = Buffer.from(parsed.subject.encoded).toString("hex") + ":" + (san ? Buffer.from(san.encoded).toString("hex") : "");
    const now = this.now();
    const cached = this.cache.get(identity);
    if (cached !== undefined && cached.notAfterMs - now > this.options.certificateLifetimeMs / 2) return cached;
    this.cache.delete(identity);
    const minted = this.mint(parsed.subject.encoded, san?.encoded, now);
    this.cache.set(identity, minted);
    if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    return minted;
  }

  /** `credentialsFor` in the shape the AMQP backend takes (its ExternalCredentials). */
  externalCredentials(clientCertificate: Uint8Array): { cert: string; key: string } | { error: string } {
    const minted = this.credentialsFor(clientCertificate);
    return minted instanceof DerError ? { error: `unreadable client certificate: ${minted.message}` } : minted;
  }

  private mint(subject: Uint8Array, sanExtension: Uint8Array | undefined, nowMs: number): MintedCredentials {
    // Whole seconds: X.509 times have no fractions, so notAfter is what RabbitMQ will see.
    const notBeforeMs = Math.floor((nowMs - CLOCK_SKEW_MS) / 1000) * 1000;
    const notAfterMs = Math.floor((nowMs + this.options.certificateLifetimeMs) / 1000) * 1000;
    const serial = randomBytes(16);
    serial[0]! &= 0x7f;
    const extensions = [
      extension(OID_BASIC_CONSTRAINTS, true, sequence()),
      // digitalSignature only: a BIT STRING with 7 unused bits and bit 0 set.
      extension(OID_KEY_USAGE, true, tlv(Tag.BitString, Uint8Array.of(7, 0x80))),
      extension(OID_EXT_KEY_USAGE, false, sequence(oid(OID_CLIENT_AUTH))),
    ];
    if (this.caKeyId !== undefined) extensions.push(extension(OID_AUTHORITY_KEY_ID, false, sequence(tlv(0x80, this.caKeyId))));
    if (sanExtension !== undefined) extensions.push(sanExtension);
    const tbs = sequence(
      explicit(0, smallInteger(2)),
      unsignedInteger(serial),
      this.scheme.algorithm,
      this.caSubject,
      sequence(time(notBeforeMs), time(notAfterMs)),
      subject,
      this.spki,
      explicit(3, sequence(...extensions)),
    );
    const signature = sign(this.scheme.digest, tbs, this.caKey);
    const certificate = sequence(tbs, this.scheme.algorithm, tlv(Tag.BitString, Uint8Array.of(0), signature));
    return { cert: toPem(certificate, "CERTIFICATE"), key: this.keyPem, notAfterMs };
  }
}

/** The `adapter.ssl_cert_login.*` keys (config's certLoginCa). */
export interface AdapterCaConfig {
  certfile: string | null;
  keyfile: string | null;
  password: string | null;
  certificateLifetimeMs: number;
}

/** The adapter CA from its config keys; throws a startup error that names the key at fault. */
export function loadAdapterCa(config: AdapterCaConfig): AdapterCa {
  const read = (path: string | null, key: string): string => {
    if (path === null) throw new Error(`mqtt.ssl_cert_login = true needs ${key} (the adapter CA RabbitMQ trusts for EXTERNAL logins)`);
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      throw new Error(`${key} = ${path}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  };
  const caCertPem = read(config.certfile, "adapter.ssl_cert_login.ca_certfile");
  const caKeyPem = read(config.keyfile, "adapter.ssl_cert_login.ca_keyfile");
  try {
    return new AdapterCa({ caCertPem, caKeyPem, caKeyPassphrase: config.password, certificateLifetimeMs: config.certificateLifetimeMs });
  } catch (error) {
    throw new Error(`adapter.ssl_cert_login: ${(error as Error).message}`);
  }
}
