import { describe, expect, test } from "bun:test";
import type { Channel } from "amqplib";
import { AckBatcher, DeliveryTagRef } from "./ack-batcher.ts";

/**
 * The frames the batcher sends, as "ack 5" / "ack<=5". The channel stands in for amqplib's only
 * to record them; what RabbitMQ makes of them is covered against a real broker in
 * test/integration/backend-amqp.test.ts.
 */
function recorder() {
  const frames: string[] = [];
  const channel = {
    ack: (message: { fields: { deliveryTag: number } }, allUpTo?: boolean) => frames.push(`${allUpTo === true ? "ack<=" : "ack "}${message.fields.deliveryTag}`),
  } as unknown as Channel;
  const batcher = new AckBatcher(channel);
  const deliver = (n: number) =>
    Array.from({ length: n }, (_, i) => {
      const tag = new DeliveryTagRef(channel, i + 1);
      batcher.delivered(tag);
      return tag;
    });
  return { frames, batcher, deliver };
}

/** What `requeue` does before the batcher sees a tag: settled, not acked. */
function reject(tag: DeliveryTagRef): void {
  tag.settled = true;
}

describe("AckBatcher", () => {
  test("in-order acks of one turn go as one multiple ack, at the end of the turn", async () => {
    const { frames, batcher, deliver } = recorder();
    const tags = deliver(5);
    for (const tag of tags) batcher.ack(tag);
    expect(frames).toEqual([]);
    await Promise.resolve();
    expect(frames).toEqual(["ack<=5"]);
  });

  test("acks behind an unsettled delivery go singly; once it is acked the rest of the run is covered", () => {
    const { frames, batcher, deliver } = recorder();
    const [t1, t2, t3, t4] = deliver(4);
    batcher.ack(t2!);
    batcher.ack(t3!);
    batcher.flush();
    expect(frames).toEqual(["ack 2", "ack 3"]);
    batcher.ack(t1!);
    batcher.flush();
    expect(frames).toEqual(["ack 2", "ack 3", "ack<=1"]); // 2 and 3 are gone already: no multiple past them needed
    batcher.ack(t4!);
    batcher.flush();
    expect(frames).toEqual(["ack 2", "ack 3", "ack<=1", "ack<=4"]);
  });

  test("an individually acked tag inside a later run is never acked twice (406 would close the channel)", () => {
    const { frames, batcher, deliver } = recorder();
    const [t1, t2, t3] = deliver(3);
    batcher.ack(t2!);
    batcher.flush();
    batcher.ack(t1!);
    batcher.ack(t3!);
    batcher.flush();
    expect(frames).toEqual(["ack 2", "ack<=3"]);
    const acked = frames.flatMap((f) => (f.startsWith("ack<=") ? [] : [Number(f.slice(4))]));
    expect(new Set(acked).size).toBe(acked.length);
  });

  test("a rejected delivery inside the run is passed over (RabbitMQ has forgotten it), never acked", () => {
    const { frames, batcher, deliver } = recorder();
    const [t1, t2, t3] = deliver(3);
    reject(t2!);
    batcher.ack(t1!);
    batcher.ack(t3!);
    batcher.flush();
    expect(frames).toEqual(["ack<=3"]);
    expect(t2!.acked).toBe(false);
  });

  test("a run ending in rejects acks up to its last ack only", () => {
    const { frames, batcher, deliver } = recorder();
    const [t1, t2] = deliver(3);
    batcher.ack(t1!);
    reject(t2!);
    batcher.flush();
    expect(frames).toEqual(["ack<=1"]);
  });

  test("thousands of deliveries: every ack sent exactly once, the bookkeeping compacts", () => {
    const { frames, batcher, deliver } = recorder();
    const tags = deliver(5000);
    // Acked in pairs swapped (2,1,4,3,…), one pair per turn.
    for (let i = 0; i < tags.length; i += 2) {
      batcher.ack(tags[i + 1]!);
      batcher.flush();
      batcher.ack(tags[i]!);
      batcher.flush();
    }
    expect(tags.every((t) => t.ackSent)).toBe(true);
    expect(frames.length).toBe(5000);
    expect(frames.filter((f) => f.startsWith("ack<=")).length).toBe(2500);
  });
});
