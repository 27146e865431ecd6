/**
 * Every name the adapter shows RabbitMQ: the session queue, and the translation between MQTT
 * topics / filters and AMQP routing / binding keys. This is the ONE module that builds them, so
 * "do we match the native plugin's naming?" is a question about this file only. The memory
 * backend (backend/memory/) uses it too, so the fake routes exactly like the real thing.
 *
 * Translation (DESIGN.md compatibility contract):
 *
 *   MQTT             AMQP
 *   `/` (level sep)  `.` (word sep)
 *   `+` (filter)     `*` (binding key)      only in filters / binding keys
 *   `#`              `#`
 *   `.` (literal)    `/` (literal)          a swap, see below
 *
 * Deliberate difference from the rabbitmq_mqtt plugin: the plugin translates `/` to `.` and
 * leaves a literal `.` in an MQTT topic alone, so on the AMQP side that `.` becomes an extra
 * word boundary and comes back to MQTT as `/`: the MQTT topic `a.b/c` is delivered to MQTT
 * subscribers as `a/b/c` and matches the filter `+/+/c`, not `+/c`. We swap the two characters
 * instead (MQTT `a.b/c` ⇄ AMQP `a/b.c`), so every MQTT → AMQP → MQTT trip keeps the topic and
 * its level structure exactly. An AMQP publisher that uses `/` inside a word is seen by MQTT as
 * a `.` inside a level. Messages whose topics contain no `.` and routing keys without `/` (all
 * the usual ones) translate exactly as with the plugin.
 *
 * Known limits (AMQP has no escaping): a filter level that is a literal `*` (MQTT allows it)
 * becomes an AMQP one-word wildcard; and routing keys, binding keys and queue names are AMQP
 * short strings, at most 255 bytes of UTF-8: longer ones are refused as a value (see
 * `checkShortString`), never sent.
 */
import type { BackendError } from "../backend.ts";

/** AMQP 0-9-1 short strings (queue names, routing keys) hold at most 255 bytes. */
export const AMQP_SHORT_STRING_MAX_BYTES = 255;

/**
 * The session queue of an MQTT client, as the rabbitmq_mqtt plugin names it, so a session
 * stored by the plugin is picked up by the adapter and vice versa. We keep one queue per
 * session for QoS 0 and QoS 1 alike (no `…qos0` queue): RabbitMQ routes a message to a queue
 * once however many of its bindings match, so overlapping subscriptions deliver one copy,
 * where the plugin's two queues deliver duplicates.
 */
export function sessionQueueName(clientId: string): string {
  return `mqtt-subscription-${clientId}qos1`;
}

/** MQTT topic name → AMQP routing key (`/` ⇄ `.` swap). The topic has no wildcards. */
export function toRoutingKey(topic: string): string {
  return swap(topic, false);
}

/** MQTT topic filter → AMQP binding key (`/` ⇄ `.` swap, `+` → `*`, `#` unchanged). */
export function toBindingKey(filter: string): string {
  return swap(filter, true);
}

/** AMQP routing key → MQTT topic name (inverse of `toRoutingKey`; `*` stays literal). */
export function fromRoutingKey(routingKey: string): string {
  return swap(routingKey, false);
}

/** AMQP binding key → MQTT topic filter (inverse of `toBindingKey`: `*` → `+`). */
export function fromBindingKey(bindingKey: string): string {
  let out = "";
  for (let i = 0; i < bindingKey.length; i++) {
    const c = bindingKey[i]!;
    out += c === "." ? "/" : c === "/" ? "." : c === "*" ? "+" : c;
  }
  return out;
}

function swap(text: string, plusToStar: boolean): string {
  // Fast path: the common topic has no `.` and no `+`, only `/` to replace.
  if (text.indexOf(".") < 0 && (!plusToStar || text.indexOf("+") < 0)) return text.replaceAll("/", ".");
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    out += c === "/" ? "." : c === "." ? "/" : plusToStar && c === "+" ? "*" : c;
  }
  return out;
}

/**
 * A refusal when `value` does not fit an AMQP short string (queue name, routing key, binding
 * key), else undefined. amqplib would throw while encoding the frame, so check first.
 * `what` names the thing for the message, e.g. `routing key for topic "a/b"`.
 */
export function checkShortString(value: string, what: string): BackendError | undefined {
  // Fast path: every UTF-16 unit is at most 3 UTF-8 bytes.
  if (value.length * 3 <= AMQP_SHORT_STRING_MAX_BYTES) return undefined;
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes <= AMQP_SHORT_STRING_MAX_BYTES) return undefined;
  return {
    kind: "failed",
    message: `${what} is ${bytes} bytes of UTF-8; RabbitMQ accepts at most ${AMQP_SHORT_STRING_MAX_BYTES} (AMQP short string)`,
  };
}
