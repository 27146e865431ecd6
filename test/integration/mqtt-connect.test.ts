/**
 * CONNECT with real clients against the in-process adapter and a real RabbitMQ: protocol
 * versions, credentials decided by RabbitMQ, vhosts, client identifiers, packet order, the
 * login timeout and takeover. Each case names the MQTT 3.1.1 rule it checks.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ensureRabbitmq, openAmqp, rabbitmqctlJson, rabbitmqUrlFor, uniqueName } from "../support/broker.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { mosquittoPub, runPaho } from "./mqtt-cli-clients.ts";
import { handmadeConnect, RawMqttClient } from "./mqtt-raw-client.ts";
import {
  BrokerFixtures,
  clientLogLines,
  closedPromise,
  connackOf,
  connectMqttJs,
  endAll,
  HOOK_TIMEOUT_MS,
  TEST_TIMEOUT_MS,
  Inbox,
  protocolOptions,
  waitForLogLine,
  type TestUser,
} from "./mqtt-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

const fixtures = new BrokerFixtures();
let adapter: TestAdapter;
/** allow_anonymous = false, and a 400 ms login timeout. */
let strict: TestAdapter;
let user: TestUser;
let vhost: string;
/** Permissions in `vhost` only. */
let vhostUser: TestUser;

beforeAll(async () => {
  [adapter, strict, vhost] = await Promise.all([
    startAdapter(),
    startAdapter({ allowAnonymous: false, loginTimeoutMs: 400 }),
    fixtures.addVhost("vh-conn"),
  ]);
  [user, vhostUser] = await Promise.all([fixtures.addUser({}, "u-conn"), fixtures.addUser({ vhost }, "u-vh")]);
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all([adapter?.stop(), strict?.stop()]);
  await fixtures.cleanup();
}, HOOK_TIMEOUT_MS);

type PahoConnack = { rc: number; session_present: number };

describe("protocol versions", () => {
  test.each(["3.1", "3.1.1"] as const)("MQTT.js %s is accepted (CONNACK 0) and can exchange a message", async (version) => {
    const clientId = uniqueName("v");
    const client = await connectMqttJs(adapter.url, { clientId, ...protocolOptions(version) });
    try {
      const inbox = new Inbox(client);
      const topic = `${clientId}/t`;
      await client.subscribeAsync(topic, { qos: 1 });
      await client.publishAsync(topic, "hello", { qos: 1 });
      expect(await inbox.next()).toMatchObject({ topic, payload: "hello", qos: 1 });
      const accepted = await waitForLogLine(adapter.logLines, /accepted MQTT/, "accepting the client", clientId);
      expect(accepted).toContain(`accepted MQTT ${version} connection`);
    } finally {
      await endAll(client);
    }
  });

  test.each(["3.1", "3.1.1"] as const)("paho %s gets CONNACK 0", async (version) => {
    const result = await runPaho<PahoConnack>("connect.py", { port: adapter.port, version, client_id: uniqueName("paho") });
    expect(result).toEqual({ rc: 0, session_present: 0 });
  });

  test.each(["mqttv31", "mqttv311"] as const)("mosquitto_pub -V %s connects and its QoS 1 publish arrives", async (version) => {
    const clientId = uniqueName("mp");
    const subscriber = await connectMqttJs(adapter.url, { clientId: uniqueName("mps") });
    try {
      const inbox = new Inbox(subscriber);
      await subscriber.subscribeAsync(`${clientId}/+`, { qos: 1 });
      const result = await mosquittoPub({ port: adapter.port, version, clientId, topic: `${clientId}/x`, message: version, qos: 1 });
      expect(result.exitCode).toBe(0);
      expect(await inbox.next("the mosquitto_pub message")).toMatchObject({ topic: `${clientId}/x`, payload: version });
    } finally {
      await endAll(subscriber);
    }
  });

  test("an unknown protocol level gets CONNACK 1, even before credentials are checked [MQTT-3.1.2-2]", async () => {
    // The strict adapter would refuse this anonymous CONNECT with 4; the level is answered first.
    const raw = await RawMqttClient.open(strict.port);
    raw.sendBytes(handmadeConnect({ protocolName: "MQTT", level: 9, clientId: "level-9" }));
    expect(await raw.next("CONNACK")).toMatchObject({ cmd: "connack", returnCode: 1 });
    await raw.waitClosed("the adapter to close after CONNACK 1");
    await waitForLogLine(strict.logLines, /level 9 is not supported.*\[MQTT-3\.1\.2-2\]/, "naming the unsupported level");
  });

  test("an MQTT 5.0 CONNECT is told 0x84 Unsupported Protocol Version in a v5 CONNACK", async () => {
    const result = await connackOf(adapter.url, { clientId: uniqueName("v5"), protocolVersion: 5 });
    expect(result.returnCode).toBe(0x84);
  });
});

describe("credentials are checked by RabbitMQ", () => {
  test("right user name and password: CONNACK 0 (MQTT.js 3.1.1, paho 3.1)", async () => {
    const ok = await connackOf(adapter.url, { clientId: uniqueName("cred"), username: user.username, password: user.password });
    expect(ok.returnCode).toBe(0);
    const paho = await runPaho<PahoConnack>("connect.py", {
      port: adapter.port,
      version: "3.1",
      client_id: uniqueName("cred"),
      username: user.username,
      password: user.password,
    });
    expect(paho.rc).toBe(0);
  });

  test("wrong password: CONNACK 4 (MQTT.js, paho, mosquitto_pub)", async () => {
    const wrong = { username: user.username, password: "not-the-password" };
    expect((await connackOf(adapter.url, { clientId: uniqueName("bad"), ...wrong })).returnCode).toBe(4);
    const paho = await runPaho<PahoConnack>("connect.py", { port: adapter.port, version: "3.1.1", client_id: uniqueName("bad"), ...wrong });
    expect(paho.rc).toBe(4);
    const pub = await mosquittoPub({ port: adapter.port, version: "mqttv311", clientId: uniqueName("bad"), ...wrong, topic: "t", message: "m", qos: 0 });
    expect(pub.exitCode).not.toBe(0);
    expect(pub.stderr).toMatch(/bad user name or password/i);
  });

  test("a user name without a password: CONNACK 4", async () => {
    const result = await connackOf(adapter.url, { clientId: uniqueName("nopw"), username: user.username });
    expect(result.returnCode).toBe(4);
    await waitForLogLine(adapter.logLines, new RegExp(`user name "${user.username}" but no password`), "saying the password is missing");
  });

  test("a password without a user name: CONNACK 4 in 3.1; a malformed CONNECT (closed, no CONNACK) in 3.1.1 [MQTT-3.1.2-22]", async () => {
    const v31 = await RawMqttClient.open(adapter.port, 3);
    v31.sendBytes(handmadeConnect({ protocolName: "MQIsdp", level: 3, clientId: "pw-only", password: "secret" }));
    expect(await v31.next("CONNACK")).toMatchObject({ cmd: "connack", returnCode: 4 });
    await v31.waitClosed("close after CONNACK 4");

    const v311 = await RawMqttClient.open(adapter.port, 4);
    v311.sendBytes(handmadeConnect({ protocolName: "MQTT", level: 4, clientId: "pw-only", password: "secret" }));
    expect(await v311.nextOrClose("close without CONNACK")).toBeUndefined();
  });

  test("no credentials with allow_anonymous = true logs in as mqtt.default_user (guest)", async () => {
    const clientId = uniqueName("anon");
    const client = await connectMqttJs(adapter.url, { clientId });
    await endAll(client);
    const line = await waitForLogLine(adapter.logLines, /accepted MQTT/, "accepting the anonymous client", clientId);
    expect(line).toContain('user "guest" (anonymous)');
  });

  test("no credentials with allow_anonymous = false: CONNACK 4, as the native plugin answers", async () => {
    expect((await connackOf(strict.url, { clientId: uniqueName("anon") })).returnCode).toBe(4);
    const paho = await runPaho<PahoConnack>("connect.py", { port: strict.port, version: "3.1", client_id: uniqueName("anon") });
    expect(paho.rc).toBe(4);
    // Credentials still work there.
    expect((await connackOf(strict.url, { clientId: uniqueName("cred"), username: user.username, password: user.password })).returnCode).toBe(0);
  });
});

describe("vhosts", () => {
  test("`vhost:user` logs into that vhost: RabbitMQ shows the connection there and publishes land in its amq.topic", async () => {
    const amqp = await openAmqp({ url: await rabbitmqUrlFor({ ...vhostUser, vhost }) });
    const clientId = uniqueName("vhc");
    const client = await connectMqttJs(adapter.url, { clientId, username: `${vhost}:${vhostUser.username}`, password: vhostUser.password });
    try {
      const { queue } = await amqp.channel.assertQueue("", { exclusive: true });
      await amqp.channel.bindQueue(queue, "amq.topic", `${clientId}.in-vhost`);
      await client.publishAsync(`${clientId}/in-vhost`, "landed", { qos: 1 });
      const message = await amqp.channel.get(queue, { noAck: true });
      expect(message === false ? undefined : message.content.toString()).toBe("landed");

      const connections = await rabbitmqctlJson<Array<{ user: string; vhost: string }>>("list_connections", "user", "vhost");
      expect(connections).toContainEqual({ user: vhostUser.username, vhost });
    } finally {
      await endAll(client);
      await amqp.close();
    }
  });

  test("a user without access to the vhost gets CONNACK 5 (and a missing vhost too)", async () => {
    // vhostUser has permissions in `vhost` only, so "/" refuses it (AMQP 530).
    const refused = await connackOf(adapter.url, { clientId: uniqueName("novh"), username: vhostUser.username, password: vhostUser.password });
    expect(refused.returnCode).toBe(5);
    const missing = await connackOf(adapter.url, {
      clientId: uniqueName("novh"),
      username: `${uniqueName("no-such-vhost")}:${user.username}`,
      password: user.password,
    });
    expect(missing.returnCode).toBe(5);
  });
});

describe("client identifiers", () => {
  test("an empty client id with clean session is accepted with a generated id [MQTT-3.1.3-6] (MQTT.js, paho)", async () => {
    const before = adapter.logLines.length;
    const client = await connectMqttJs(adapter.url, { clientId: "", clean: true });
    await endAll(client);
    expect(adapter.logLines.slice(before).some((line) => line.includes("(client id generated)"))).toBe(true);
    const paho = await runPaho<PahoConnack>("connect.py", { port: adapter.port, version: "3.1.1", client_id: "" });
    expect(paho.rc).toBe(0);
  });

  test("an empty client id with a persistent session gets CONNACK 2 [MQTT-3.1.3-8] [MQTT-3.1.3-9]", async () => {
    const raw = await RawMqttClient.open(adapter.port);
    // Built by hand: mqtt-packet refuses to generate this CONNECT.
    raw.sendBytes(handmadeConnect({ protocolName: "MQTT", level: 4, clientId: "", clean: false }));
    expect(await raw.next("CONNACK")).toMatchObject({ cmd: "connack", returnCode: 2 });
    await raw.waitClosed("close after CONNACK 2");
  });
});

describe("packet order and timing", () => {
  test("a second CONNECT on the same connection closes it [MQTT-3.1.0-2]", async () => {
    const clientId = uniqueName("twice");
    const raw = await RawMqttClient.connected(adapter.port, { clientId });
    raw.sendConnect({ clientId });
    expect(await raw.nextOrClose("the adapter to close the connection")).toBeUndefined();
    await waitForLogLine(adapter.logLines, /second CONNECT.*\[MQTT-3\.1\.0-2\]/, "naming the rule", clientId);
  });

  test("a PUBLISH before CONNECT is closed without any answer [MQTT-3.1.0-1]", async () => {
    const raw = await RawMqttClient.open(adapter.port);
    raw.send({ cmd: "publish", topic: "too/early", payload: Buffer.from("x"), qos: 0, retain: false, dup: false });
    expect(await raw.nextOrClose("the adapter to close the connection")).toBeUndefined();
  });

  test("a connection that sends nothing is closed after the login timeout (mqtt.login_timeout)", async () => {
    const silent = await RawMqttClient.open(strict.port);
    // Half a CONNECT does not count as one either.
    const partial = await RawMqttClient.open(strict.port);
    partial.sendBytes(handmadeConnect({ protocolName: "MQTT", level: 4, clientId: "half" }).subarray(0, 6));
    await silent.waitClosed("the silent socket to be closed by the login timeout");
    await partial.waitClosed("the half-CONNECT socket to be closed by the login timeout");
    expect(silent.received).toEqual([]);
    await waitForLogLine(strict.logLines, /login timeout of 400 ms/, "naming the login timeout");
  });
});

describe("takeover [MQTT-3.1.4-2]", () => {
  test("a second client with the same id closes the first (MQTT.js 3.1 taken over by paho 3.1.1)", async () => {
    const clientId = uniqueName("tk");
    const first = await connectMqttJs(adapter.url, { clientId, ...protocolOptions("3.1") });
    try {
      const closed = closedPromise(first, "the first client to be closed by the takeover");
      const paho = await runPaho<PahoConnack>("connect.py", { port: adapter.port, version: "3.1.1", client_id: clientId });
      expect(paho.rc).toBe(0);
      await closed;
      await waitForLogLine(adapter.logLines, /same client id; closing this one/, "explaining the takeover", clientId);
    } finally {
      await endAll(first);
    }
  });

  test("the same client id in two vhosts are two clients: neither closes the other", async () => {
    const clientId = uniqueName("tkv");
    const inDefault = await connectMqttJs(adapter.url, { clientId, username: user.username, password: user.password });
    const inVhost = await connectMqttJs(adapter.url, { clientId, username: `${vhost}:${vhostUser.username}`, password: vhostUser.password });
    try {
      // Both still work after both connected: a round trip through each.
      for (const client of [inDefault, inVhost]) {
        const inbox = new Inbox(client);
        await client.subscribeAsync(`${clientId}/echo`, { qos: 1 });
        await client.publishAsync(`${clientId}/echo`, "still here", { qos: 1 });
        expect((await inbox.next("the echo")).payload).toBe("still here");
      }
      expect(inDefault.connected && inVhost.connected).toBe(true);
      expect(clientLogLines(adapter.logLines, clientId).some((line) => line.includes("same client id"))).toBe(false);
    } finally {
      await endAll(inDefault, inVhost);
    }
  });
});
