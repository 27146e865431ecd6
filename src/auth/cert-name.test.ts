import { describe, expect, test } from "bun:test";
import { certificateUserName, escapeRdnValue, type CertNameOptions } from "./cert-name.ts";
import { oid, sequence, tlv, Tag, utf8String } from "./der.ts";
import { buildCertificate, buildName, sanExtension, stringValue, type TestAttribute } from "./test-helpers.ts";

const DN: CertNameOptions = { from: "distinguished_name" };
const CN: CertNameOptions = { from: "common_name" };

const bytes = (text: string) => Array.from(new TextEncoder().encode(text));

// Expected strings are what RabbitMQ 3.10.8's rabbit_cert_info produces (its escape_rdn_value/1
// and format_rdn/1); the integration test tls-cert-login proves the match against RabbitMQ itself.
const subjectCases: Array<[name: string, rdns: TestAttribute[][], options: CertNameOptions, expected: string]> = [
  ["one CN", [[["CN", "device-1"]]], DN, "CN=device-1"],
  ["RDNs in reverse certificate order (RFC 4514)", [[["C", stringValue(Tag.PrintableString, bytes("US"))]], [["O", "Acme"]], [["CN", "d1"]]], DN, "CN=d1,O=Acme,C=US"],
  ["attributes of a multi-valued RDN joined with +", [[["O", "Acme"]], [["OU", "dev"], ["CN", "alice"]]], DN, "OU=dev+CN=alice,O=Acme"],
  ["special characters escaped with a backslash", [[["O", 'a"b+c,d;e<f>g\\h']]], DN, 'O=a\\"b\\+c\\,d\\;e\\<f\\>g\\\\h'],
  ["a leading space or # and a trailing space escaped", [[["CN", " x "]], [["OU", "#y"]]], DN, "OU=\\#y,CN=\\ x\\ "],
  ["non-ASCII UTF-8 escaped byte by byte in upper-case hex", [[["CN", "bob é"]]], DN, "CN=bob \\C3\\A9"],
  ["~ (126) and control characters escaped as RabbitMQ does", [[["CN", "a~b\tc"]]], DN, "CN=a\\7Eb\\09c"],
  ["TeletexString read as Latin-1", [[["CN", stringValue(Tag.TeletexString, [0x63, 0xe9])]]], DN, "CN=c\\C3\\A9"],
  ["BMPString read as UCS-2", [[["CN", stringValue(Tag.BmpString, [0, 0x61, 0x20, 0xac])]]], DN, "CN=a\\E2\\82\\AC"],
  ["UniversalString read as UCS-4", [[["CN", stringValue(Tag.UniversalString, [0, 0, 0, 0x7a])]]], DN, "CN=z"],
  ["RabbitMQ's names for DC, EMAILADDRESS, UID, L, ST", [[["DC", stringValue(Tag.Ia5String, bytes("com"))]], [["L", "Town"]], [["ST", "State"]], [["EMAIL", stringValue(Tag.Ia5String, bytes("a@b.c"))]], [["UID", "u1"]]], DN, "UID=u1,EMAILADDRESS=a@b.c,ST=State,L=Town,DC=com"],
  ["an unknown attribute type as a dotted OID", [[["2.5.4.9", "Main Street 1"]]], DN, "2.5.4.9=Main Street 1"],
  ["an undecodable value as Erlang prints a binary", [[["2.5.4.45", tlv(Tag.BitString, Uint8Array.of(0, 7))]]], DN, "2.5.4.45=<<3,2,0,7>>"],
  ["the CN alone, unescaped", [[["O", "Acme, Inc."]], [["CN", "bob é"]]], CN, "bob é"],
  ["every CN in certificate order joined with a comma", [[["CN", "first"]], [["O", "x"]], [["CN", "second"]]], CN, "first,second"],
];

describe("certificate user name (ssl_cert_login_from)", () => {
  for (const [name, rdns, options, expected] of subjectCases) {
    test(`${options.from}: ${name}`, () => {
      const der = buildCertificate({ subject: buildName(rdns) });
      expect(certificateUserName(der, options)).toBe(expected);
    });
  }

  const san = sanExtension([
    tlv(0x82, Uint8Array.from(bytes("first.example"))),
    tlv(0x81, Uint8Array.from(bytes("dev@example.com"))),
    tlv(0x82, Uint8Array.from(bytes("second.example"))),
    tlv(0x86, Uint8Array.from(bytes("urn:device:7"))),
    tlv(0x87, Uint8Array.of(127, 0, 0, 1)),
    tlv(0xa0, oid("1.3.6.1.4.1.311.20.2.3"), tlv(0xa0, utf8String("upn@corp"))),
  ]);
  const sanCases: Array<[CertNameOptions, string]> = [
    [{ from: "subject_alternative_name" }, "first.example"],
    [{ from: "subject_alternative_name", sanType: "dns", sanIndex: 1 }, "second.example"],
    [{ from: "subject_alt_name", sanType: "email" }, "dev@example.com"],
    [{ from: "subject_alternative_name", sanType: "uri" }, "urn:device:7"],
    [{ from: "subject_alternative_name", sanType: "ip" }, "\x7f\x00\x00\x01"],
    [{ from: "subject_alternative_name", sanType: "other_name" }, "upn@corp"],
  ];
  for (const [options, expected] of sanCases) {
    test(`${options.from}: SAN #${options.sanIndex ?? 0} of type ${options.sanType ?? "dns (default)"}`, () => {
      const der = buildCertificate({ subject: buildName([[["CN", "ignored"]]]), extensions: [san] });
      expect(certificateUserName(der, options)).toBe(expected);
    });
  }

  const errorCases: Array<[name: string, der: Uint8Array, options: CertNameOptions, fragment: string]> = [
    ["no CN in the subject", buildCertificate({ subject: buildName([[["O", "Acme"]]]) }), CN, "has no CN in its subject"],
    ["an empty subject", buildCertificate({ subject: sequence() }), DN, "has no subject (distinguished name)"],
    ["no SAN of the asked type", buildCertificate({ subject: buildName([[["CN", "x"]]]), extensions: [san] }), { from: "subject_alternative_name", sanType: "dns", sanIndex: 5 }, "subjectAltName #5 of type dns"],
    ["not a certificate at all", Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00), DN, "unreadable client certificate"],
    ["truncated bytes", Uint8Array.of(0x30, 0x82, 0x01), DN, "unreadable client certificate"],
  ];
  for (const [name, der, options, fragment] of errorCases) {
    test(`explains ${name}`, () => {
      const result = certificateUserName(der, options);
      expect(typeof result).toBe("object");
      expect((result as { message: string }).message).toContain(fragment);
    });
  }
});

describe("escapeRdnValue", () => {
  test("a lone space is escaped once (it is both first and last)", () => {
    expect(escapeRdnValue(Uint8Array.of(0x20))).toBe("\\ ");
  });
  test("# is only special at the start", () => {
    expect(escapeRdnValue(new TextEncoder().encode("a#b"))).toBe("a#b");
  });
});
