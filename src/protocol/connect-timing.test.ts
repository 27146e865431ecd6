import { describe, expect, test } from "bun:test";
import type { Backend, ConnectOutcome } from "../backend/backend.ts";
import { PacketType } from "../codec/index.ts";
import { TestWorld, hex, settle } from "./test-support.ts";

const enc = new TextEncoder();

/**
 * The real memory backend whose connect() answers only when the test says so: the broker has
 * done its work (login, session opened, stored messages flowing), only the answer is late, as
 * with a slow AMQP handshake.
 */
function lateBackend(world: TestWorld): { backend: Backend; answer: () => void } {
  let release: (() => void) | undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    backend: {
      shutdown: () => world.backend.shutdown(),
      connect: async (request, events): Promise<ConnectOutcome> => {
        const outcome = await world.backend.connect(request, events);
        await gate;
        return outcome;
      },
    },
    answer: () => release!(),
  };
}

describe("while the broker checks a CONNECT", () => {
  test("deliveries that arrive before the login is answered wait until after CONNACK [MQTT-3.2.0-1]", async () => {
    const world = new TestWorld();
    const first = await world.connected({ clientId: "early", cleanSession: false });
    first.subscribe(1, ["e", 1]);
    await settle();
    first.sendBytes("e000");
    await first.closed();
    world.broker.publish({ routingKey: "e", payload: "stored", headers: { "x-mqtt-publish-qos": 1 } });

    const { backend, answer } = lateBackend(world);
    const second = world.client(4, backend);
    second.connect({ clientId: "early", cleanSession: false });
    await settle(5); // the stored queue is being consumed, the login not yet answered
    expect(hex(second.takeBytes())).toBe("");
    answer();
    await settle();
    const packets = second.packets();
    expect(packets.map((p) => p.type)).toEqual([PacketType.Connack, PacketType.Publish]);
  });

  test("a client that goes away before CONNACK gets no will published, and its session is closed", async () => {
    const world = new TestWorld();
    world.broker.declareQueue("/", "wills");
    world.broker.bindQueue("/", "wills", "amq.topic", "#");
    const { backend, answer } = lateBackend(world);
    const client = world.client(4, backend);
    client.connect({ clientId: "impatient", will: { topic: "w", payload: enc.encode("x"), qos: 0, retain: false } });
    await settle();
    client.connection.onClose();
    answer();
    await settle(5);
    expect(world.broker.takeMessages("/", "wills")).toEqual([]);
    expect(world.backend.sessionCount).toBe(0);
    expect(world.registry.size).toBe(0);
  });

  test("the login timeout also covers a broker that does not answer", async () => {
    const world = new TestWorld();
    const { backend, answer } = lateBackend(world);
    const client = world.client(4, backend);
    client.connect({ clientId: "slow-broker" });
    await settle();
    world.nowMs += world.options.loginTimeoutMs;
    client.connection.checkTimeouts(world.nowMs);
    expect(client.transport.closed).toBe(true);
    answer();
    await settle(5);
    expect(hex(client.takeBytes())).toBe(""); // 3.1.1 cannot say "timed out": plain close
    expect(world.backend.sessionCount).toBe(0);
  });
});
