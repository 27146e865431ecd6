/**
 * Value types of rabbitmq.conf keys: how a raw string becomes a typed value, how the value is
 * written back (for `check-config`), and the words an error message uses for "expected".
 *
 * The accepted spellings follow cuttlefish's datatypes (RabbitMQ 3.10.8, cuttlefish 3.0.1),
 * checked against the real `cuttlefish_datatypes:from_string/2`: integers are `[+-]?digits`
 * only (no `1_000`, `0x10`, `5.0`), enums and booleans are exact and case-sensitive
 * (`True` is refused), an `ip` is `ADDRESS:PORT` split at the last colon (`::1:1883`).
 * Where we accept more than cuttlefish (the bracketed `[::1]:1883`), it is said at the type.
 */
import { isIP } from "node:net";

/** Result of parsing one raw value: errors are values, never exceptions. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; problem: string };

/** One datatype of the schema table. */
export interface ValueType<T> {
  /** What a valid value looks like, for "…, expected <expected>" in messages and docs. */
  readonly expected: string;
  parse(raw: string): ParseResult<T>;
  /** Inverse of parse, in the spelling the table documents (round-trips through parse). */
  format(value: T): string;
  /** True when parse can return null (a `none` / `infinity` word), so format(null) is valid. */
  readonly formatsNull?: boolean;
}

/** A listening address; `host` "::" means every interface (IPv6 and, dual-stack, IPv4). */
export interface ListenerAddress {
  host: string;
  port: number;
}

const ok = <T>(value: T): ParseResult<T> => ({ ok: true, value });
const bad = <T>(problem: string): ParseResult<T> => ({ ok: false, problem });

/** `true` | `false`, exactly as cuttlefish's `{enum, [true, false]}`. */
export const booleanType: ValueType<boolean> = {
  expected: "true or false",
  parse: (raw) => (raw === "true" ? ok(true) : raw === "false" ? ok(false) : bad("not a boolean")),
  format: (value) => String(value),
};

/** Whole numbers as cuttlefish reads them (`list_to_integer`), with a range we enforce. */
export function integerType(options: { min?: number; max?: number; unit?: string } = {}): ValueType<number> {
  const { min, max, unit } = options;
  const what = unit ? `a whole number of ${unit}` : "a whole number";
  const range =
    min !== undefined && max !== undefined
      ? ` from ${min} to ${max}`
      : min !== undefined
        ? ` ≥ ${min}`
        : max !== undefined
          ? ` ≤ ${max}`
          : "";
  return {
    expected: what + range,
    parse(raw) {
      if (!/^[+-]?[0-9]+$/.test(raw)) return bad("not a whole number");
      const value = Number(raw);
      if (!Number.isSafeInteger(value)) return bad("too large");
      if (min !== undefined && value < min) return bad(`below the minimum ${min}`);
      if (max !== undefined && value > max) return bad(`above the maximum ${max}`);
      return ok(value);
    },
    format: (value) => String(value),
  };
}

/** TCP port; 0 (an ephemeral port chosen by the OS) is allowed because tests rely on it. */
export const portType: ValueType<number> = integerType({ min: 0, max: 65535 });

/** One of a fixed set of words (cuttlefish `{enum, [...]}`), case-sensitive like cuttlefish. */
export function enumType<const V extends string>(values: readonly V[]): ValueType<V> {
  return {
    expected: values.length === 2 ? `${values[0]} or ${values[1]}` : `one of ${values.join(", ")}`,
    parse: (raw) =>
      (values as readonly string[]).includes(raw) ? ok(raw as V) : bad(`"${raw}" is not a known value`),
    format: (value) => value,
  };
}

/** Any text (cuttlefish `string`); an empty value can only be written as `''`. */
export const stringType: ValueType<string> = {
  expected: "text",
  parse: (raw) => ok(raw),
  format: (value) => formatText(value),
};

/** Like stringType but refuses the empty string (names, paths). */
export function nonEmptyString(what: string): ValueType<string> {
  return {
    expected: what,
    parse: (raw) => (raw === "" ? bad("empty") : ok(raw)),
    format: (value) => formatText(value),
  };
}

/** An absolute file system path; whether the file is readable is checked by load.ts. */
export const pathType: ValueType<string> = {
  expected: "an absolute file path",
  parse: (raw) => (raw.startsWith("/") ? ok(raw) : bad("not an absolute path")),
  format: (value) => formatText(value),
};

/** An IPv4 or IPv6 address literal (cuttlefish's `is_ip` validator). */
export const ipType: ValueType<string> = {
  expected: "an IPv4 or IPv6 address such as 127.0.0.1 or ::1",
  parse: (raw) => {
    const bare = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
    return isIP(bare) ? ok(bare) : bad("not an IP address");
  },
  format: (value) => value,
};

/**
 * A listener as the plugin's `[integer, ip]` datatype: `1883` (every interface) or
 * `ADDRESS:PORT` split at the last colon, so `::1:1883` is [::1]:1883. We also accept the
 * bracketed `[::1]:1883`, which cuttlefish refuses: accepting more cannot break a plugin config.
 */
export const listenerType: ValueType<ListenerAddress> = {
  expected: "a port (1883) or ADDRESS:PORT (127.0.0.1:1883, ::1:1883)",
  parse(raw) {
    if (/^[+-]?[0-9]+$/.test(raw)) {
      const port = portType.parse(raw);
      return port.ok ? ok({ host: "::", port: port.value }) : bad(`port ${port.problem}`);
    }
    const colon = raw.lastIndexOf(":");
    if (colon <= 0) return bad("neither a port nor ADDRESS:PORT");
    const host = ipType.parse(raw.slice(0, colon));
    if (!host.ok) return bad(`"${raw.slice(0, colon)}" is not an IP address (host names are not allowed)`);
    const port = portType.parse(raw.slice(colon + 1));
    if (!port.ok) return bad(`port ${port.problem}`);
    return ok({ host: host.value, port: port.value });
  },
  format: (value) => (value.host === "::" ? String(value.port) : `${value.host}:${value.port}`),
};

/** A single word standing for a fixed value, such as `none` or `infinity`. */
export function literalType<T>(word: string, value: T): ValueType<T> {
  return {
    expected: word,
    parse: (raw) => (raw === word ? ok(value) : bad(`not "${word}"`)),
    format: () => word,
    formatsNull: value === null,
  };
}

/** The first alternative that parses wins (cuttlefish's `[datatype, datatype]` lists). */
export function unionType<A, B>(a: ValueType<A>, b: ValueType<B>, format: (value: A | B) => string): ValueType<A | B> {
  return {
    expected: `${a.expected}, or ${b.expected}`,
    parse(raw) {
      const first = a.parse(raw);
      if (first.ok) return first;
      const second = b.parse(raw);
      if (second.ok) return second;
      return bad(second.problem);
    },
    format,
    formatsNull: a.formatsNull === true || b.formatsNull === true,
  };
}

/** An AMQP 0-9-1 URL (amqp:// or amqps://) as amqplib takes it. */
export const amqpUrlType: ValueType<string> = {
  expected: "an amqp:// or amqps:// URL such as amqp://localhost:5672",
  parse(raw) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return bad("not a URL");
    }
    if (url.protocol !== "amqp:" && url.protocol !== "amqps:") return bad(`scheme "${url.protocol}" is not amqp: or amqps:`);
    if (url.hostname === "") return bad("no host");
    return ok(raw);
  },
  format: (value) => value,
};

/** An HTTP path for the WebSocket endpoint: must start with "/". */
export const httpPathType: ValueType<string> = {
  expected: 'a URL path starting with "/"',
  parse: (raw) => (raw.startsWith("/") && !/\s/.test(raw) ? ok(raw) : bad("not a URL path")),
  format: (value) => value,
};

/**
 * Writes text so that parse.ts reads it back unchanged: single quotes when it is empty, has a
 * `#`, or has leading/trailing blanks (cuttlefish would strip or cut those). Text containing a
 * single quote cannot be quoted in rabbitmq.conf at all, so it is written bare.
 */
export function formatText(value: string): string {
  const needsQuotes = value === "" || value.includes("#") || /^\s|\s$/.test(value) || value.startsWith("'");
  return needsQuotes && !value.includes("'") ? `'${value}'` : value;
}
