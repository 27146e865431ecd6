/**
 * AMQP topic-exchange matching, as RabbitMQ does it: binding key and routing key are split into
 * words at `.`; `*` matches exactly one word (which may be empty), `#` matches zero or more
 * words. The memory broker routes with this, on keys translated by amqp/naming.ts, so an MQTT
 * filter matches in the fake exactly as it does in RabbitMQ (wildcards anywhere, AMQP semantics).
 */

/** True when a message with `routingKey` is routed through a binding with `bindingKey`. */
export function matchesBindingKey(bindingKey: string, routingKey: string): boolean {
  return matchWords(splitWords(bindingKey), 0, splitWords(routingKey), 0);
}

/** RabbitMQ splits the empty key into no words at all (so `#` matches it and `*` does not). */
function splitWords(key: string): string[] {
  return key === "" ? [] : key.split(".");
}

function matchWords(binding: string[], b: number, routing: string[], r: number): boolean {
  while (b < binding.length) {
    const word = binding[b]!;
    if (word === "#") {
      // Collapse runs of `#`, then try every split point (zero or more words).
      while (b + 1 < binding.length && binding[b + 1] === "#") b++;
      if (b + 1 === binding.length) return true;
      for (let skip = r; skip <= routing.length; skip++) {
        if (matchWords(binding, b + 1, routing, skip)) return true;
      }
      return false;
    }
    if (r >= routing.length) return false;
    if (word !== "*" && word !== routing[r]) return false;
    b++;
    r++;
  }
  return r === routing.length;
}
