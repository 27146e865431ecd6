import { describe, expect, test } from "bun:test";
import type { BackendSession, Delivery } from "../backend/backend.ts";
import { PacketType, type Packet } from "../codec/index.ts";
import { createLogger } from "../log.ts";
import type { ConnectionContext } from "./context.ts";
import { Deliveries } from "./delivery.ts";
import { NO_METRICS } from "./metrics.ts";
import { SubscriptionMatcher } from "./topic-match.ts";

/** Deliveries over a context whose socket backlog the test sets; records what was written, settled and dropped. */
function harness(maxBufferedBytes: number) {
  const sent: Packet[] = [];
  const settled: unknown[] = [];
  let dropped = 0;
  const state = { bufferedBytes: 0 };
  const matcher = new SubscriptionMatcher();
  matcher.set("t/#", 0);
  const context = {
    log: createLogger("error", () => {}),
    session: { settle: (tag: unknown) => settled.push(tag) } as unknown as BackendSession,
    metrics: { ...NO_METRICS, qos0MessageDropped: () => dropped++ },
    matcher,
    send: (packet: Packet) => {
      sent.push(packet);
      return true;
    },
    bufferedBytes: () => state.bufferedBytes,
  } as unknown as ConnectionContext;
  const deliveries = new Deliveries(context, () => {}, maxBufferedBytes);
  return { deliveries, sent, settled, state, dropped: () => dropped };
}

function delivery(payload: string, extra: Partial<Delivery> = {}): Delivery {
  return { tag: { payload }, topic: "t/a", routingKey: "t.a", payload: new TextEncoder().encode(payload), messageQos: 0, redelivered: false, ...extra };
}

describe("droppable (shared QoS 0 fan-out) deliveries", () => {
  test("are written while the socket backlog is within the limit, and never settled (nothing holds them)", () => {
    const h = harness(1000);
    h.state.bufferedBytes = 1000;
    h.deliveries.deliver(delivery("a", { droppable: true }));
    expect(h.sent.map((p) => p.type)).toEqual([PacketType.Publish]);
    expect(h.settled).toEqual([]);
    expect(h.dropped()).toBe(0);
  });

  test("are dropped and counted once the backlog is over the limit; written again once it is back under", () => {
    const h = harness(1000);
    h.state.bufferedBytes = 1001;
    h.deliveries.deliver(delivery("a", { droppable: true }));
    h.deliveries.deliver(delivery("b", { droppable: true }));
    expect(h.sent).toEqual([]);
    expect(h.dropped()).toBe(2);
    h.state.bufferedBytes = 0;
    h.deliveries.deliver(delivery("c", { droppable: true }));
    expect(h.sent).toMatchObject([{ type: PacketType.Publish, qos: 0, payload: new TextEncoder().encode("c") }]);
  });

  test("a delivery from the client's own queue is never dropped, however full the socket (its prefetch window is the bound)", () => {
    const h = harness(1000);
    h.state.bufferedBytes = 10_000_000;
    h.deliveries.deliver(delivery("a"));
    expect(h.sent.length).toBe(1);
    expect(h.dropped()).toBe(0);
    expect(h.settled.length).toBe(1);
  });
});
