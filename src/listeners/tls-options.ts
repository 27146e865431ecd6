/**
 * RabbitMQ's `ssl_options.*` (and `web_mqtt.ssl.*`) mapped onto Bun's TLS options. Bun's TLS is
 * BoringSSL, not Erlang's ssl, so a few settings have no exact equivalent; those differences are
 * returned as warnings for the startup log instead of being dropped silently:
 *
 * | RabbitMQ                          | Bun                                                          |
 * |-----------------------------------|--------------------------------------------------------------|
 * | certfile / keyfile / password     | cert / key / passphrase (file contents)                      |
 * | cacertfile                        | ca: the CAs client certificates must chain to                |
 * | verify = verify_peer              | requestCert (verify_none: no certificate is asked for)       |
 * | fail_if_no_peer_cert = true       | rejectUnauthorized (the handshake fails without one)         |
 * | versions.N = tlsv1.2 …            | secureOptions SSL_OP_NO_TLSv1_x for every version not listed |
 * | ciphers.N = ECDHE-… (OpenSSL)     | ciphers, joined with ":" — TLS 1.2 and older only: BoringSSL |
 * |                                   | has a fixed TLS 1.3 suite list, so TLS_* names are ignored   |
 * | honor_cipher_order = true         | SSL_OP_CIPHER_SERVER_PREFERENCE                              |
 * | depth                             | not available (warning)                                      |
 *
 * verify_peer without fail_if_no_peer_cert behaves as in Erlang: a client without a certificate is
 * served, a client with a certificate that does not verify is refused (listeners/tls.ts closes it
 * right after the handshake, because BoringSSL is told not to reject it by itself).
 */
import { constants } from "node:crypto";
import { readFileSync } from "node:fs";
import type { TLSOptions } from "bun";
import type { TlsOptions } from "../config/index.ts";

/** The Bun options and what could not be mapped exactly. */
export interface MappedTlsOptions {
  options: TLSOptions;
  warnings: string[];
}

const VERSION_FLAGS: Record<string, number> = {
  tlsv1: constants.SSL_OP_NO_TLSv1,
  "tlsv1.1": constants.SSL_OP_NO_TLSv1_1,
  "tlsv1.2": constants.SSL_OP_NO_TLSv1_2,
  "tlsv1.3": constants.SSL_OP_NO_TLSv1_3,
};

function readPem(path: string, key: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`${key} = ${path}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/**
 * Maps `tls` (keys under `prefix`, e.g. "ssl_options") to Bun's TLS options. Throws (a startup
 * error) when a file cannot be read or the certificate / key is missing.
 */
export function mapTlsOptions(tls: TlsOptions, prefix: string): MappedTlsOptions {
  const warnings: string[] = [];
  if (tls.certfile === null || tls.keyfile === null) {
    throw new Error(`a TLS listener needs ${prefix}.certfile and ${prefix}.keyfile`);
  }
  const options: TLSOptions = {
    cert: readPem(tls.certfile, `${prefix}.certfile`),
    key: readPem(tls.keyfile, `${prefix}.keyfile`),
  };
  if (tls.password !== null) options.passphrase = tls.password;
  if (tls.cacertfile !== null) options.ca = readPem(tls.cacertfile, `${prefix}.cacertfile`);
  const verifyPeer = tls.verify === "verify_peer";
  options.requestCert = verifyPeer;
  options.rejectUnauthorized = verifyPeer && tls.failIfNoPeerCert;
  if (verifyPeer && tls.cacertfile === null) {
    warnings.push(`${prefix}.verify = verify_peer without ${prefix}.cacertfile: client certificates are checked against Bun's built-in public CAs`);
  }
  if (!verifyPeer && tls.failIfNoPeerCert) {
    warnings.push(`${prefix}.fail_if_no_peer_cert = true has no effect with ${prefix}.verify = verify_none (no certificate is asked for)`);
  }

  let secureOptions = 0;
  if (tls.versions.length > 0) {
    for (const [version, flag] of Object.entries(VERSION_FLAGS)) {
      if (!tls.versions.includes(version as TlsOptions["versions"][number])) secureOptions |= flag;
    }
  }
  if (tls.honorCipherOrder === true) secureOptions |= constants.SSL_OP_CIPHER_SERVER_PREFERENCE;
  if (secureOptions !== 0) options.secureOptions = secureOptions;

  const tls13 = tls.ciphers.filter((name) => name.startsWith("TLS_"));
  const older = tls.ciphers.filter((name) => !name.startsWith("TLS_"));
  if (tls13.length > 0) {
    warnings.push(`${prefix}.ciphers: ${tls13.join(", ")} ignored: Bun's TLS (BoringSSL) always offers its fixed TLS 1.3 cipher suites`);
  }
  if (older.length > 0) options.ciphers = older.join(":");
  if (tls.depth !== null) warnings.push(`${prefix}.depth = ${tls.depth} ignored: Bun's TLS has no chain depth limit setting`);
  return { options, warnings };
}
