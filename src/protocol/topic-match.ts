/**
 * Which of a client's topic filters match a delivered topic, with the semantics RabbitMQ used to
 * route it: AMQP topic matching written in MQTT syntax. `+` matches exactly one level, `#` zero
 * or more levels, and both may stand anywhere in a filter (`#/b`, `a/#/c`), because every filter
 * becomes an AMQP binding key and RabbitMQ matches those that way. Matching the way RabbitMQ did
 * is what lets us find the granted QoS of the subscription(s) a delivery came through.
 *
 * On top of that, a filter starting with `#` or `+` does not match a topic starting with `$`
 * [MQTT-4.7.2-1] (`$SYS/#` does). RabbitMQ's routing knows no such rule (the binding `#` routes
 * `$SYS.x` to the queue), so the adapter applies it when a delivery arrives: one that matched only
 * through such filters is dropped (see delivery.ts). The retained store applies it too
 * (retained/topic-index.ts), so both paths agree.
 */
import type { QoS } from "../codec/index.ts";

/** Splits a topic name or filter into its levels ("a//b" has three: "a", "", "b"). */
export function splitTopicLevels(topic: string): string[] {
  return topic.split("/");
}

/** Whether `topic` (a name, no wildcards) matches `filter`, both given as levels. */
export function levelsMatch(filterLevels: readonly string[], topicLevels: readonly string[]): boolean {
  const f = filterLevels.length;
  const t = topicLevels.length;
  if (!filterLevels.includes("#")) {
    // Fast path, the common case: level by level, `+` matching any one level.
    if (f !== t) return false;
    for (let i = 0; i < f; i++) {
      const level = filterLevels[i]!;
      if (level !== "+" && level !== topicLevels[i]) return false;
    }
    return true;
  }
  // `#` can swallow any number of levels, so match by dynamic programming over prefixes:
  // matched[j] = the filter levels seen so far match the first j topic levels. O(f × t), no backtracking.
  let matched = new Uint8Array(t + 1);
  matched[0] = 1;
  for (let i = 0; i < f; i++) {
    const level = filterLevels[i]!;
    const next = new Uint8Array(t + 1);
    if (level === "#") {
      let any = 0;
      for (let j = 0; j <= t; j++) {
        any |= matched[j]!;
        next[j] = any;
      }
    } else {
      for (let j = 1; j <= t; j++) {
        if (matched[j - 1] === 1 && (level === "+" || level === topicLevels[j - 1])) next[j] = 1;
      }
    }
    matched = next;
  }
  return matched[t] === 1;
}

/** Whether a filter starting with a wildcard meets a topic starting with `$` [MQTT-4.7.2-1]. */
export function excludedByDollarRule(filterLevels: readonly string[], topic: string): boolean {
  if (topic.charCodeAt(0) !== 0x24 /* $ */) return false;
  const first = filterLevels[0];
  return first === "#" || first === "+";
}

/** Whether topic name `topic` matches topic filter `filter` (AMQP semantics, MQTT syntax, `$` rule). */
export function topicMatches(filter: string, topic: string): boolean {
  const filterLevels = splitTopicLevels(filter);
  return !excludedByDollarRule(filterLevels, topic) && levelsMatch(filterLevels, splitTopicLevels(topic));
}

/**
 * A client's filters with their granted QoS, pre-split so a delivery costs one split of its topic
 * plus a walk over the filters. Mirrors the session's `subscriptions` map (the connection keeps
 * both in step).
 */
export class SubscriptionMatcher {
  private readonly filters = new Map<string, { levels: string[]; qos: QoS }>();

  /** Adds or replaces `filter` (a second SUBSCRIBE to the same filter replaces it [MQTT-3.8.4-3]). */
  set(filter: string, qos: QoS): void {
    this.filters.set(filter, { levels: splitTopicLevels(filter), qos });
  }

  delete(filter: string): void {
    this.filters.delete(filter);
  }

  get size(): number {
    return this.filters.size;
  }

  /**
   * The highest granted QoS over the filters matching `topic` (`$` rule applied), or undefined
   * when none matches.
   */
  maxGrantedQos(topic: string): QoS | undefined {
    if (this.filters.size === 0) return undefined;
    const topicLevels = splitTopicLevels(topic);
    const dollar = topic.charCodeAt(0) === 0x24; /* $ */
    let best: QoS | undefined;
    for (const entry of this.filters.values()) {
      if (best !== undefined && entry.qos <= best) continue;
      if (dollar && excludedByDollarRule(entry.levels, topic)) continue;
      if (levelsMatch(entry.levels, topicLevels)) {
        best = entry.qos;
        if (best === 2) break;
      }
    }
    return best;
  }

  /**
   * Whether some filter matches `topic` when the `$` rule is ignored: how RabbitMQ matched it.
   * With `maxGrantedQos` undefined this tells "routed only through `#`/`+`-first filters, which
   * MQTT says must not match a `$` topic" apart from "routed by a binding we do not know".
   */
  matchesIgnoringDollarRule(topic: string): boolean {
    const topicLevels = splitTopicLevels(topic);
    for (const entry of this.filters.values()) if (levelsMatch(entry.levels, topicLevels)) return true;
    return false;
  }
}
