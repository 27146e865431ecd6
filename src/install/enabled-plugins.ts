/**
 * RabbitMQ's enabled_plugins file: one Erlang term, a list of atoms ended by a full stop,
 * e.g. `[rabbitmq_management,rabbitmq_mqtt].` (RabbitMQ reads it with file:consult/1).
 * We read the subset RabbitMQ itself writes and operators write by hand: bare or quoted
 * atoms, whitespace, newlines and `%` comments. Anything else is an error value, so `enable`
 * can say it cannot tell whether the native plugin is on instead of guessing.
 *
 * Only explicitly enabled plugins are listed in the file; their dependencies run too. That
 * matters here because rabbitmq_web_mqtt (and rabbitmq_web_mqtt_examples) pull in rabbitmq_mqtt.
 */

export type EnabledPluginsResult = { ok: true; plugins: string[] } | { ok: false; problem: string };

/** Plugins whose presence means RabbitMQ's own MQTT listener runs (rabbitmq_mqtt or a dependant). */
export const NATIVE_MQTT_PLUGINS: readonly string[] = ["rabbitmq_mqtt", "rabbitmq_web_mqtt", "rabbitmq_web_mqtt_examples"];
/** Plugins whose presence means RabbitMQ's own MQTT-over-WebSocket listener runs. */
export const NATIVE_WEB_MQTT_PLUGINS: readonly string[] = ["rabbitmq_web_mqtt", "rabbitmq_web_mqtt_examples"];

type Token = { kind: "punct"; text: "[" | "]" | "," | "." } | { kind: "atom"; text: string };

const EXPECTED = "expected a list of plugin names such as [rabbitmq_management,rabbitmq_mqtt].";

/** Parses the file's text. An empty file (or only comments) means no plugins, as in RabbitMQ. */
export function parseEnabledPlugins(text: string): EnabledPluginsResult {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "%") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "[" || c === "]" || c === "," || c === ".") {
      tokens.push({ kind: "punct", text: c });
      i++;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return { ok: false, problem: `a quoted atom has no closing ', ${EXPECTED}` };
      tokens.push({ kind: "atom", text: text.slice(i + 1, end) });
      i = end + 1;
    } else if (/[a-z]/.test(c)) {
      const m = /^[a-z][A-Za-z0-9_@]*/.exec(text.slice(i)) as RegExpExecArray;
      tokens.push({ kind: "atom", text: m[0] });
      i += m[0].length;
    } else {
      return { ok: false, problem: `unexpected ${JSON.stringify(c)}, ${EXPECTED}` };
    }
  }
  if (tokens.length === 0) return { ok: true, plugins: [] };

  const expected = EXPECTED;
  const at = (n: number) => tokens[n];
  if (at(0)?.text !== "[" || at(0)?.kind !== "punct") return { ok: false, problem: `does not start with "[", ${expected}` };
  const plugins: string[] = [];
  let n = 1;
  if (at(n)?.kind === "punct" && at(n)?.text === "]") {
    n++;
  } else {
    for (;;) {
      const name = at(n);
      if (name?.kind !== "atom") return { ok: false, problem: `a list element is not a plugin name, ${expected}` };
      plugins.push(name.text);
      const sep = at(n + 1);
      n += 2;
      if (sep?.kind === "punct" && sep.text === "]") break;
      if (sep?.kind !== "punct" || sep.text !== ",") return { ok: false, problem: `plugin names must be separated by ",", ${expected}` };
    }
  }
  if (at(n)?.kind !== "punct" || at(n)?.text !== ".") return { ok: false, problem: `the list must end with "].", ${expected}` };
  if (n + 1 !== tokens.length) return { ok: false, problem: `text after the closing "].", ${expected}` };
  return { ok: true, plugins };
}
