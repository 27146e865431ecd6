/**
 * Parser of RabbitMQ's rabbitmq.conf ("sysctl" / cuttlefish) format. It only splits lines into
 * key = value entries; what keys mean is schema.ts's business.
 *
 * The rules are cuttlefish's grammar (src/conf_parse.peg), checked against the real
 * conf_parse:parse/1 of RabbitMQ 3.10.8's cuttlefish 3.0.1:
 * - a line is `key = value`, blank, or a comment; blanks are spaces and tabs; CRLF is fine;
 * - a key is words of [A-Za-z0-9_-] joined by "."; `\.` puts a dot inside a word;
 * - `#` starts a comment anywhere in an unquoted value, even without a blank before it
 *   (`pass = a#b` gives "a"); trailing blanks are dropped; `=` may appear in the value;
 * - single quotes keep everything between them, `#` included (`'a#b'`); this is newer
 *   cuttlefish's escaped_value (RabbitMQ 3.11+), 3.10's cuttlefish kept the quotes as text;
 * - double quotes are NOT special: `"guest"` is seven characters, quotes included;
 * - an empty value is an error (write `''` for the empty string).
 * Cuttlefish stops at the first bad line; we report every bad line at once.
 * Unlike cuttlefish we refuse `include` lines, and warn about two silent traps: a `#` glued to
 * a value (probably meant as part of a password) and double-quoted values.
 */

/** One `key = value` line. */
export interface ConfEntry {
  /** Canonical key: segments joined by "." with dots inside a segment written `\.`. */
  key: string;
  /** The key split at unescaped dots, escapes removed. */
  segments: string[];
  /** The value with quotes, comment and surrounding blanks removed. */
  value: string;
  /** 1-based line number. */
  line: number;
}

export interface ParsedConf {
  /** One entry per key (the last one written), in the order of those last lines. */
  entries: ConfEntry[];
  errors: string[];
  warnings: string[];
}

export interface ParseOptions {
  /** How a value appears in messages; load.ts masks passwords with it. Default: as written. */
  show?: (segments: readonly string[], value: string) => string;
}

const WORD = String.raw`(?:\\\.|[A-Za-z0-9_-])+`;
const KEY_THEN_EQUALS = new RegExp(String.raw`^(${WORD}(?:\.${WORD})*)[ \t]*=[ \t]*`);

/** Splits rabbitmq.conf text into entries. `fileName` only labels messages (`file:line: ...`). */
export function parseConf(text: string, fileName: string, options: ParseOptions = {}): ParsedConf {
  const errors: string[] = [];
  const warnings: string[] = [];
  const byKey = new Map<string, ConfEntry>();
  const lines = text.replace(/^\uFEFF/, "").split("\n");

  lines.forEach((rawLine, index) => {
    const line = index + 1;
    const where = `${fileName}:${line}`;
    const content = rawLine.replace(/\r$/, "").replace(/^[ \t]+/, "");
    if (content === "" || content.startsWith("#")) return;

    const keyMatch = KEY_THEN_EQUALS.exec(content);
    if (!keyMatch) {
      errors.push(`${where}: ${describeBadLine(content)}`);
      return;
    }
    const keyText = keyMatch[1] as string;
    const segments = splitKey(keyText);
    const key = segments.map((s) => s.replaceAll(".", "\\.")).join(".");
    const shown = (v: string) => (options.show ? options.show(segments, v) : v);

    const value = readValue(content.slice(keyMatch[0].length));
    if (!value.ok) {
      const masked = shown(value.text) !== value.text;
      errors.push(`${where}: ${key} = ${shown(value.text)}: ${masked ? (value.secretProblem ?? value.problem) : value.problem}`);
      return;
    }
    // The warnings may quote the whole written value: it goes through `shown` like the value.
    for (const w of value.warnings) warnings.push(`${where}: ${key} = ${shown(value.value)}: ${w(shown)}`);

    const previous = byKey.get(key);
    if (previous) {
      warnings.push(
        `${where}: ${key} = ${shown(value.value)}: replaces ${key} = ${shown(previous.value)} from line ${previous.line} (the last one wins)`,
      );
      byKey.delete(key);
    }
    byKey.set(key, { key, segments, value: value.value, line });
  });
  return { entries: [...byKey.values()], errors, warnings };
}

/** Splits `a.b\.c.d` into ["a", "b.c", "d"]. */
function splitKey(keyText: string): string[] {
  return keyText.split(/(?<!\\)\./).map((s) => s.replaceAll("\\.", "."));
}

type ValueRead =
  | { ok: true; value: string; warnings: Array<(show: (v: string) => string) => string> }
  | { ok: false; text: string; problem: string; secretProblem?: string };

/** Reads what follows `key =` (leading blanks already skipped). */
function readValue(rest: string): ValueRead {
  if (rest.startsWith("'")) {
    const close = rest.indexOf("'", 1);
    if (close > 0) {
      const after = rest.slice(close + 1);
      if (!/^[ \t]*(#.*)?$/.test(after)) {
        return {
          ok: false,
          text: rest.replace(/[ \t]+$/, ""),
          problem: `unexpected text ${JSON.stringify(after.trim())} after the closing quote, expected the value alone inside '…' (a quoted value cannot contain ')`,
          secretProblem: "unexpected text after the closing quote, expected the value alone inside '…' (a quoted value cannot contain ')",
        };
      }
      return { ok: true, value: rest.slice(1, close), warnings: [] };
    }
    // No closing quote: cuttlefish falls back to reading it as a plain value, quote included.
    const plain = readPlain(rest);
    if (plain.ok) plain.warnings.push(() => "no closing ' so the quote is part of the value");
    return plain;
  }
  return readPlain(rest);
}

function readPlain(rest: string): ValueRead {
  const hash = rest.indexOf("#");
  const value = (hash >= 0 ? rest.slice(0, hash) : rest).replace(/[ \t]+$/, "");
  if (value === "") return { ok: false, text: "", problem: "no value, expected a value after \"=\" (write '' for an empty one)" };
  const warnings: Array<(show: (v: string) => string) => string> = [];
  if (hash > 0 && !/[ \t]/.test(rest[hash - 1] as string)) {
    const whole = rest.replace(/[ \t]+$/, "");
    warnings.push((show) => `"#" starts a comment, so the value ends before it; if "#" belongs to the value, quote it: '${show(whole)}'`);
  }
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    warnings.push(() => "double quotes are part of the value in rabbitmq.conf; use single quotes or none if they are not meant");
  }
  return { ok: true, value, warnings };
}

/** Explains a line that is not `key = value`. */
function describeBadLine(content: string): string {
  const text = content.replace(/[ \t\r]+$/, "");
  if (/^include[ \t]/.test(text)) {
    return `${JSON.stringify(text)}: include directives are not supported, expected the settings in this file`;
  }
  const eq = text.indexOf("=");
  if (eq < 0) return `${JSON.stringify(text)}: no "=", expected key = value`;
  const key = text.slice(0, eq).trim();
  if (key === "") return `${JSON.stringify(text)}: no key before "=", expected key = value`;
  const bad = key.match(/\\(?!\.)|[^A-Za-z0-9_.\\-]/)?.[0];
  if (bad !== undefined) {
    return `${JSON.stringify(text)}: key ${JSON.stringify(key)} contains ${JSON.stringify(bad)}, expected words of letters, digits, "_" and "-" joined by "."`;
  }
  return `${JSON.stringify(text)}: key ${JSON.stringify(key)} has an empty word, expected words of letters, digits, "_" and "-" joined by "."`;
}
