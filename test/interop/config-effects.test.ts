/**
 * The compiled executable honours the plugin's config keys as an operator writes them in the
 * file: `mqtt.allow_anonymous`, `mqtt.vhost`, `mqtt.exchange` and `mqtt.subscription_ttl`, with
 * RabbitMQ users and vhosts made for this file (removed afterwards). Clients are
 * mosquitto_pub / mosquitto_sub, whose exit code is the CONNACK return code on a refusal.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { openAmqp, rabbitmqctl, rabbitmqUrlFor, uniqueName, type AmqpSession } from "../support/broker.ts";
import { startBinary, type BinaryAdapter } from "../support/binary.ts";
import { MQTT_VERSIONS, getOne, mosquittoPub, mosquittoSub } from "./interop-helpers.ts";

// Waits inside the tests are bounded on their own; this only lifts Bun's 5 s default.
setDefaultTimeout(30_000);

const vhost = uniqueName("cfg-vhost");
const user = uniqueName("cfg-user");
const password = uniqueName("pw");
const exchange = uniqueName("cfg-x");
const ttlMs = 3_600_000;
await rabbitmqctl("add_vhost", vhost);
await rabbitmqctl("add_user", user, password);
await rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*");

let adapter: BinaryAdapter;
let amqp: AmqpSession;
beforeAll(async () => {
  amqp = await openAmqp({ url: await rabbitmqUrlFor({ username: user, password, vhost }) });
  await amqp.channel.assertExchange(exchange, "topic", { durable: false });
  adapter = await startBinary({
    extraConfig: [
      "mqtt.allow_anonymous = false",
      `mqtt.vhost = ${vhost}`,
      `mqtt.exchange = ${exchange}`,
      `mqtt.subscription_ttl = ${ttlMs}`,
    ].join("\n"),
  });
}, 30_000);
afterAll(async () => {
  await amqp?.close();
  const stopped = await adapter?.stop();
  await rabbitmqctl("delete_vhost", vhost);
  await rabbitmqctl("delete_user", user);
  expect(stopped?.exitCode).toBe(0);
}, 30_000);

describe.each(MQTT_VERSIONS)("config keys in the file, mosquitto -V %s", (version) => {
  test("mqtt.allow_anonymous = false: no credentials → CONNACK 4; a wrong password → CONNACK 4", async () => {
    const topic = `${uniqueName("cfg")}/x`;
    const anonymous = await mosquittoPub({ port: adapter.port, version, topic, message: "m", qos: 1 });
    expect(anonymous.exitCode, anonymous.stderr).toBe(4);
    expect(anonymous.stderr).toContain("Connection Refused: bad user name or password");
    const wrong = await mosquittoPub({ port: adapter.port, version, topic, message: "m", qos: 1, username: user, password: "not-it" });
    expect(wrong.exitCode, wrong.stderr).toBe(4);
    expect(adapter.lines.join("\n")).toContain("anonymous logins are off (mqtt.allow_anonymous = false)");
  });

  test("mqtt.vhost and mqtt.exchange: a publish lands on that exchange in that vhost", async () => {
    const base = uniqueName("cfg");
    const { queue } = await amqp.channel.assertQueue("", { exclusive: true });
    await amqp.channel.bindQueue(queue, exchange, `${base}.#`);
    const run = await mosquittoPub({ port: adapter.port, version, topic: `${base}/a/b`, message: "routed", qos: 1, username: user, password });
    expect(run.exitCode, run.stderr).toBe(0);
    const message = await getOne(amqp.channel, queue);
    expect({ exchange: message.fields.exchange, key: message.fields.routingKey, body: message.content.toString() }).toEqual({
      exchange,
      key: `${base}.a.b`,
      body: "routed",
    });
    await amqp.channel.deleteQueue(queue);
  });

  test("mqtt.subscription_ttl: a persistent session queue is durable with x-expires = the TTL, and gets what is published while away", async () => {
    const clientId = uniqueName("ttl");
    const base = uniqueName("cfg");
    const auth = { username: user, password };
    const first = mosquittoSub({ port: adapter.port, version, topics: [`${base}/#`], qos: 1, clientId, persistent: true, exitAfterSubscribe: true, ...auth });
    expect(await first.subscribed()).toEqual([1]);
    expect((await first.waitForExit()).exitCode).toBe(0);
    // Re-declaring with the same arguments succeeds only if they are equivalent (else 406 closes the channel).
    const probe = await openAmqp({ url: await rabbitmqUrlFor({ username: user, password, vhost }) });
    try {
      const queue = `mqtt-subscription-${clientId}qos1`;
      const declared = await probe.channel.assertQueue(queue, { durable: true, autoDelete: false, arguments: { "x-expires": ttlMs } });
      expect(declared.queue).toBe(queue);
      expect(probe.errors).toEqual([]);
    } finally {
      await probe.close();
    }
    await mosquittoPub({ port: adapter.port, version, topic: `${base}/later`, message: "kept", qos: 1, ...auth });
    const back = mosquittoSub({ port: adapter.port, version, topics: [`${base}/#`], qos: 1, clientId, persistent: true, count: 1, ...auth });
    expect(await back.waitForMessages(1)).toEqual([{ topic: `${base}/later`, payload: "kept", qos: 1, retain: false }]);
    expect((await back.waitForExit()).exitCode).toBe(0);
    // The vhost is deleted after the file, and its queues with it.
  });
});
