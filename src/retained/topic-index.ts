/**
 * The in-memory index of retained topics: one trie per vhost, keyed by topic level, whose nodes
 * hold what subscribe-time matching needs (the topic, its stored QoS, its payload size) but never
 * a payload (payloads stay in the payload storage, e.g. SQLite). Matching a filter walks only the
 * branches the filter can reach, so an exact or `+` filter over 100,000 retained topics costs a
 * few map lookups, not a scan (bench/retained/match-bench.ts measures it).
 *
 * Matching semantics are those of the live path (protocol/topic-match.ts), because a retained
 * message must reach exactly the subscribers a live publish to its topic would reach:
 * - AMQP topic semantics in MQTT syntax: `+` is one level, `#` zero or more levels, and either may
 *   stand in any level of a filter (`#/b`, `a/#/c`), as RabbitMQ matches the binding key;
 * - a filter whose first level is `#` or `+` does not match a topic whose first level starts with
 *   `$` [MQTT-4.7.2-1]; `$SYS/#` does.
 *
 * The walk is iterative (an explicit stack): a topic may have thousands of levels, and recursion
 * that deep could overflow the stack.
 *
 * Invariants: every node on a path to an entry exists, and a node with neither an entry nor
 * children is removed (so a vhost's root exists only while it holds a topic); `count` and
 * `bytes` are the sums over all entries of all vhosts.
 */
import type { QoS } from "../codec/index.ts";

/** What the index knows of one retained message. The topic string is shared, not copied. */
export interface RetainedEntry {
  readonly topic: string;
  /** The QoS the message was published with. */
  qos: QoS;
  /** Payload size, bytes. */
  bytes: number;
}

class TrieNode {
  /** Child nodes by level text; created on the first child. */
  children: Map<string, TrieNode> | undefined;
  /** The retained message whose topic ends at this node. */
  entry: RetainedEntry | undefined;
}

/** Splits a topic name or filter into its levels ("a//b" has three: "a", "", "b"). */
function levels(topic: string): string[] {
  return topic.split("/");
}

export class RetainedTopicIndex {
  private readonly roots = new Map<string, TrieNode>();
  private countNow = 0;
  private bytesNow = 0;

  /** Retained messages indexed, all vhosts. */
  get count(): number {
    return this.countNow;
  }

  /** Sum of their payload sizes, bytes. */
  get bytes(): number {
    return this.bytesNow;
  }

  /** The entry of `topic` in `vhost`, or undefined. */
  get(vhost: string, topic: string): RetainedEntry | undefined {
    let node = this.roots.get(vhost);
    for (const level of levels(topic)) {
      if (node === undefined) return undefined;
      node = node.children?.get(level);
    }
    return node?.entry;
  }

  /** Adds or replaces the entry of `topic` in `vhost`. */
  set(vhost: string, topic: string, qos: QoS, bytes: number): void {
    let node = this.roots.get(vhost);
    if (node === undefined) {
      node = new TrieNode();
      this.roots.set(vhost, node);
    }
    for (const level of levels(topic)) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (child === undefined) {
        child = new TrieNode();
        node.children.set(level, child);
      }
      node = child;
    }
    const existing = node.entry;
    if (existing === undefined) {
      node.entry = { topic, qos, bytes };
      this.countNow++;
      this.bytesNow += bytes;
      return;
    }
    this.bytesNow += bytes - existing.bytes;
    existing.qos = qos;
    existing.bytes = bytes;
  }

  /** Removes the entry of `topic` in `vhost` (and the nodes left empty); false when there was none. */
  delete(vhost: string, topic: string): boolean {
    const root = this.roots.get(vhost);
    if (root === undefined) return false;
    const path: Array<[TrieNode, string]> = [];
    let node: TrieNode | undefined = root;
    for (const level of levels(topic)) {
      const child: TrieNode | undefined = node.children?.get(level);
      if (child === undefined) return false;
      path.push([node, level]);
      node = child;
    }
    const entry = node.entry;
    if (entry === undefined) return false;
    node.entry = undefined;
    this.countNow--;
    this.bytesNow -= entry.bytes;
    // Prune from the leaf up while nodes are empty.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i]!;
      const child = parent.children!.get(level)!;
      if (child.entry !== undefined || (child.children !== undefined && child.children.size > 0)) break;
      parent.children!.delete(level);
    }
    if (root.entry === undefined && (root.children === undefined || root.children.size === 0)) this.roots.delete(vhost);
    return true;
  }

  /**
   * The entries of `vhost` whose topics match `filter` (a valid MQTT topic filter; see the module
   * comment for the semantics), each once, in no particular order.
   */
  match(vhost: string, filter: string): RetainedEntry[] {
    const root = this.roots.get(vhost);
    if (root === undefined) return [];
    const filterLevels = levels(filter);
    const f = filterLevels.length;
    const first = filterLevels[0]!;
    // [MQTT-4.7.2-1]: applies to every path that leaves the root, whatever `#` matched first.
    const dollarRoot = first === "#" || first === "+" ? root : undefined;
    let hashes = 0;
    for (const level of filterLevels) if (level === "#") hashes++;
    const out: RetainedEntry[] = [];
    // Two separate `#` can reach one topic along two paths: only then is a seen-set needed.
    const seen = hashes > 1 ? new Set<RetainedEntry>() : undefined;
    const emit = (entry: RetainedEntry): void => {
      if (seen !== undefined) {
        if (seen.has(entry)) return;
        seen.add(entry);
      }
      out.push(entry);
    };
    // Pending (node, index of the next filter level) pairs, as two parallel stacks (no tuples).
    const nodes: TrieNode[] = [root];
    const next: number[] = [0];
    const push = (node: TrieNode, i: number): void => {
      nodes.push(node);
      next.push(i);
    };
    while (nodes.length > 0) {
      const node = nodes.pop()!;
      const i = next.pop()!;
      if (i === f) {
        if (node.entry !== undefined) emit(node.entry);
        continue;
      }
      const level = filterLevels[i]!;
      if (level === "#") {
        let j = i; // `#/#` is one `#`
        while (j + 1 < f && filterLevels[j + 1] === "#") j++;
        if (j === f - 1) {
          visitSubtree(node, dollarRoot, (n) => {
            if (n.entry !== undefined) emit(n.entry);
          });
          continue;
        }
        // `#` followed by more levels swallows zero or more levels: every node of the subtree
        // (this one included) continues with the level after it.
        const after = filterLevels[j + 1]!;
        if (after === "+") {
          // ...and `+` takes one more: every node strictly below continues after the `+`.
          visitSubtree(node, dollarRoot, (n) => {
            if (n !== node) push(n, j + 2);
          });
        } else {
          visitSubtree(node, dollarRoot, (n) => {
            // `#/$x`: `#` matched zero levels, but the topic would start with `$` [MQTT-4.7.2-1].
            if (n === dollarRoot && after.charCodeAt(0) === 0x24) return;
            const child = n.children?.get(after);
            if (child !== undefined) push(child, j + 2);
          });
        }
      } else if (level === "+") {
        const children = node.children;
        if (children === undefined) continue;
        if (node === dollarRoot) {
          for (const [key, child] of children) if (key.charCodeAt(0) !== 0x24) push(child, i + 1);
        } else {
          for (const child of children.values()) push(child, i + 1);
        }
      } else {
        if (node === dollarRoot && level.charCodeAt(0) === 0x24) continue;
        const child = node.children?.get(level);
        if (child !== undefined) push(child, i + 1);
      }
    }
    return out;
  }
}

/**
 * Calls `visit` for `node` and each of its descendants, depth first, without recursion; below
 * `dollarRoot` (the vhost root, when the filter starts with a wildcard) `$` levels are skipped.
 */
function visitSubtree(node: TrieNode, dollarRoot: TrieNode | undefined, visit: (n: TrieNode) => void): void {
  const stack: TrieNode[] = [node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    visit(n);
    const children = n.children;
    if (children === undefined) continue;
    if (n === dollarRoot) {
      for (const [key, child] of children) if (key.charCodeAt(0) !== 0x24) stack.push(child);
    } else {
      for (const child of children.values()) stack.push(child);
    }
  }
}
