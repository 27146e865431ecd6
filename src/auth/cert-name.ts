/**
 * The RabbitMQ user name of a client certificate, computed exactly as RabbitMQ 3.10 does
 * (rabbit_ssl:peer_cert_auth_name/2 and rabbit_cert_info), so that `ssl_cert_login_from`
 * means the same here as in rabbitmq.conf and a user created for the native plugin matches:
 *
 * - `distinguished_name`: the subject's RDNs in reverse order (RFC 4514 order) joined with
 *   ",", the attributes of a multi-valued RDN joined with "+", each `TYPE=value` with
 *   RabbitMQ's type names (CN, O, OU, C, L, ST, DC, EMAILADDRESS, ...; dotted OID otherwise)
 *   and its escaping: `\` before `"+,;<>\`, before a leading space or `#` and a trailing
 *   space, and `\XX` (upper-case hex) for every byte below 32 or from 126 up — so non-ASCII
 *   UTF-8 appears byte by byte as `\C3\A9`. Example: `CN=device-1,O=Acme\, Inc.,C=US`.
 * - `common_name`: the values of every CN attribute in certificate order, joined with ",",
 *   unescaped (UTF-8).
 * - `subject_alternative_name` (`subject_alt_name`): the Nth (ssl_cert_login_san_index, from 0)
 *   SAN of ssl_cert_login_san_type (default dns).
 *
 * Attribute values: the five DirectoryString types are decoded (TeletexString as Latin-1,
 * BMPString as UCS-2, UniversalString as UCS-4, all re-encoded as UTF-8); IA5String and
 * PrintableString are taken as they are; anything else is shown as Erlang prints a binary
 * (`<<22,3,...>>`), which is what RabbitMQ does with an attribute it cannot decode.
 */
import { OID_SUBJECT_ALT_NAME, parseCertificate } from "./certificate.ts";
import { DerError, decodeOid, readChildren, readTlv, Tag, type Tlv } from "./der.ts";

export type CertLoginFrom = "distinguished_name" | "common_name" | "subject_alternative_name" | "subject_alt_name";
export type SanType = "dns" | "ip" | "email" | "uri" | "other_name";

export interface CertNameOptions {
  from: CertLoginFrom;
  /** For subject_alternative_name; RabbitMQ's default is dns. */
  sanType?: SanType | null;
  /** For subject_alternative_name: which SAN of that type, from 0 (default). */
  sanIndex?: number | null;
}

/** RabbitMQ's short names (rabbit_cert_info:format_rdn/1); other types print as dotted OIDs. */
const TYPE_NAMES: Record<string, string> = {
  "2.5.4.4": "SN",
  "2.5.4.42": "GIVENNAME",
  "2.5.4.43": "INITIALS",
  "2.5.4.44": "GENERATIONQUALIFIER",
  "2.5.4.3": "CN",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "TITLE",
  "2.5.4.6": "C",
  "2.5.4.5": "SERIALNUMBER",
  "2.5.4.65": "PSEUDONYM",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "EMAILADDRESS",
  "0.9.2342.19200300.100.1.1": "UID",
};

const OID_COMMON_NAME = "2.5.4.3";

/** SAN GeneralName context tags (RFC 5280 §4.2.1.6) per ssl_cert_login_san_type. */
const SAN_TAGS: Record<SanType, number> = { other_name: 0xa0, email: 0x81, dns: 0x82, uri: 0x86, ip: 0x87 };

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8");

/** An attribute value as the bytes RabbitMQ formats (UTF-8 for decoded strings). */
function valueBytes(value: Tlv): Uint8Array | undefined {
  const content = value.value;
  switch (value.tag) {
    case Tag.Utf8String:
    case Tag.PrintableString:
    case Tag.Ia5String:
      return content;
    case Tag.TeletexString:
      return new TextEncoder().encode(latin1.decode(content));
    case Tag.BmpString:
      return new TextEncoder().encode(fromCodeUnits(content, 2));
    case Tag.UniversalString:
      return new TextEncoder().encode(fromCodeUnits(content, 4));
    default:
      return undefined;
  }
}

function fromCodeUnits(bytes: Uint8Array, width: 2 | 4): string {
  let text = "";
  for (let i = 0; i + width <= bytes.length; i += width) {
    let code = 0;
    for (let j = 0; j < width; j++) code = code * 256 + bytes[i + j]!;
    text += String.fromCodePoint(Math.min(code, 0x10ffff));
  }
  return text;
}

/** How Erlang's ~p prints a binary it could not decode: `<<22,3,97,98,99>>`. */
function erlangBinary(bytes: Uint8Array): string {
  return `<<${Array.from(bytes).join(",")}>>`;
}

/** rabbit_cert_info:escape_rdn_value/1, over the value's bytes. */
export function escapeRdnValue(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    const char = String.fromCharCode(byte);
    if (i === 0 && (char === " " || char === "#")) out += `\\${char}`;
    else if (i === bytes.length - 1 && i > 0 && char === " ") out += "\\ ";
    else if ('"+,;<>\\'.includes(char)) out += `\\${char}`;
    else if (byte < 32 || byte >= 126) out += `\\${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    else out += char;
  }
  return out;
}

interface Attribute {
  oid: string;
  value: Tlv;
}

/** The RDNs of a Name, each a list of attributes, in certificate order. */
function readRdns(name: Tlv): Attribute[][] | DerError {
  const rdns = readChildren(name.value);
  if (rdns instanceof DerError) return rdns;
  const result: Attribute[][] = [];
  for (const rdn of rdns) {
    if (rdn.tag !== Tag.Set) return new DerError("Name contains something other than a SET (RDN)");
    const pairs = readChildren(rdn.value);
    if (pairs instanceof DerError) return pairs;
    const attributes: Attribute[] = [];
    for (const pair of pairs) {
      const items = readChildren(pair.value);
      if (items instanceof DerError) return items;
      const [type, value] = items;
      if (type?.tag !== Tag.ObjectIdentifier || value === undefined) return new DerError("RDN attribute without type and value");
      const oid = decodeOid(type.value);
      if (oid instanceof DerError) return oid;
      attributes.push({ oid, value });
    }
    result.push(attributes);
  }
  return result;
}

function formatAttribute({ oid, value }: Attribute): string {
  const bytes = valueBytes(value);
  const shown = bytes === undefined ? erlangBinary(value.encoded) : escapeRdnValue(bytes);
  return `${TYPE_NAMES[oid] ?? oid}=${shown}`;
}

/** A Name (DER element) as RabbitMQ's distinguished_name string. */
export function formatDistinguishedName(name: Tlv): string | DerError {
  const rdns = readRdns(name);
  if (rdns instanceof DerError) return rdns;
  return rdns
    .map((rdn) => rdn.map(formatAttribute).join("+"))
    .reverse()
    .join(",");
}

function commonName(name: Tlv): string | undefined | DerError {
  const rdns = readRdns(name);
  if (rdns instanceof DerError) return rdns;
  const values = rdns.flat().filter((attribute) => attribute.oid === OID_COMMON_NAME);
  if (values.length === 0) return undefined;
  return values
    .map((attribute) => {
      const bytes = valueBytes(attribute.value);
      return bytes === undefined ? erlangBinary(attribute.value.encoded) : utf8.decode(bytes);
    })
    .join(",");
}

function subjectAltName(extension: Uint8Array, type: SanType, index: number): string | undefined | DerError {
  const list = readTlv(extension);
  if (list instanceof DerError) return list;
  const names = readChildren(list.value);
  if (names instanceof DerError) return names;
  const ofType = names.filter((name) => name.tag === SAN_TAGS[type]);
  const chosen = ofType[index];
  if (chosen === undefined) return undefined;
  if (type === "other_name") {
    // OtherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY }: RabbitMQ decodes the value
    // as a DirectoryString (rabbit_cert_info:sanitize_other_name/1).
    const parts = readChildren(chosen.value);
    if (parts instanceof DerError) return parts;
    const wrapped = parts[1] === undefined ? undefined : readTlv(parts[1].value);
    if (wrapped === undefined || wrapped instanceof DerError) return undefined;
    const bytes = valueBytes(wrapped);
    return bytes === undefined ? erlangBinary(wrapped.encoded) : utf8.decode(bytes);
  }
  // iPAddress is 4 or 16 raw bytes, which RabbitMQ uses as the name unchanged.
  return type === "ip" ? latin1.decode(chosen.value) : utf8.decode(chosen.value);
}

/** What went wrong when a certificate has no usable name. */
export interface CertNameError {
  message: string;
}

/**
 * The user name `options` select from a DER certificate, or why there is none (no CN, no SAN
 * of that type, not a certificate).
 */
export function certificateUserName(der: Uint8Array, options: CertNameOptions): string | CertNameError {
  const parsed = parseCertificate(der);
  if (parsed instanceof DerError) return { message: `unreadable client certificate: ${parsed.message}` };
  let name: string | undefined | DerError;
  let what: string;
  switch (options.from) {
    case "distinguished_name":
      what = "subject (distinguished name)";
      name = formatDistinguishedName(parsed.subject);
      if (name === "") name = undefined;
      break;
    case "common_name":
      what = "CN in its subject";
      name = commonName(parsed.subject);
      break;
    case "subject_alternative_name":
    case "subject_alt_name": {
      const type = options.sanType ?? "dns";
      const index = options.sanIndex ?? 0;
      what = `subjectAltName #${index} of type ${type}`;
      const extension = parsed.extensions.find((e) => e.oid === OID_SUBJECT_ALT_NAME);
      name = extension === undefined ? undefined : subjectAltName(extension.value, type, index);
      break;
    }
  }
  if (name instanceof DerError) return { message: `unreadable client certificate: ${name.message}` };
  if (name === undefined) return { message: `the client certificate has no ${what} (ssl_cert_login_from = ${options.from})` };
  return name;
}
