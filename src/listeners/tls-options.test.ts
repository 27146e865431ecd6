import { describe, expect, test } from "bun:test";
import { constants } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDefaults, type TlsOptions } from "../config/index.ts";
import { mapTlsOptions } from "./tls-options.ts";

const dir = mkdtempSync(join(tmpdir(), "tls-options-test-"));
const file = (name: string) => {
  const path = join(dir, name);
  writeFileSync(path, `${name} contents`);
  return path;
};
const BASE: TlsOptions = { ...buildDefaults().tls, certfile: file("cert.pem"), keyfile: file("key.pem") };
const CA = file("ca.pem");
const NO = constants;

describe("ssl_options.* → Bun TLS options", () => {
  const cases: Array<[string, Partial<TlsOptions>, Record<string, unknown>]> = [
    ["certificate and key are read from their files; verify_none asks for no client certificate", {}, { cert: "cert.pem contents", key: "key.pem contents", requestCert: false, rejectUnauthorized: false }],
    ["password and cacertfile", { password: "pw", cacertfile: CA }, { passphrase: "pw", ca: "ca.pem contents" }],
    ["verify_peer asks for a certificate; without fail_if_no_peer_cert a client may have none", { verify: "verify_peer", cacertfile: CA }, { requestCert: true, rejectUnauthorized: false }],
    ["verify_peer + fail_if_no_peer_cert refuses clients without one in the handshake", { verify: "verify_peer", failIfNoPeerCert: true, cacertfile: CA }, { requestCert: true, rejectUnauthorized: true }],
    ["versions: every version not listed is switched off", { versions: ["tlsv1.2", "tlsv1.3"] }, { secureOptions: NO.SSL_OP_NO_TLSv1 | NO.SSL_OP_NO_TLSv1_1 }],
    ["only TLS 1.3", { versions: ["tlsv1.3"] }, { secureOptions: NO.SSL_OP_NO_TLSv1 | NO.SSL_OP_NO_TLSv1_1 | NO.SSL_OP_NO_TLSv1_2 }],
    ["honor_cipher_order", { honorCipherOrder: true }, { secureOptions: NO.SSL_OP_CIPHER_SERVER_PREFERENCE }],
    ["ciphers joined in order (OpenSSL names)", { ciphers: ["ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"] }, { ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384" }],
  ];
  for (const [name, tls, expected] of cases) {
    test(name, () => {
      expect(mapTlsOptions({ ...BASE, ...tls }, "ssl_options").options).toMatchObject(expected);
    });
  }

  test("no versions listed leaves the library's defaults (no secureOptions)", () => {
    expect(mapTlsOptions(BASE, "ssl_options").options.secureOptions).toBeUndefined();
  });

  const warnings: Array<[string, Partial<TlsOptions>, string]> = [
    ["TLS 1.3 suite names, which BoringSSL does not let us choose", { ciphers: ["TLS_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"] }, "ssl_options.ciphers: TLS_AES_256_GCM_SHA384 ignored"],
    ["depth", { depth: 3 }, "ssl_options.depth = 3 ignored"],
    ["verify_peer without a CA file", { verify: "verify_peer" }, "without ssl_options.cacertfile"],
    ["fail_if_no_peer_cert without verify_peer", { failIfNoPeerCert: true }, "has no effect with ssl_options.verify = verify_none"],
  ];
  for (const [name, tls, fragment] of warnings) {
    test(`warns about ${name}`, () => {
      const mapped = mapTlsOptions({ ...BASE, ...tls }, "ssl_options");
      expect(mapped.warnings.join("\n")).toContain(fragment);
    });
  }

  test("the TLS 1.3 names are left out of the cipher string", () => {
    expect(mapTlsOptions({ ...BASE, ciphers: ["TLS_AES_256_GCM_SHA384"] }, "ssl_options").options.ciphers).toBeUndefined();
  });

  test("a missing certificate, or an unreadable file, is a startup error naming the key", () => {
    expect(() => mapTlsOptions({ ...BASE, keyfile: null }, "web_mqtt.ssl")).toThrow("needs web_mqtt.ssl.certfile and web_mqtt.ssl.keyfile");
    expect(() => mapTlsOptions({ ...BASE, cacertfile: join(dir, "nope.pem") }, "ssl_options")).toThrow(/ssl_options\.cacertfile = .*nope\.pem: cannot read the file \(ENOENT\)/);
  });
});
