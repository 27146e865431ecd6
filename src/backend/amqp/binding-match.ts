/**
 * AMQP topic-exchange matching of a routing key against a binding key, as RabbitMQ's
 * `rabbit_exchange_type_topic` does it: both are split at `.` into words (empty words between dots count),
 * `*` in the binding key matches exactly one word and `#` zero or more. The memory broker
 * (backend/memory) routes with it, so the fake matches as RabbitMQ does; the shared QoS 0 fan-out
 * (qos0-fanout.ts) uses it to pick, among the clients bound through its one queue, those whose
 * bindings made RabbitMQ route a message there: the same rule on both sides, so a client gets
 * what its own queue would have got.
 */

/** A binding key split once into words, for matching many routing keys against it. */
export type BindingWords = readonly string[];

/** The words of a key; the empty key has none (RabbitMQ: `split_topic_key(<<>>) -> []`). */
export function splitWords(key: string): string[] {
  return key === "" ? [] : key.split(".");
}

/** True when a message with `routingKey` is routed through a binding with `bindingKey` (one-off; split once to match many). */
export function matchesBindingKey(bindingKey: string, routingKey: string): boolean {
  return bindingMatches(splitWords(bindingKey), splitWords(routingKey));
}

/** Whether a message with routing key `routingWords` is routed through binding `bindingWords`. */
export function bindingMatches(bindingWords: BindingWords, routingWords: readonly string[]): boolean {
  return matchFrom(bindingWords, 0, routingWords, 0);
}

function matchFrom(binding: BindingWords, b: number, routing: readonly string[], r: number): boolean {
  while (b < binding.length) {
    const word = binding[b]!;
    if (word === "#") {
      // Collapse consecutive `#`s, then try every split point (zero or more words).
      while (b + 1 < binding.length && binding[b + 1] === "#") b++;
      if (b + 1 === binding.length) return true;
      for (let skip = r; skip <= routing.length; skip++) if (matchFrom(binding, b + 1, routing, skip)) return true;
      return false;
    }
    if (r >= routing.length) return false;
    if (word !== "*" && word !== routing[r]) return false;
    b++;
    r++;
  }
  return r === routing.length;
}
