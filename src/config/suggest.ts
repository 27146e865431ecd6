/**
 * "Did you mean …?" for unknown keys and environment variables: the closest key of the table.
 */
import { SCHEMA } from "./schema.ts";

/** Keys people carry over from rabbitmq.conf that have a differently named counterpart here. */
const HINTS: Array<[RegExp, string]> = [
  [/^log\./, "adapter.log_level"],
  [/^(mqtt\.)?(tcp_)?port$/, "mqtt.listeners.tcp.default"],
  [/^(mqtt\.)?(ssl|tls)_port$/, "mqtt.listeners.ssl.default"],
  [/^(amqp_uri|amqp\.url|amqp_url|adapter\.amqp_uri)$/, "adapter.amqp_url"],
];

/**
 * Candidate names: table keys with their "$" words filled from the given key, ends aligned,
 * so "listeners.tcp.default" fills mqtt.listeners.tcp.$name with "default". `tail` is true when
 * the given key could be this key with leading words left out (and not only a "$" word).
 */
function candidates(segments: readonly string[]): Array<{ name: string; tail: boolean }> {
  return SCHEMA.filter((s) => s.status?.kind !== "alias").map((spec) => {
    const parts = spec.key.split(".");
    const shift = parts.length - segments.length;
    const name = parts.map((p, i) => (p.startsWith("$") ? (segments[i - shift] ?? "1") : p)).join(".");
    const tail = shift > 0 && parts.slice(shift).some((p) => !p.startsWith("$"));
    return { name, tail };
  });
}

/** The known key an unknown one most likely meant, or undefined when nothing is close. */
export function closestKey(segments: readonly string[]): string | undefined {
  const given = segments.join(".");
  for (const [pattern, key] of HINTS) if (pattern.test(given)) return key;
  const all = candidates(segments);
  const names = all.map((c) => c.name);

  // A tail of a real key, e.g. "allow_anonymous" or "listeners.tcp.default" (RabbitMQ's own key).
  const tails = all.filter((c) => c.tail && c.name.endsWith(`.${given}`)).map((c) => c.name);
  tails.sort((a, b) => a.length - b.length);
  if (tails[0] !== undefined) return tails[0];

  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of names) {
    const d = levenshtein(given, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(given.length / 4))) return best;

  // Same first and last word, different middle: web_mqtt.port → web_mqtt.tcp.port.
  const first = segments[0];
  const last = segments[segments.length - 1];
  const framed = names.filter((n) => n.startsWith(`${first}.`) && n.endsWith(`.${last}`));
  framed.sort((a, b) => levenshtein(given, a) - levenshtein(given, b));
  return framed[0];
}

/** Edit distance (insertions, deletions, substitutions). */
export function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
    }
    previous = current;
  }
  return previous[b.length] as number;
}
