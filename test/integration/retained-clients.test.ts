/**
 * Retained messages with real clients against RabbitMQ: `mosquitto_pub -r` at every QoS, later
 * subscribers (mosquitto_sub, Paho, a raw client) on wildcard filters get them with RETAIN 1 at
 * min(stored, granted), subscribers already there get RETAIN 0, an empty payload deletes, `$`
 * topics stay out of `#`, a refused publish is never retained, the store is bounded and survives
 * a restart of the adapter, and retained QoS 1 deliveries keep to the in-flight window.
 *
 * Every test runs in a vhost of its own file (retained messages are per vhost), so `#` sees only
 * what these tests retained.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDefaults } from "../../src/config/index.ts";
import { ensureRabbitmq, uniqueName } from "../support/broker.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { runPaho } from "./mqtt-cli-clients.ts";
import { RawMqttClient, type RawPacket } from "./mqtt-raw-client.ts";
import { BrokerFixtures, HOOK_TIMEOUT_MS, TEST_TIMEOUT_MS, waitForLogLine, type TestUser } from "./mqtt-support.ts";
import { pahoFlow, pub, sub, type CliLogin } from "./qos2-retained-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

const fixtures = new BrokerFixtures();
const dirs: string[] = [];
let adapter: TestAdapter;
let user: TestUser;

beforeAll(async () => {
  adapter = await startAdapter();
  const vhost = await fixtures.addVhost("retained");
  user = await fixtures.addUser({ vhost });
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
  await adapter?.stop();
  await fixtures.cleanup();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}, HOOK_TIMEOUT_MS);

/** Credentials that log in to the test vhost (`vhost:user`), for `port` (default: the shared adapter). */
function login(clientId: string, port = adapter.port, who: TestUser = user): CliLogin {
  return { port, clientId, username: `${who.vhost}:${who.username}`, password: who.password };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "retained-it-"));
  dirs.push(dir);
  return dir;
}

interface Got {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/**
 * Subscribes a raw client to `filter` at `qos` and returns the PUBLISHes that follow its SUBACK
 * (acknowledging QoS 1/2 ones), up to a live marker: after the SUBACK the client subscribes to a
 * marker topic and publishes to it; the retained messages are all written before the marker can
 * travel through RabbitMQ, so "not before the marker" means "not sent".
 */
async function retainedFor(filter: string, qos: 0 | 1 | 2, port = adapter.port): Promise<Got[]> {
  const l = login(uniqueName("rsub"), port);
  const raw = await RawMqttClient.connected(port, { clientId: l.clientId, username: l.username, password: l.password });
  try {
    raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: filter, qos }] });
    const suback = await raw.next("SUBACK");
    expect(suback.cmd).toBe("suback"); // before any retained PUBLISH [MQTT-3.8.4]
    const marker = uniqueName("marker");
    raw.send({ cmd: "subscribe", messageId: 2, subscriptions: [{ topic: marker, qos: 0 }] });
    const got: Got[] = [];
    let markerSent = false;
    for (;;) {
      const packet = await raw.next("a retained PUBLISH or the marker");
      if (packet.cmd === "suback") {
        raw.send({ cmd: "publish", topic: marker, payload: Buffer.from("marker"), qos: 0, retain: false, dup: false });
        markerSent = true;
        continue;
      }
      if (packet.cmd === "pubrel") {
        raw.send({ cmd: "pubcomp", messageId: packet.messageId! });
        continue;
      }
      if (packet.cmd !== "publish") throw new Error(`unexpected ${JSON.stringify(packet)}`);
      if (packet.topic === marker) {
        expect(markerSent).toBe(true);
        return got;
      }
      got.push({ topic: packet.topic, payload: packet.payload.toString(), qos: packet.qos, retain: packet.retain });
      if (packet.qos === 1) raw.send({ cmd: "puback", messageId: packet.messageId! });
      if (packet.qos === 2) raw.send({ cmd: "pubrec", messageId: packet.messageId! });
    }
  } finally {
    raw.destroy();
  }
}

const byTopic = (a: Got, b: Got) => a.topic.localeCompare(b.topic);

describe("retained messages reach later subscribers", () => {
  test("mosquitto_pub -r at QoS 0/1/2; mosquitto_sub on `+` and `#` gets RETAIN 1 at min(stored, granted) [MQTT-3.3.1-6] [MQTT-3.8.4-6]", async () => {
    const base = uniqueName("rq");
    for (const qos of [0, 1, 2] as const) {
      await pub({ ...login(`${base}-p${qos}`), topic: `${base}/q${qos}`, message: `at ${qos}`, qos, retain: true });
    }
    const one = sub({ ...login(`${base}-s1`), filters: [`${base}/+`], qos: 1, count: 3 });
    const two = sub({ ...login(`${base}-s2`), filters: [`${base}/#`], qos: 2, count: 3 });
    const [gotOne, gotTwo] = await Promise.all([one.done, two.done]);
    const sorted = (messages: typeof gotOne.messages) => [...messages].sort((a, b) => a.topic.localeCompare(b.topic));
    expect(sorted(gotOne.messages)).toEqual([
      { topic: `${base}/q0`, qos: 0, retain: true, payload: "at 0" },
      { topic: `${base}/q1`, qos: 1, retain: true, payload: "at 1" },
      { topic: `${base}/q2`, qos: 1, retain: true, payload: "at 2" },
    ]);
    expect(sorted(gotTwo.messages).map((m) => [m.qos, m.retain])).toEqual([
      [0, true],
      [1, true],
      [2, true],
    ]);
    // The retained QoS 2 message ran the full handshake with mosquitto_sub.
    expect(gotTwo.packets.join("\n")).toMatch(/received PUBLISH \(d0, q2, r1, m\d+[\s\S]*sending PUBREC[\s\S]*received PUBREL[\s\S]*sending PUBCOMP/);
  });

  test("a subscriber already there gets it with RETAIN 0 [MQTT-3.3.1-9]; one that comes later with RETAIN 1", async () => {
    const base = uniqueName("rlive");
    const early = sub({ ...login(`${base}-early`), filters: [`${base}/#`], qos: 1, count: 1 });
    await early.started;
    await pub({ ...login(`${base}-p`), topic: `${base}/state`, message: "on", qos: 1, retain: true });
    expect((await early.done).messages).toEqual([{ topic: `${base}/state`, qos: 1, retain: false, payload: "on" }]);
    expect(await retainedFor(`${base}/#`, 1)).toEqual([{ topic: `${base}/state`, payload: "on", qos: 1, retain: true }]);
  });

  test("Paho gets a retained QoS 2 message with RETAIN 1 through PUBREC/PUBREL/PUBCOMP", async () => {
    const base = uniqueName("rpaho");
    await pub({ ...login(`${base}-p`), topic: `${base}/cfg`, message: "v2", qos: 2, retain: true });
    const l = login(`${base}-s`);
    const result = await pahoFlow({ port: adapter.port, client_id: l.clientId, username: l.username, password: l.password, subscribe: [[`${base}/+`, 2]], expect: 1 });
    expect(result.messages).toEqual([{ topic: `${base}/cfg`, payload: "v2", qos: 2, retain: true, dup: false }]);
    expect(result.flow.filter((line) => !line.includes("SUB"))).toEqual([
      "Received PUBLISH (d0, q2, r1, m1)",
      "Sending PUBREC (Mid: 1)",
      "Received PUBREL (Mid: 1)",
      "Sending PUBCOMP (Mid: 1)",
    ]);
  });

  test("the last message per topic wins; an empty payload (mosquitto_pub -r -n) deletes it [MQTT-3.3.1-10] and still reaches current subscribers", async () => {
    const base = uniqueName("rdel");
    await pub({ ...login(`${base}-p`), topic: `${base}/a`, message: "old", qos: 1, retain: true });
    await pub({ ...login(`${base}-p`), topic: `${base}/a`, message: "new", qos: 1, retain: true });
    await pub({ ...login(`${base}-p`), topic: `${base}/b`, message: "stays", qos: 0, retain: true });
    expect((await retainedFor(`${base}/+`, 1)).sort(byTopic).map((m) => m.payload)).toEqual(["new", "stays"]);
    const watcher = sub({ ...login(`${base}-w`), filters: [`${base}/a`], qos: 1, count: 2 });
    await watcher.started;
    await pub({ ...login(`${base}-p`), topic: `${base}/a`, message: undefined, qos: 1, retain: true });
    expect((await watcher.done).messages).toEqual([
      { topic: `${base}/a`, qos: 1, retain: true, payload: "new" }, // retained, at its SUBSCRIBE
      { topic: `${base}/a`, qos: 1, retain: false, payload: "" }, // the deleting publish, live
    ]);
    expect((await retainedFor(`${base}/+`, 1)).map((m) => m.payload)).toEqual(["stays"]);
  });

  test("`#` anywhere in a filter (AMQP semantics), and `$` topics only for filters not starting with a wildcard [MQTT-4.7.2-1]", async () => {
    const base = uniqueName("rwild");
    const dollar = `$${base}`;
    await pub({ ...login(`${base}-p`), topic: `${base}/x/y/end`, message: "deep", qos: 1, retain: true });
    await pub({ ...login(`${base}-p`), topic: `${base}/end`, message: "shallow", qos: 1, retain: true });
    await pub({ ...login(`${base}-p`), topic: `${dollar}/status`, message: "system", qos: 1, retain: true });
    expect((await retainedFor(`${base}/#/end`, 1)).sort(byTopic).map((m) => m.payload)).toEqual(["shallow", "deep"]); // topics "…/end" < "…/x/y/end"
    const everything = (await retainedFor("#", 0)).map((m) => m.topic);
    expect(everything).toContain(`${base}/end`);
    expect(everything.filter((topic) => topic.startsWith("$"))).toEqual([]);
    expect((await retainedFor("+/status", 0)).map((m) => m.topic)).not.toContain(`${dollar}/status`);
    expect(await retainedFor(`${dollar}/#`, 1)).toEqual([{ topic: `${dollar}/status`, payload: "system", qos: 1, retain: true }]);
  });

  test("a will with Will Retain is retained (Paho dropping its connection) [MQTT-3.1.2-17]", async () => {
    const base = uniqueName("rwill");
    const l = login(`${base}-dev`);
    await runPaho("will-abrupt.py", {
      port: adapter.port,
      version: "3.1.1",
      client_id: l.clientId,
      username: l.username,
      password: l.password,
      will: { topic: `${base}/status`, payload: "offline", qos: 1, retain: true },
    });
    await waitForLogLine(adapter.logLines, /published the will/, "for the will", l.clientId);
    expect(await retainedFor(`${base}/+`, 1)).toEqual([{ topic: `${base}/status`, payload: "offline", qos: 1, retain: true }]);
  });
});

describe("what is never retained, and the bounds", () => {
  test("a retained publish RabbitMQ refuses (topic permission) is not stored, at QoS 0 too", async () => {
    const base = uniqueName("rperm");
    const writer = await fixtures.addUser({ vhost: user.vhost, topic: { write: "^allowed\\.", read: ".*" } }, "w");
    for (const qos of [0, 1] as const) {
      const l = login(`${base}-w${qos}`, adapter.port, writer);
      const raw = await RawMqttClient.connected(adapter.port, { clientId: l.clientId, username: l.username, password: l.password });
      raw.send({ cmd: "publish", topic: `${base}/planted`, payload: Buffer.from("x"), qos, retain: true, dup: false, messageId: 1 });
      await raw.waitClosed("the adapter to close the refused publisher"); // MQTT 3.1.1 cannot refuse a PUBLISH
    }
    expect(await retainedFor(`${base}/#`, 1)).toEqual([]);
  });

  test("a full store refuses new topics with a log line, keeps what it has; the publish still reaches subscribers", async () => {
    const dir = tempDir();
    const small = await startAdapter({ retained: { dir, maxCount: 2, maxBytes: 1_000_000 } });
    try {
      const base = uniqueName("rfull");
      const watcher = sub({ ...login(`${base}-w`, small.port), filters: [`${base}/#`], qos: 1, count: 3 });
      await watcher.started;
      for (const n of [1, 2, 3]) await pub({ ...login(`${base}-p`, small.port), topic: `${base}/${n}`, message: `m${n}`, qos: 1, retain: true });
      expect((await watcher.done).messages.map((m) => m.payload)).toEqual(["m1", "m2", "m3"]);
      await waitForLogLine(small.logLines, /retained message store is full \(adapter\.retained\.max_count = 2 messages reached\)/, "about the full store");
      expect((await retainedFor(`${base}/#`, 1, small.port)).sort(byTopic).map((m) => m.payload)).toEqual(["m1", "m2"]);
    } finally {
      await small.stop();
    }
  });

  test("restarting the adapter keeps retained messages (SQLite file in adapter.retained.dir)", async () => {
    const retained = { ...buildDefaults().retained, dir: tempDir() };
    const base = uniqueName("rrestart");
    const first = await startAdapter({ retained });
    await pub({ ...login(`${base}-p`, first.port), topic: `${base}/kept`, message: "across restarts", qos: 2, retain: true });
    await first.stop();
    const second = await startAdapter({ retained });
    try {
      expect(await retainedFor(`${base}/+`, 2, second.port)).toEqual([{ topic: `${base}/kept`, payload: "across restarts", qos: 2, retain: true }]);
      expect(second.logLines.some((line) => /retained message store .*retained\.sqlite: 1 messages/.test(line))).toBe(true);
    } finally {
      await second.stop();
    }
  });

  test("retained QoS 1 deliveries keep to the in-flight window (mqtt.prefetch = 2); more follow each PUBACK", async () => {
    const windowed = await startAdapter({ prefetch: 2, retained: { ...buildDefaults().retained, dir: tempDir() } });
    const base = uniqueName("rwin");
    const l = login(`${base}-s`, windowed.port);
    const raw = await RawMqttClient.connected(windowed.port, { clientId: l.clientId, username: l.username, password: l.password });
    try {
      for (let n = 0; n < 5; n++) await pub({ ...login(`${base}-p`, windowed.port), topic: `${base}/${n}`, message: String(n), qos: 1, retain: true });
      raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${base}/+`, qos: 1 }] });
      expect((await raw.next("SUBACK")).cmd).toBe("suback");
      const inFlight: RawPacket[] = [await raw.next("retained 1"), await raw.next("retained 2")];
      // A live marker: had a third retained message gone out without a PUBACK, it would come first.
      raw.send({ cmd: "subscribe", messageId: 2, subscriptions: [{ topic: `${base}-marker`, qos: 0 }] });
      expect((await raw.next("SUBACK 2")).cmd).toBe("suback");
      raw.send({ cmd: "publish", topic: `${base}-marker`, payload: Buffer.from("m"), qos: 0, retain: false, dup: false });
      expect(await raw.next("the marker")).toMatchObject({ cmd: "publish", topic: `${base}-marker` });
      const seen = new Set<string>();
      let acked = 0;
      while (inFlight.length > 0) {
        const packet = inFlight.shift()!;
        expect(packet).toMatchObject({ cmd: "publish", qos: 1, retain: true });
        seen.add((packet as { payload: Buffer }).payload.toString());
        raw.send({ cmd: "puback", messageId: packet.messageId! });
        acked++;
        if (acked <= 3) inFlight.push(await raw.next(`retained ${acked + 2}`));
      }
      expect([...seen].sort()).toEqual(["0", "1", "2", "3", "4"]);
    } finally {
      raw.destroy();
      await windowed.stop();
    }
  });
});
