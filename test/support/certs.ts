/**
 * Certificates made with the `openssl` command at test time, in a temp dir removed after the
 * last test file. Nothing is checked in: every run has fresh keys, and the certificates say
 * exactly what the tests need (a server name for 127.0.0.1, a client subject, an expired one).
 *
 *   const pki = createTestPki();                       // CA, server cert for localhost/127.0.0.1/::1
 *   const alice = pki.issue({ subject: "/O=Acme/CN=alice" });
 *   const stranger = pki.otherCa.issue({ subject: "/CN=alice" });    // signed by a CA nobody trusts
 *   const old = pki.issue({ subject: "/CN=alice", expired: true });  // valid 2020-01-01..2020-01-02
 *
 * Keys are EC P-256: fast to generate on 2 cores, and every client under test (mosquitto,
 * MQTT.js, Chromium, Erlang's ssl for RabbitMQ) speaks ECDSA.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerTeardown } from "./teardown.ts";

/** A certificate and its key as PEM files, plus their contents. */
export interface IssuedCert {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface IssueOptions {
  /** openssl's `-subj` form, e.g. `/C=US/O=Acme/CN=device-1` (first RDN first). */
  subject: string;
  /** subjectAltName entries, e.g. `DNS:localhost`, `IP:127.0.0.1`. */
  san?: string[];
  /** Valid from 2020-01-01 to 2020-01-02 (long expired). */
  expired?: boolean;
  /** Encrypt the key file with this passphrase (AES-256). */
  passphrase?: string;
  /** Make a CA certificate (basicConstraints CA:TRUE) that can sign others. */
  isCa?: boolean;
}

export interface TestCa extends IssuedCert {
  /** A certificate signed by this CA. */
  issue(options: IssueOptions): IssuedCert;
}

export interface TestPki {
  dir: string;
  /** The CA the servers under test trust for client certificates. */
  ca: TestCa;
  /** Server certificate (signed by `ca`) for localhost, 127.0.0.1 and ::1. */
  server: IssuedCert;
  /** A second, unrelated CA: its certificates must be refused. */
  otherCa: TestCa;
  /** Shortcut for `ca.issue`. */
  issue(options: IssueOptions): IssuedCert;
}

const tempDirs: string[] = [];
registerTeardown("test certificates", () => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

let counter = 0;

/** Runs openssl; throws with its output when it fails (a broken test setup, not a test result). */
function openssl(args: string[], cwd: string): void {
  const run = spawnSync("openssl", args, { cwd, encoding: "utf8", timeout: 30_000 });
  if (run.status !== 0) {
    throw new Error(`openssl ${args.join(" ")} failed (exit ${run.status ?? run.signal}): ${run.stderr || run.stdout}`);
  }
}

function makeKey(dir: string, name: string, passphrase?: string): string {
  const keyFile = join(dir, `${name}.key`);
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile], dir);
  if (passphrase !== undefined) {
    const plain = join(dir, `${name}.plain.key`);
    openssl(["pkey", "-in", keyFile, "-out", plain], dir);
    openssl(["pkey", "-in", plain, "-aes256", "-passout", `pass:${passphrase}`, "-out", keyFile], dir);
    rmSync(plain);
  }
  return keyFile;
}

/**
 * Extensions of an issued certificate, as an openssl config section. Leaf certificates get
 * both serverAuth and clientAuth so one helper serves both ends of a connection.
 */
function extensionsConfig(options: IssueOptions): string {
  const lines = ["[ext]", "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid"];
  if (options.isCa) {
    lines.push("basicConstraints = critical, CA:TRUE", "keyUsage = critical, keyCertSign, cRLSign, digitalSignature");
  } else {
    lines.push("basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature", "extendedKeyUsage = serverAuth, clientAuth");
  }
  if (options.san !== undefined && options.san.length > 0) lines.push(`subjectAltName = ${options.san.join(", ")}`);
  return lines.join("\n") + "\n";
}

function readIssued(certFile: string, keyFile: string): IssuedCert {
  return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
}

/**
 * Signs a request with `openssl ca`: the only openssl command that sets arbitrary start and end
 * dates in OpenSSL 3.0 (so an expired certificate can be made without a fake clock).
 */
function signWithCa(dir: string, ca: IssuedCert, csr: string, certFile: string, options: IssueOptions): void {
  const db = join(dir, `ca-db-${++counter}`);
  mkdirSync(db);
  writeFileSync(join(db, "index.txt"), "");
  const conf = join(db, "ca.cnf");
  writeFileSync(
    conf,
    [
      "[ca]",
      "default_ca = test_ca",
      "[test_ca]",
      `database = ${join(db, "index.txt")}`,
      `new_certs_dir = ${db}`,
      `serial = ${join(db, "serial")}`,
      `certificate = ${ca.certFile}`,
      `private_key = ${ca.keyFile}`,
      "default_md = sha256",
      "policy = any",
      "unique_subject = no",
      "copy_extensions = none",
      "email_in_dn = yes",
      "preserve = yes",
      "[any]",
      "commonName = optional",
      "organizationName = optional",
      "organizationalUnitName = optional",
      "countryName = optional",
      "stateOrProvinceName = optional",
      "localityName = optional",
      "emailAddress = optional",
      "domainComponent = optional",
      extensionsConfig(options),
    ].join("\n"),
  );
  const dates = options.expired
    ? ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"]
    : ["-startdate", utcTime(Date.now() - 3600_000), "-enddate", utcTime(Date.now() + 30 * 86400_000)];
  openssl(
    ["ca", "-batch", "-config", conf, "-in", csr, "-out", certFile, "-notext", "-extensions", "ext", "-multivalue-rdn", "-utf8", "-create_serial", "-preserveDN", ...dates],
    dir,
  );
}

/** openssl ca's date form: YYYYMMDDHHMMSSZ. */
function utcTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

function makeCa(dir: string, name: string, subject: string): TestCa {
  const keyFile = makeKey(dir, name);
  const certFile = join(dir, `${name}.crt`);
  const extFile = join(dir, `${name}.ext.cnf`);
  writeFileSync(extFile, "[req]\ndistinguished_name = dn\n[dn]\n" + extensionsConfig({ subject, isCa: true }).replace("authorityKeyIdentifier = keyid\n", ""));
  openssl(["req", "-x509", "-new", "-key", keyFile, "-subj", subject, "-days", "30", "-sha256", "-config", extFile, "-extensions", "ext", "-out", certFile], dir);
  const ca = readIssued(certFile, keyFile);
  return {
    ...ca,
    issue: (options) => issueWith(dir, ca, options),
  };
}

function issueWith(dir: string, ca: IssuedCert, options: IssueOptions): IssuedCert {
  const name = `cert-${++counter}`;
  const keyFile = makeKey(dir, name, options.passphrase);
  const csr = join(dir, `${name}.csr`);
  const pass = options.passphrase === undefined ? [] : ["-passin", `pass:${options.passphrase}`];
  openssl(["req", "-new", "-key", keyFile, ...pass, "-subj", options.subject, "-multivalue-rdn", "-utf8", "-out", csr], dir);
  const certFile = join(dir, `${name}.crt`);
  signWithCa(dir, ca, csr, certFile, options);
  return readIssued(certFile, keyFile);
}

/** A fresh CA, server certificate and unrelated second CA in a new temp dir. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "rmqmqtt-certs-"));
  tempDirs.push(dir);
  const ca = makeCa(dir, "ca", "/O=rabbitmq-mqtt tests/CN=Test CA");
  const otherCa = makeCa(dir, "other-ca", "/O=Someone Else/CN=Untrusted CA");
  const server = ca.issue({ subject: "/O=rabbitmq-mqtt tests/CN=localhost", san: ["DNS:localhost", "IP:127.0.0.1", "IP:::1"] });
  return { dir, ca, server, otherCa, issue: ca.issue };
}

/** A CA of its own in a new temp dir (e.g. the adapter CA that RabbitMQ trusts for EXTERNAL logins). */
export function createTestCa(subject: string): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "rmqmqtt-ca-"));
  tempDirs.push(dir);
  return makeCa(dir, "ca", subject);
}
