import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AmqpTlsOptions } from "../config/index.ts";
import { amqpTlsSocketOptions } from "./amqp-tls.ts";

const dir = mkdtempSync(join(tmpdir(), "amqp-tls-test-"));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const CA = file("ca.pem", "CA PEM");
const CERT = file("cert.pem", "CERT PEM");
const KEY = file("key.pem", "KEY PEM");

const NONE: AmqpTlsOptions = { cacertfile: null, certfile: null, keyfile: null, password: null, verify: "verify_peer", serverNameIndication: null };

describe("adapter.amqp_ssl_options.* → amqplib socket options", () => {
  const cases: Array<[string, string, Partial<AmqpTlsOptions>, Record<string, unknown>]> = [
    ["amqp:// gets no TLS options at all", "amqp://localhost", { cacertfile: CA }, {}],
    ["verify_peer checks RabbitMQ's certificate against the CA file", "amqps://rabbit.example", { cacertfile: CA }, { rejectUnauthorized: true, ca: "CA PEM" }],
    ["the adapter's own client certificate, with its passphrase", "amqps://rabbit.example", { certfile: CERT, keyfile: KEY, password: "pw" }, { rejectUnauthorized: true, cert: "CERT PEM", key: "KEY PEM", passphrase: "pw" }],
    ["verify_none checks nothing", "amqps://rabbit.example", { verify: "verify_none" }, { rejectUnauthorized: false }],
    ["server_name_indication sets the name sent and checked", "amqps://10.0.0.5:5671", { serverNameIndication: "rabbit.example" }, { rejectUnauthorized: true, servername: "rabbit.example" }],
  ];
  for (const [name, url, tls, expected] of cases) {
    test(name, () => {
      expect(amqpTlsSocketOptions({ ...NONE, ...tls }, url).options).toEqual(expected);
    });
  }

  test("verify_none is reported as a warning", () => {
    expect(amqpTlsSocketOptions({ ...NONE, verify: "verify_none" }, "amqps://h").warnings[0]).toContain("verify = verify_none");
  });

  const errors: Array<[string, string, Partial<AmqpTlsOptions>, string]> = [
    ["an IP address without server_name_indication (Bun refuses an IP as server name)", "amqps://127.0.0.1:5671", {}, "set adapter.amqp_ssl_options.server_name_indication to a host name"],
    ["an IPv6 address without server_name_indication", "amqps://[::1]:5671", {}, "TLS cannot use an IP address as server name"],
    ["server_name_indication = disable (amqplib always sends one)", "amqps://rabbit.example", { serverNameIndication: "disable" }, "disable is not supported"],
    ["a certificate without its key", "amqps://rabbit.example", { certfile: CERT }, "certfile and adapter.amqp_ssl_options.keyfile go together"],
    ["an unreadable CA file", "amqps://rabbit.example", { cacertfile: join(dir, "missing.pem") }, "adapter.amqp_ssl_options.cacertfile = "],
  ];
  for (const [name, url, tls, fragment] of errors) {
    test(`refuses ${name} at startup`, () => {
      expect(() => amqpTlsSocketOptions({ ...NONE, ...tls }, url)).toThrow(fragment);
    });
  }
});
