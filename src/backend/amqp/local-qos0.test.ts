/**
 * The rules of local delivery (local-qos0.ts) one by one, on a fan-out stand-in that delivers
 * into an array and keeps a real EchoLedger: when a publish may go local (permission verified,
 * nothing of the publisher's on its way, an echo fence for the fan-out's current epoch) and what
 * the publish channel is told. What clients see end to end, against RabbitMQ, is in
 * test/integration/qos0-local-delivery.test.ts.
 */
import { describe, expect, test } from "bun:test";
import type { QoS } from "../../codec/index.ts";
import { ECHO_LEDGER_MAX_BYTES, EchoLedger, type ExpectedEcho } from "./echo-ledger.ts";
import { LocalQos0Delivery, type LocalPublisher, type PublishChannelView } from "./local-qos0.ts";
import type { LocalPublishHooks } from "./publish-channel.ts";
import type { FanoutMember, Qos0Fanout } from "./qos0-fanout.ts";

const EXCHANGE = "amq.topic";
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (payload: Uint8Array): string => new TextDecoder().decode(payload);

/** Stands in for Qos0Fanout: every routing key has one member; echoes go to a real ledger. */
class FanoutStandIn {
  readonly exchange = EXCHANGE;
  epoch = 0;
  readonly ledger = new EchoLedger();
  readonly local: string[] = [];
  private readonly members: readonly FanoutMember[] = [{} as FanoutMember];

  localTargets(): readonly FanoutMember[] {
    return this.members;
  }
  deliverLocally(routingKey: string, payload: Uint8Array, qos: QoS): ExpectedEcho | undefined {
    const echo = this.ledger.expect(routingKey, payload, qos, undefined);
    if (echo !== undefined) this.local.push(text(payload));
    return echo;
  }
  expectEcho(routingKey: string, payload: Uint8Array, qos: QoS, onSeen: (arrived: boolean) => void): ExpectedEcho | undefined {
    return this.ledger.expect(routingKey, payload, qos, onSeen);
  }
  /** RabbitMQ delivers the message to the fan-out queue: what route() does with the ledger. */
  echo(routingKey: string, payload: string, qos: QoS = 0): "dropped" | "delivered" {
    const entry = this.ledger.take(routingKey, bytes(payload), qos);
    if (entry !== undefined && entry.onSeen === undefined) return "dropped";
    entry?.onSeen?.(true);
    return "delivered";
  }
}

interface Setup {
  local: LocalQos0Delivery;
  fanout: FanoutStandIn;
  publisher: LocalPublisher;
  channel: PublishChannelView & { keys: Set<string> };
  /** `publisher` offers `payload` to routing key "k" of vhost "/" on `channel`. */
  offer(payload: string, qos?: QoS): LocalPublishHooks | undefined;
}

function setUp(): Setup {
  const local = new LocalQos0Delivery();
  const fanout = new FanoutStandIn();
  local.directoryFor("/").add(fanout as unknown as Qos0Fanout);
  const keys = new Set<string>();
  const channel = { keys, isVerified: (_exchange: string, routingKey: string) => keys.has(routingKey) };
  const publisher: LocalPublisher = { echoesPending: 0, fences: undefined, fenceResets: 0 };
  const offer = (payload: string, qos: QoS = 0) => local.offer(publisher, "/", EXCHANGE, "k", bytes(payload), qos, channel);
  return { local, fanout, publisher, channel, offer };
}

describe("LocalQos0Delivery.offer", () => {
  test("a key RabbitMQ has not confirmed goes the normal way and asks for the confirm; once verified and fenced, QoS 0 goes local", () => {
    const { fanout, publisher, channel, offer } = setUp();
    const first = offer("1");
    expect(first?.verify).toBe(true);
    expect(fanout.local).toEqual([]);
    expect(publisher.echoesPending).toBe(1);
    channel.keys.add("k"); // the confirm of "1"
    expect(fanout.echo("k", "1")).toBe("delivered");
    expect(publisher.echoesPending).toBe(0);
    const second = offer("2");
    expect(second?.verify).toBe(false);
    expect(fanout.local).toEqual(["2"]);
    expect(fanout.echo("k", "2")).toBe("dropped");
  });

  test("verified but not fenced (the echo has not come back yet): normal way, in order behind the earlier one", () => {
    const { fanout, publisher, channel, offer } = setUp();
    offer("1");
    channel.keys.add("k"); // confirmed before its echo came back
    offer("2");
    expect(fanout.local).toEqual([]);
    expect(publisher.echoesPending).toBe(2);
    fanout.echo("k", "1");
    fanout.echo("k", "2");
    offer("3");
    expect(fanout.local).toEqual(["3"]);
  });

  test("a new binding key (next epoch) needs a new fence: a message that found no members may still be on its way", () => {
    const { fanout, channel, offer } = setUp();
    channel.keys.add("k");
    offer("1");
    fanout.echo("k", "1");
    offer("2");
    expect(fanout.local).toEqual(["2"]);
    fanout.epoch++;
    offer("3");
    expect(fanout.local).toEqual(["2"]);
    fanout.echo("k", "2");
    fanout.echo("k", "3");
    offer("4");
    expect(fanout.local).toEqual(["2", "4"]);
  });

  test("an echo that never comes (expired, withdrawn) releases the publisher but fences nothing", () => {
    const { fanout, publisher, channel, offer } = setUp();
    channel.keys.add("k");
    const hooks = offer("1");
    hooks!.discarded();
    expect(publisher.echoesPending).toBe(0);
    offer("2");
    expect(fanout.local).toEqual([]);
  });

  test("QoS 1 and 2 never go local but hold back the publisher's next QoS 0 until they are back", () => {
    const { fanout, channel, offer } = setUp();
    channel.keys.add("k");
    offer("warm");
    fanout.echo("k", "warm");
    offer("q1", 1);
    offer("q0");
    expect(fanout.local).toEqual([]);
    expect(fanout.echo("k", "q1", 1)).toBe("delivered");
    expect(fanout.echo("k", "q0", 0)).toBe("delivered");
    offer("after");
    expect(fanout.local).toEqual(["after"]);
  });

  test("a message a full ledger cannot track goes the normal way and drops the fences; a late echo of an earlier one does not restore them", () => {
    const { fanout, publisher, channel, offer } = setUp();
    channel.keys.add("k");
    offer("1");
    fanout.echo("k", "1");
    offer("2");
    fanout.epoch++;
    offer("3"); // tracked: a new epoch
    // "2" and "3" hold a byte each: the ledger is full.
    const filler = fanout.ledger.expect("other", new Uint8Array(ECHO_LEDGER_MAX_BYTES - 2), 0, undefined)!;
    expect(offer("4")?.verify).toBe(false); // untracked
    expect(publisher.echoesPending).toBe(1);
    fanout.ledger.withdraw(filler);
    fanout.echo("k", "2");
    fanout.echo("k", "3");
    expect(publisher.echoesPending).toBe(0);
    offer("5");
    expect(fanout.local).toEqual(["2"]);
    fanout.echo("k", "4");
    fanout.echo("k", "5");
    offer("6");
    expect(fanout.local).toEqual(["2", "6"]);
  });

  test("a full ledger: a message that would go local is delivered the normal way instead (not locally), and fences drop", () => {
    const { fanout, publisher, channel, offer } = setUp();
    channel.keys.add("k");
    offer("1");
    fanout.echo("k", "1");
    const filler = fanout.ledger.expect("other", new Uint8Array(ECHO_LEDGER_MAX_BYTES - 64), 0, undefined)!;
    expect(offer("x".repeat(100))?.verify).toBe(false);
    expect(fanout.local).toEqual([]);
    expect(publisher.fences).toBeUndefined();
    fanout.ledger.withdraw(filler);
    expect(fanout.echo("k", "x".repeat(100))).toBe("delivered");
  });

  test("other vhosts and exchanges are not reached; no fan-out reached means nothing to tell the channel", () => {
    const { local, fanout, publisher, channel } = setUp();
    channel.keys.add("k");
    expect(local.offer(publisher, "/other", EXCHANGE, "k", bytes("1"), 0, channel)).toBeUndefined();
    expect(local.offer(publisher, "/", "other.exchange", "k", bytes("1"), 0, channel)).toBeUndefined();
    expect(fanout.ledger.size).toBe(0);
  });

  test("before the publish connection is open (no channel) nothing is verified: the normal way", () => {
    const { local, fanout, publisher } = setUp();
    expect(local.offer(publisher, "/", EXCHANGE, "k", bytes("1"), 0, undefined)?.verify).toBe(true);
    expect(fanout.local).toEqual([]);
  });
});

describe("Qos0Fanout and local delivery when its connection closes", () => {
  test("every publish it tracked is released (not fenced) and it leaves the directory: its publishers are not stuck", async () => {
    const { Qos0Fanout } = await import("./qos0-fanout.ts");
    const local = new LocalQos0Delivery();
    const directory = local.directoryFor("/");
    // Nothing here reaches the connection: expectEcho and connectionClosed only touch the ledger and the directory.
    const fanout = new Qos0Fanout({} as never, EXCHANGE, () => {}, directory);
    directory.add(fanout);
    const publisher: LocalPublisher = { echoesPending: 0, fences: undefined, fenceResets: 0 };
    const release = (arrived: boolean) => {
      publisher.echoesPending--;
      expect(arrived).toBe(false);
    };
    for (const payload of ["1", "2", "3"]) {
      expect(fanout.expectEcho("k", bytes(payload), 0, release)).toBeDefined();
      publisher.echoesPending++;
    }
    fanout.connectionClosed();
    expect(publisher.echoesPending).toBe(0);
    expect(local.offer(publisher, "/", EXCHANGE, "k", bytes("4"), 0, { isVerified: () => true })).toBeUndefined();
  });
});
