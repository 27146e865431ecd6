import { describe, expect, test } from "bun:test";
// The live path's matcher is the reference: a retained message must reach exactly the filters a
// live publish to its topic reaches (a test-only import; the runtime code does not depend on it).
import { topicMatches } from "../protocol/topic-match.ts";
import { RetainedTopicIndex } from "./topic-index.ts";

const TOPICS = [
  "a",
  "a/b",
  "a/b/c",
  "a/c",
  "a//c",
  "a/",
  "/a",
  "b",
  "a.b/c",
  "x/y/z/w",
  "$SYS",
  "$SYS/broker/load",
  "$share/x",
  "a/$b",
  "sport/tennis/player1",
  "sport/tennis/player1/ranking",
  "sport",
];

function indexOf(topics: readonly string[], vhost = "/"): RetainedTopicIndex {
  const index = new RetainedTopicIndex();
  for (const topic of topics) index.set(vhost, topic, 1, topic.length);
  return index;
}

const sorted = (topics: Iterable<string>): string[] => [...topics].sort();

describe("RetainedTopicIndex.match", () => {
  const cases: Array<[filter: string, expected: string[]]> = [
    ["a/b", ["a/b"]],
    ["a/+", ["a/", "a/$b", "a/b", "a/c"]],
    ["a/#", ["a", "a/", "a//c", "a/$b", "a/b", "a/b/c", "a/c"]],
    ["+/c", ["a.b/c", "a/c"]], // `.` is part of a level, not a separator
    ["+", ["a", "b", "sport"]], // not `$SYS` [MQTT-4.7.2-1]
    ["#", TOPICS.filter((t) => !t.startsWith("$"))],
    ["$SYS/#", ["$SYS", "$SYS/broker/load"]],
    ["$SYS/+/load", ["$SYS/broker/load"]],
    ["#/load", []],
    ["#/c", ["a.b/c", "a//c", "a/b/c", "a/c"]], // `#` anywhere: AMQP semantics
    ["a/#/c", ["a//c", "a/b/c", "a/c"]],
    ["#/#", TOPICS.filter((t) => !t.startsWith("$"))],
    ["a/#/#", ["a", "a/", "a//c", "a/$b", "a/b", "a/b/c", "a/c"]],
    ["sport/tennis/+", ["sport/tennis/player1"]],
    ["sport/#", ["sport", "sport/tennis/player1", "sport/tennis/player1/ranking"]],
    ["/+", ["/a"]],
    ["nothing/here", []],
  ];
  const index = indexOf(TOPICS);
  for (const [filter, expected] of cases) {
    test(`"${filter}" finds ${expected.length} topic(s)`, () => {
      const found = index.match("/", filter).map((entry) => entry.topic);
      expect(sorted(found)).toEqual(sorted(expected));
      expect(new Set(found).size).toBe(found.length); // each once
    });
  }

  test("agrees with the live-delivery matcher on every filter × topic of a generated set", () => {
    const words = ["a", "b", "", "$x", "c.d"];
    const topics = new Set<string>();
    for (const w1 of words) {
      topics.add(w1);
      for (const w2 of words) {
        topics.add(`${w1}/${w2}`);
        for (const w3 of ["", "a", "b"]) topics.add(`${w1}/${w2}/${w3}`);
      }
    }
    const filterWords = ["a", "+", "#", "", "$x", "b"];
    const filters: string[] = [];
    for (const f1 of filterWords) for (const f2 of [undefined, ...filterWords]) for (const f3 of [undefined, "#", "+", "a"]) {
      filters.push([f1, f2, f3].filter((w) => w !== undefined).join("/"));
    }
    const idx = indexOf([...topics]);
    for (const filter of filters) {
      const expected = [...topics].filter((topic) => topicMatches(filter, topic));
      expect({ filter, found: sorted(idx.match("/", filter).map((e) => e.topic)) }).toEqual({ filter, found: sorted(expected) });
    }
  });

  test("keeps vhosts apart", () => {
    const index = new RetainedTopicIndex();
    index.set("/", "a/b", 0, 1);
    index.set("iot", "a/c", 1, 2);
    expect(index.match("/", "#").map((e) => e.topic)).toEqual(["a/b"]);
    expect(index.match("iot", "a/+").map((e) => e.topic)).toEqual(["a/c"]);
    expect(index.match("none", "#")).toEqual([]);
  });

  test("matches a topic thousands of levels deep without recursion", () => {
    const deep = Array.from({ length: 20_000 }, (_, i) => `l${i}`).join("/");
    const index = indexOf([deep]);
    expect(index.match("/", "#").map((e) => e.topic)).toEqual([deep]);
    expect(index.match("/", "l0/#/l19999").map((e) => e.topic)).toEqual([deep]);
    expect(index.match("/", deep.replace(/l\d+/g, "+")).map((e) => e.topic)).toEqual([deep]);
  });
});

describe("RetainedTopicIndex bookkeeping", () => {
  test("set replaces, delete removes and prunes, count and bytes follow", () => {
    const index = new RetainedTopicIndex();
    index.set("/", "a/b/c", 1, 10);
    index.set("/", "a/b", 0, 5);
    expect([index.count, index.bytes]).toEqual([2, 15]);
    index.set("/", "a/b/c", 2, 3);
    expect([index.count, index.bytes]).toEqual([2, 8]);
    expect(index.get("/", "a/b/c")).toEqual({ topic: "a/b/c", qos: 2, bytes: 3 });
    expect(index.delete("/", "a/b/c")).toBe(true);
    expect(index.delete("/", "a/b/c")).toBe(false);
    expect(index.delete("/", "a")).toBe(false); // an inner node without an entry
    expect([index.count, index.bytes]).toEqual([1, 5]);
    expect(index.match("/", "a/#").map((e) => e.topic)).toEqual(["a/b"]);
    expect(index.delete("/", "a/b")).toBe(true);
    expect(index.match("/", "#")).toEqual([]);
    expect([index.count, index.bytes]).toEqual([0, 0]);
  });

  test("an inner node that still has children survives the delete of its own entry", () => {
    const index = indexOf(["a", "a/b"]);
    index.delete("/", "a");
    expect(index.get("/", "a")).toBeUndefined();
    expect(index.get("/", "a/b")?.topic).toBe("a/b");
  });
});
