/**
 * Topic Name and Topic Filter syntax (MQTT 5 §4.7, §4.8.2; 3.1.1 §4.7). Syntax only: what a
 * filter matches, and how topics map to AMQP routing keys, live elsewhere.
 */
import { ReasonCode } from "./constants.ts";
import { DecodeError } from "./errors.ts";

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const NUL = 0;

/** Quotes a topic for messages, cut short so one bad packet cannot flood the log. */
export function quoteTopic(topic: string): string {
  return JSON.stringify(topic.length > 100 ? `${topic.slice(0, 100)}…` : topic);
}

/**
 * A Topic Name as PUBLISH carries it: non-empty [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-2],
 * no U+0000 [MQTT-4.7.3-2]. (MQTT 5 allows an empty name with a Topic Alias: the caller checks that.)
 */
export function validateTopicName(topic: string, field = "topic name"): DecodeError | undefined {
  if (topic.length === 0) {
    return new DecodeError(
      ReasonCode.TopicNameInvalid,
      field,
      "is empty; a topic name must be at least one character long [MQTT-4.7.3-1]",
    );
  }
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH) {
      return new DecodeError(
        ReasonCode.TopicNameInvalid,
        field,
        `${quoteTopic(topic)} contains the wildcard '${String.fromCharCode(c)}' at index ${i}; topic names must not contain wildcards [MQTT-3.3.2-2]`,
      );
    }
    if (c === NUL) return nulInTopic(field, topic);
  }
  return undefined;
}

/** How strictly validateTopicFilter (and the Decoder, for SUBSCRIBE / UNSUBSCRIBE) reads filters. */
export interface TopicFilterOptions {
  /**
   * Accept '#' as any whole level, not only the last one: "a/#/b", "#/a". The native RabbitMQ
   * plugin accepts these and binds them as AMQP topic patterns ("a.#.b"), so a drop-in must too
   * (DESIGN.md: wildcards anywhere, AMQP semantics, MQTT syntax). Default false: the spec's rule
   * [MQTT-4.7.1-2]. '#' and '+' must fill a whole level either way.
   */
  multiLevelWildcardAnywhere?: boolean;
}

/**
 * A Topic Filter as SUBSCRIBE / UNSUBSCRIBE carry it: non-empty [MQTT-4.7.3-1]; '#' only as the
 * whole last level [MQTT-4.7.1-2] (any whole level with `multiLevelWildcardAnywhere`); '+' only
 * as a whole level [MQTT-4.7.1-3]; no U+0000.
 */
export function validateTopicFilter(
  filter: string,
  field = "topic filter",
  options?: TopicFilterOptions,
): DecodeError | undefined {
  if (filter.length === 0) {
    return new DecodeError(
      ReasonCode.TopicFilterInvalid,
      field,
      "is empty; a topic filter must be at least one character long [MQTT-4.7.3-1]",
    );
  }
  const anywhere = options?.multiLevelWildcardAnywhere === true;
  const last = filter.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = filter.charCodeAt(i);
    if (c === HASH) {
      const startsLevel = i === 0 || filter.charCodeAt(i - 1) === SLASH;
      const alone = startsLevel && (i === last || (anywhere && filter.charCodeAt(i + 1) === SLASH));
      if (!alone) {
        return new DecodeError(
          ReasonCode.TopicFilterInvalid,
          field,
          anywhere
            ? `${quoteTopic(filter)} has '#' at index ${i} sharing its level with other characters; '#' must fill a whole level, as in "a/#/b" (multi-level wildcard anywhere is enabled; the spec's own rule is [MQTT-4.7.1-2])`
            : `${quoteTopic(filter)} has '#' at index ${i}; '#' must be the last character and alone in its level, as in "a/#" [MQTT-4.7.1-2]`,
        );
      }
    } else if (c === PLUS) {
      const alone =
        (i === 0 || filter.charCodeAt(i - 1) === SLASH) && (i === last || filter.charCodeAt(i + 1) === SLASH);
      if (!alone) {
        return new DecodeError(
          ReasonCode.TopicFilterInvalid,
          field,
          `${quoteTopic(filter)} has '+' at index ${i} sharing its level with other characters; '+' must fill a whole level, as in "a/+/b" [MQTT-4.7.1-3]`,
        );
      }
    } else if (c === NUL) {
      return new DecodeError(
        ReasonCode.TopicFilterInvalid,
        field,
        `${quoteTopic(filter)} contains U+0000 at index ${i}; topic filters must not [MQTT-4.7.3-2]`,
      );
    }
  }
  return undefined;
}

/** A Shared Subscription filter, split: `$share/{shareName}/{topicFilter}`. */
export interface SharedSubscription {
  shareName: string;
  topicFilter: string;
}

const SHARE_PREFIX = "$share/";

/**
 * Splits an MQTT 5 Shared Subscription (§4.8.2). Returns undefined when `filter` is not one
 * (does not start with "$share/"), a DecodeError when it is one but malformed: the Share Name
 * must be non-empty without '/', '+' or '#' [MQTT-4.8.2-1], and a '/' and a valid topic filter
 * (checked with `options`) must follow it [MQTT-4.8.2-2].
 */
export function parseSharedSubscription(
  filter: string,
  field = "topic filter",
  options?: TopicFilterOptions,
): SharedSubscription | DecodeError | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf("/", SHARE_PREFIX.length);
  const shareName = filter.slice(SHARE_PREFIX.length, slash === -1 ? filter.length : slash);
  if (shareName.length === 0 || shareName.includes("+") || shareName.includes("#")) {
    return new DecodeError(
      ReasonCode.TopicFilterInvalid,
      field,
      `${quoteTopic(filter)} is a shared subscription with Share Name ${quoteTopic(shareName)}; it must be at least one character without '/', '+' or '#' [MQTT-4.8.2-1]`,
    );
  }
  if (slash === -1 || slash === filter.length - 1) {
    return new DecodeError(
      ReasonCode.TopicFilterInvalid,
      field,
      `${quoteTopic(filter)} is a shared subscription without a topic filter; expected "$share/${shareName}/<filter>" [MQTT-4.8.2-2]`,
    );
  }
  const topicFilter = filter.slice(slash + 1);
  const error = validateTopicFilter(topicFilter, field, options);
  if (error !== undefined) return error;
  return { shareName, topicFilter };
}

function nulInTopic(field: string, topic: string): DecodeError {
  return new DecodeError(
    ReasonCode.TopicNameInvalid,
    field,
    `${quoteTopic(topic)} contains U+0000; topic names must not [MQTT-4.7.3-2]`,
  );
}
