import { describe, expect, test } from "bun:test";
import { PacketType, ReasonCode, encodePacket, type PacketType as PacketTypeT, type QoS } from "../codec/index.ts";
import { CloseReason, type ProtocolMetrics } from "./metrics.ts";
import { TestWorld, settle } from "./test-support.ts";

/** Records every call, in order, as a short string (the hot path's calls, made visible). */
class RecordingMetrics implements ProtocolMetrics {
  readonly calls: string[] = [];
  readonly latenciesMs: number[] = [];
  packetReceived(type: PacketTypeT, sizeBytes: number): void {
    this.calls.push(`in ${PacketType[type]} ${sizeBytes}`);
  }
  packetSent(type: PacketTypeT, sizeBytes: number): void {
    this.calls.push(`out ${PacketType[type]} ${sizeBytes}`);
  }
  messagePublished(qos: QoS): void {
    this.calls.push(`published ${qos}`);
  }
  messageDelivered(qos: QoS): void {
    this.calls.push(`delivered ${qos}`);
  }
  qos0MessageDropped(): void {
    this.calls.push("dropped 0");
  }
  pubackLatency(latencyMs: number): void {
    this.latenciesMs.push(latencyMs);
    this.calls.push("puback latency");
  }
  connectionOpened(): void {
    this.calls.push("opened");
  }
  connectionClosed(reason: number): void {
    this.calls.push(`closed 0x${reason.toString(16)}`);
  }
  take(): string[] {
    return this.calls.splice(0);
  }
}

function world(): { world: TestWorld; metrics: RecordingMetrics } {
  const w = new TestWorld();
  const metrics = new RecordingMetrics();
  w.metrics = metrics;
  return { world: w, metrics };
}

describe("metrics the connection reports", () => {
  test("CONNECT/CONNACK and a QoS 1 PUBLISH/PUBACK: packets with their exact sizes, the publish, the PUBACK latency", async () => {
    const { world: w, metrics } = world();
    const client = w.client();
    expect(metrics.take()).toEqual(["opened"]);
    const connectSize = encodePacket({ type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 4, cleanSession: true, keepaliveSeconds: 60, clientId: "m1" }, 4).length;
    client.connect({ clientId: "m1" });
    await client.nextPacket();
    expect(metrics.take()).toEqual([`in Connect ${connectSize}`, "out Connack 4"]);
    client.publish("a/b", "hello", 1, 9);
    await client.nextPacket();
    // 2 header + 2 + 3 topic + 2 packet id + 5 payload
    expect(metrics.take()).toEqual(["in Publish 14", "published 1", "out Puback 4", "puback latency"]);
    expect(metrics.latenciesMs[0]).toBeGreaterThanOrEqual(0);
  });

  test("a QoS 0 PUBLISH is counted as published at QoS 0, with no latency", async () => {
    const { world: w, metrics } = world();
    const client = await w.connected({ clientId: "m2" });
    metrics.take();
    client.publish("a", "x", 0);
    await settle();
    expect(metrics.take()).toEqual(["in Publish 6", "published 0"]);
  });

  test("a PUBLISH the broker refuses is not counted as published; the close counts as not_authorized", async () => {
    const { world: w, metrics } = world();
    w.broker.users.setTopicPermissions("guest", "/", "amq.topic", { write: "^ok\\.", read: ".*" });
    const client = await w.connected({ clientId: "m3" });
    metrics.take();
    client.publish("no/way", "x", 1, 1);
    await client.closed();
    const calls = metrics.take();
    expect(calls).not.toContain("published 1");
    expect(calls).toContain(`closed 0x${ReasonCode.NotAuthorized.toString(16)}`);
  });

  test("each PUBLISH written to a subscriber counts as delivered at the QoS it went out with", async () => {
    const { world: w, metrics } = world();
    const subscriber = await w.connected({ clientId: "sub" });
    subscriber.subscribe(1, ["t/#", 1]);
    await subscriber.nextPacket(); // SUBACK
    const publisher = await w.connected({ clientId: "pub" });
    metrics.take();
    publisher.publish("t/1", "a", 0);
    publisher.publish("t/2", "b", 1, 5);
    await settle(6);
    const calls = metrics.take();
    expect(calls.filter((call) => call.startsWith("delivered"))).toEqual(["delivered 0", "delivered 1"]);
    expect(calls.filter((call) => call.startsWith("out Publish"))).toHaveLength(2);
  });

  test.each<[string, (client: Awaited<ReturnType<TestWorld["connected"]>>, w: TestWorld) => void, number]>([
    ["DISCONNECT", (client) => client.send({ type: PacketType.Disconnect }), CloseReason.ClientDisconnect],
    ["the socket closing without DISCONNECT", (client) => client.transport.close(), CloseReason.SocketClosed],
    ["a keepalive timeout", (client, w) => {
      w.nowMs += 100_000;
      client.connection.checkTimeouts(w.nowMs);
    }, ReasonCode.KeepAliveTimeout],
    ["a second CONNECT", (client) => client.connect(), ReasonCode.ProtocolError],
    ["adapter shutdown", (client) => void client.connection.shutdown(), ReasonCode.ServerShuttingDown],
  ])("a close by %s is counted once under its reason", async (_name, act, reason) => {
    const { world: w, metrics } = world();
    const client = await w.connected({ clientId: "c", keepaliveSeconds: 10 });
    metrics.take();
    act(client, w);
    await client.closed();
    expect(metrics.take().filter((call) => call.startsWith("closed"))).toEqual([`closed 0x${reason.toString(16)}`]);
  });

  test("a refused CONNECT counts its CONNACK as sent and the close under the refusal's reason", async () => {
    const { world: w, metrics } = world();
    const client = w.client();
    client.connect({ clientId: "bad", username: "guest", password: new TextEncoder().encode("wrong") });
    await client.closed();
    const calls = metrics.take();
    expect(calls).toContain("out Connack 4");
    expect(calls).toContain(`closed 0x${ReasonCode.BadUserNameOrPassword.toString(16)}`);
  });
});
