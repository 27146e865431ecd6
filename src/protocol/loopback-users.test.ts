import { describe, expect, test } from "bun:test";
import { isLoopbackPeer } from "./connect.ts";
import { TEST_OPTIONS, TestWorld, hex, settle } from "./test-support.ts";

const CONNACK = (code: number) => `200200${code.toString(16).padStart(2, "0")}`;
const enc = new TextEncoder();

describe("isLoopbackPeer", () => {
  const cases: Array<[string, boolean]> = [
    ["127.0.0.1:50000", true],
    ["127.8.9.10:1", true],
    ["[::1]:50000", true],
    ["[::ffff:127.0.0.1]:50000", true],
    ["10.1.2.3:50000", false],
    ["[2001:db8::1]:50000", false],
    ["[::ffff:10.0.0.1]:50000", false],
    ["128.0.0.1:1", false],
  ];
  for (const [peer, loopback] of cases) test(`${peer} → ${loopback}`, () => expect(isLoopbackPeer(peer)).toBe(loopback));
});

describe("RabbitMQ's loopback_users applied to the MQTT client's address (plugin: CONNACK 5)", () => {
  function world(): TestWorld {
    const w = new TestWorld({ ...TEST_OPTIONS, loopbackUsers: ["guest"] });
    w.broker.users.addUser("alice", "secret");
    w.broker.users.setPermissions("alice", "/", { configure: ".*", write: ".*", read: ".*" });
    return w;
  }
  const cases: Array<[name: string, peer: string, login: { username?: string; password?: string }, code: number]> = [
    ["guest from another host is refused", "10.1.2.3:40000", { username: "guest", password: "guest" }, 5],
    ["guest from 127.0.0.1 is accepted", "127.0.0.1:40000", { username: "guest", password: "guest" }, 0],
    ["guest from ::1 is accepted", "[::1]:40000", { username: "guest", password: "guest" }, 0],
    ["an anonymous client (default user guest) from another host is refused", "10.1.2.3:40000", {}, 5],
    ["a user not in the list may log in from anywhere", "10.1.2.3:40000", { username: "alice", password: "secret" }, 0],
    ["`vhost:guest` is the user guest", "10.1.2.3:40000", { username: "/:guest", password: "guest" }, 5],
  ];
  for (const [name, peer, login, code] of cases) {
    test(name, async () => {
      const w = world();
      const client = w.client(4, w.backend, peer);
      client.connect({
        clientId: "lb",
        ...(login.username !== undefined ? { username: login.username } : {}),
        ...(login.password !== undefined ? { password: enc.encode(login.password) } : {}),
      });
      await settle();
      expect(hex(client.takeBytes())).toBe(CONNACK(code));
      if (code !== 0) {
        await client.closed();
        expect(w.logLines("may log in only from localhost (RabbitMQ's loopback_users)").length).toBe(1);
      }
    });
  }

  test("a refused remote guest does not take over the local guest client with the same id", async () => {
    const w = world();
    const local = await w.connected({ clientId: "same", username: "guest", password: enc.encode("guest") });
    const remote = w.client(4, w.backend, "10.1.2.3:40000");
    remote.connect({ clientId: "same", username: "guest", password: enc.encode("guest") });
    await settle();
    expect(hex(remote.takeBytes())).toBe(CONNACK(5));
    local.sendBytes("c000");
    await settle();
    expect(hex(local.takeBytes())).toBe("d000");
  });
});
