/**
 * Exact MQTT topic semantics through RabbitMQ, with real clients: filters starting with `#` or `+`
 * do not receive `$` topics although RabbitMQ routes them there [MQTT-4.7.2-1], and a `.` inside a
 * topic level survives MQTT → RabbitMQ → MQTT unchanged without adding a level (the README's
 * compatibility section says how it is carried; these tests check exactly that).
 *
 * To show a message was NOT delivered, a marker follows it on the same path (mqtt-support.ts).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ensureRabbitmq, openAmqp, uniqueName, type AmqpSession } from "../support/broker.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { BrokerFixtures, connectMqttJs, endAll, HOOK_TIMEOUT_MS, Inbox, TEST_TIMEOUT_MS, type TestUser } from "./mqtt-support.ts";
import { pahoFlow, pub, sub, type CliLogin } from "./qos2-retained-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

const fixtures = new BrokerFixtures();
let adapter: TestAdapter;
let amqp: AmqpSession;
/** A vhost of this file's own, so that `#` subscribers see only these tests' messages. */
let user: TestUser;

beforeAll(async () => {
  adapter = await startAdapter();
  amqp = await openAmqp();
  user = await fixtures.addUser({ vhost: await fixtures.addVhost("topics") });
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
  await amqp?.close();
  await adapter?.stop();
  await fixtures.cleanup();
}, HOOK_TIMEOUT_MS);

function login(clientId: string): CliLogin {
  return { port: adapter.port, clientId, username: `${user.vhost}:${user.username}`, password: user.password };
}

describe("`$` topics are not matched by filters starting with a wildcard [MQTT-4.7.2-1]", () => {
  test("MQTT.js on `#` and `+/status` gets the marker but not `$…/status`; a `$…/#` subscriber gets it", async () => {
    const base = uniqueName("dollar");
    const dollarTopic = `$${base}/status`;
    const l = login(`${base}-wild`);
    const wild = await connectMqttJs(adapter.url, { clientId: l.clientId, username: l.username, password: l.password });
    const inbox = new Inbox(wild);
    try {
      await wild.subscribeAsync({ "#": { qos: 1 }, "+/status": { qos: 1 } });
      const system = sub({ ...login(`${base}-sys`), filters: [`$${base}/#`], qos: 1, count: 1 });
      await system.started;
      await pub({ ...login(`${base}-p`), topic: dollarTopic, message: "hidden from #", qos: 1 });
      await pub({ ...login(`${base}-p`), topic: `${base}/status`, message: "marker", qos: 1 });
      expect((await inbox.next("the marker")).topic).toBe(`${base}/status`); // not the `$` topic first
      expect((await system.done).messages).toEqual([{ topic: dollarTopic, qos: 1, retain: false, payload: "hidden from #" }]);
    } finally {
      await endAll(wild);
    }
  });

  test("Paho on `+/#` and `$…/+` gets a `$` topic once, through `$…/+` only", async () => {
    const base = uniqueName("dollarp");
    const l = login(`${base}-paho`);
    const running = pahoFlow({
      port: adapter.port,
      client_id: l.clientId,
      username: l.username,
      password: l.password,
      subscribe: [["+/#", 1], [`$${base}/+`, 0]],
      // Published by the client itself after its SUBACK, through RabbitMQ: `$…` first, then a marker.
      publish: [[`$${base}/load`, "0.5", 1, false], [`${base}/marker`, "m", 1, false]],
      expect: 2,
    });
    const result = await running;
    expect(result.messages.map((m) => [m.topic, m.qos])).toEqual([
      [`$${base}/load`, 0], // once, via `$base/+` at its QoS 0, not via `+/#`
      [`${base}/marker`, 1],
    ]);
  });
});

describe("a `.` inside a topic level", () => {
  test("round-trips mosquitto → RabbitMQ → mosquitto unchanged, `+` matches `a.b` as one level", async () => {
    const base = uniqueName("dot");
    const topic = `${base}/a.b/c`;
    const plus = sub({ ...login(`${base}-plus`), filters: [`${base}/+/c`], qos: 1, count: 1 });
    // `base/a/#` would match if the dot became a level separator (as in the native plugin).
    const split = sub({ ...login(`${base}-split`), filters: [`${base}/a/#`], qos: 1, count: 1 });
    await Promise.all([plus.started, split.started]);
    await pub({ ...login(`${base}-p`), topic, message: "dotted", qos: 1 });
    await pub({ ...login(`${base}-p`), topic: `${base}/a/marker`, message: "marker", qos: 1 });
    expect((await plus.done).messages).toEqual([{ topic, qos: 1, retain: false, payload: "dotted" }]);
    expect((await split.done).messages.map((m) => m.topic)).toEqual([`${base}/a/marker`]);
  });

  test("AMQP sees it as `/` in the routing key (`a.b/c` → `a/b.c`); an AMQP `/` reaches MQTT as `.`", async () => {
    const base = uniqueName("dotamqp");
    const { queue } = await amqp.channel.assertQueue("", { exclusive: true });
    await amqp.channel.bindQueue(queue, "amq.topic", `${base}.#`);
    await pub({ port: adapter.port, clientId: `${base}-p`, topic: `${base}/v1.0/temp`, message: "21", qos: 1 });
    const got = await amqp.channel.get(queue, { noAck: true });
    expect(got === false ? undefined : got.fields.routingKey).toBe(`${base}.v1/0.temp`);

    const s = sub({ port: adapter.port, clientId: `${base}-s`, filters: [`${base}/+/temp`], qos: 1, count: 1 });
    await s.started;
    amqp.channel.publish("amq.topic", `${base}.v2/1.temp`, Buffer.from("from amqp"));
    expect((await s.done).messages).toEqual([{ topic: `${base}/v2.1/temp`, qos: 1, retain: false, payload: "from amqp" }]);
  });

  test("a retained message on a dotted topic is found by `+` as one level", async () => {
    const base = uniqueName("dotret");
    await pub({ ...login(`${base}-p`), topic: `${base}/x.y/z`, message: "kept", qos: 1, retain: true });
    const s = sub({ ...login(`${base}-s`), filters: [`${base}/+/z`], qos: 1, count: 1 });
    expect((await s.done).messages).toEqual([{ topic: `${base}/x.y/z`, qos: 1, retain: true, payload: "kept" }]);
    await pub({ ...login(`${base}-p`), topic: `${base}/x.y/z`, message: undefined, qos: 1, retain: true });
  });
});
