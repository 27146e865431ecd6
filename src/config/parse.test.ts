import { describe, expect, test } from "bun:test";
import { parseConf } from "./parse.ts";

const values = (text: string) => {
  const parsed = parseConf(text, "t.conf");
  return { pairs: parsed.entries.map((e) => [e.key, e.value, e.line]), errors: parsed.errors, warnings: parsed.warnings };
};

// Expected results were checked against cuttlefish 3.0.1's conf_parse:parse/1 (RabbitMQ 3.10.8)
// where cuttlefish accepts the line; where it differs on purpose, the test name says so.
describe("parseConf: lines cuttlefish accepts", () => {
  const cases: Array<[string, string, Array<[string, string, number]>]> = [
    ["key = value", "mqtt.vhost = /\n", [["mqtt.vhost", "/", 1]]],
    ["no blanks around =", "mqtt.vhost=/iot", [["mqtt.vhost", "/iot", 1]]],
    ["blanks and tabs are trimmed", "  \tmqtt.vhost \t=\t  /iot \t \n", [["mqtt.vhost", "/iot", 1]]],
    ["CRLF line ends", "a.b = 1\r\nc.d = 2\r\n", [["a.b", "1", 1], ["c.d", "2", 2]]],
    ["no final newline", "a.b = 1\nc.d = 2", [["a.b", "1", 1], ["c.d", "2", 2]]],
    ["whole-line comments and blank lines are skipped, line numbers kept", "# c\n\n  # indented\n\t\t\na.b = x\n", [["a.b", "x", 5]]],
    ["trailing comment after a blank", "a.b = x # comment", [["a.b", "x", 1]]],
    ["= inside the value", "a.b = x = y", [["a.b", "x = y", 1]]],
    ["== leaves = in the value (as cuttlefish)", "a.b == 1", [["a.b", "= 1", 1]]],
    ["inner blanks are kept", "a.b = two words", [["a.b", "two words", 1]]],
    ["dashes, underscores, digits and capitals in words", "a.B-c_1.2 = v", [["a.B-c_1.2", "v", 1]]],
    ["escaped dot stays inside a word", "a\\.b.c = 1", [["a\\.b.c", "1", 1]]],
    ["list-style keys", "mqtt.listeners.tcp.1 = 127.0.0.1:1883\nmqtt.listeners.tcp.2 = ::1:1883\nssl_options.versions.1 = tlsv1.2",
      [["mqtt.listeners.tcp.1", "127.0.0.1:1883", 1], ["mqtt.listeners.tcp.2", "::1:1883", 2], ["ssl_options.versions.1", "tlsv1.2", 3]]],
    ["single quotes keep # (cuttlefish 3.1+ escaped_value)", "mqtt.default_pass = 'a#b c' # comment", [["mqtt.default_pass", "a#b c", 1]]],
    ["'' is the empty string", "mqtt.default_pass = ''", [["mqtt.default_pass", "", 1]]],
    ["a key named include is a setting", "include = x", [["include", "x", 1]]],
    ["byte order mark at the start is ignored", "\uFEFFa.b = 1", [["a.b", "1", 1]]],
    ["unicode values", "mqtt.default_user = Œuvre", [["mqtt.default_user", "Œuvre", 1]]],
  ];
  for (const [name, text, expected] of cases) {
    test(name, () => {
      const r = values(text);
      expect(r.errors).toEqual([]);
      expect(r.pairs).toEqual(expected);
    });
  }
});

describe("parseConf: every bad line is reported with file:line", () => {
  const cases: Array<[string, string, string[]]> = [
    ["no =", "mqtt.vhost /", ['t.conf:1: "mqtt.vhost /": no "=", expected key = value']],
    ["empty value", "a.b = \n", ["t.conf:1: a.b = : no value, expected a value after \"=\" (write '' for an empty one)"]],
    ["value that is only a comment", "a.b = # nothing", ["t.conf:1: a.b = : no value, expected a value after \"=\" (write '' for an empty one)"]],
    ["blank inside a key", "a b = 1", ['t.conf:1: "a b = 1": key "a b" contains " ", expected words of letters, digits, "_" and "-" joined by "."']],
    ["$ inside a key", "a.$x = 1", ['t.conf:1: "a.$x = 1": key "a.$x" contains "$", expected words of letters, digits, "_" and "-" joined by "."']],
    ["empty word", "a..b = 1", ['t.conf:1: "a..b = 1": key "a..b" has an empty word, expected words of letters, digits, "_" and "-" joined by "."']],
    ["blank after a dot", "a. b = 1", ['t.conf:1: "a. b = 1": key "a. b" contains " ", expected words of letters, digits, "_" and "-" joined by "."']],
    ["no key", "= 1", ['t.conf:1: "= 1": no key before "=", expected key = value']],
    ["include lines", "include /etc/rabbitmq/conf.d/*.conf", ['t.conf:1: "include /etc/rabbitmq/conf.d/*.conf": include directives are not supported, expected the settings in this file']],
    ["text after a closing quote", "a.b = 'x'y", ["t.conf:1: a.b = 'x'y: unexpected text \"y\" after the closing quote, expected the value alone inside '…' (a quoted value cannot contain ')"]],
    ["all problems at once, good lines kept", "a.b = 1\nbad line\nc.d = \ne.f = 2\n", ['t.conf:2: "bad line": no "=", expected key = value', "t.conf:3: c.d = : no value, expected a value after \"=\" (write '' for an empty one)"]],
  ];
  for (const [name, text, expected] of cases) {
    test(name, () => expect(values(text).errors).toEqual(expected));
  }

  test("good lines around bad ones are still returned", () => {
    expect(values("a.b = 1\nbad line\nc.d = \ne.f = 2\n").pairs).toEqual([["a.b", "1", 1], ["e.f", "2", 4]]);
  });
});

describe("parseConf: warnings", () => {
  test("a duplicate key: the last one wins, with a warning naming both lines", () => {
    const r = values("mqtt.vhost = a\nmqtt.prefetch = 5\nmqtt.vhost = b\n");
    expect(r.pairs).toEqual([["mqtt.prefetch", "5", 2], ["mqtt.vhost", "b", 3]]);
    expect(r.warnings).toEqual(["t.conf:3: mqtt.vhost = b: replaces mqtt.vhost = a from line 1 (the last one wins)"]);
  });

  test("secret values are masked in messages", () => {
    const r = parseConf("mqtt.default_pass = a\nmqtt.default_pass = b\n", "t.conf", { show: (s, v) => (s.join(".") === "mqtt.default_pass" ? "********" : v) });
    expect(r.warnings).toEqual(["t.conf:2: mqtt.default_pass = ********: replaces mqtt.default_pass = ******** from line 1 (the last one wins)"]);
  });

  test("# glued to a value cuts it (as cuttlefish) and says how to keep it", () => {
    const r = values("mqtt.default_pass = abc#123");
    expect(r.pairs).toEqual([["mqtt.default_pass", "abc", 1]]);
    expect(r.warnings).toEqual([`t.conf:1: mqtt.default_pass = abc: "#" starts a comment, so the value ends before it; if "#" belongs to the value, quote it: 'abc#123'`]);
  });

  test("double quotes stay in the value (as cuttlefish), with a warning", () => {
    const r = values('mqtt.default_user = "bob"');
    expect(r.pairs).toEqual([["mqtt.default_user", '"bob"', 1]]);
    expect(r.warnings).toEqual(['t.conf:1: mqtt.default_user = "bob": double quotes are part of the value in rabbitmq.conf; use single quotes or none if they are not meant']);
  });

  test("an unclosed single quote is part of the value (as cuttlefish), with a warning", () => {
    const r = values("a.b = 'abc");
    expect(r.pairs).toEqual([["a.b", "'abc", 1]]);
    expect(r.warnings).toEqual(["t.conf:1: a.b = 'abc: no closing ' so the quote is part of the value"]);
  });
});

describe("parseConf: secrets stay out of messages", () => {
  const show = (s: readonly string[], v: string) => (s.join(".") === "mqtt.default_pass" ? "********" : v);
  test("the # hint and the quote error do not repeat a secret value", () => {
    const r = parseConf("mqtt.default_pass = abc#123\nmqtt.default_pass = 'abc'zq9\n", "t.conf", { show });
    expect(r.warnings).toEqual([`t.conf:1: mqtt.default_pass = ********: "#" starts a comment, so the value ends before it; if "#" belongs to the value, quote it: '********'`]);
    expect(r.errors).toEqual(["t.conf:2: mqtt.default_pass = ********: unexpected text after the closing quote, expected the value alone inside '…' (a quoted value cannot contain ')"]);
    expect(JSON.stringify(r)).not.toContain("123");
    expect(JSON.stringify(r)).not.toContain("zq9");
  });
});
