/**
 * Proves the real-broker harness: the broker from test/support/broker.ts routes, confirms
 * and delivers AMQP messages, rabbitmqctl administers it, and RabbitMQ's own permission
 * checks come back to a test as errors carrying the AMQP reply code.
 */
import { afterEach, describe, expect, test } from "bun:test";
import amqp from "amqplib";
import type { Channel, ConsumeMessage } from "amqplib";
import {
  ensureRabbitmq,
  openAmqp,
  RabbitmqctlError,
  rabbitmqctl,
  rabbitmqctlJson,
  rabbitmqUrlFor,
  uniqueName,
} from "../support/broker.ts";

// Top level, not inside a test: a private node takes seconds to boot and top-level await has no test timeout.
const broker = await ensureRabbitmq();

/** Resolves with the first message delivered from `queue`, or rejects after `timeoutMs`. */
async function consumeOne(channel: Channel, queue: string, timeoutMs = 5_000): Promise<ConsumeMessage> {
  let consumerTag: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await new Promise<ConsumeMessage>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no message on ${queue} within ${timeoutMs} ms`)), timeoutMs);
      channel
        .consume(queue, (message) => (message === null ? reject(new Error(`consumer on ${queue} cancelled`)) : resolve(message)))
        .then((reply) => (consumerTag = reply.consumerTag), reject);
    });
  } finally {
    clearTimeout(timer);
    if (consumerTag !== undefined) await channel.cancel(consumerTag);
  }
}

/** Runs `operation` and returns the AMQP error it must fail with. */
async function amqpFailure(operation: () => Promise<unknown>): Promise<Error & { code?: number }> {
  try {
    await operation();
  } catch (error) {
    return error as Error & { code?: number };
  }
  throw new Error("expected the broker to refuse the operation, but it succeeded");
}

describe("AMQP through the test broker", () => {
  test("a confirmed publish to amq.topic reaches the bound queue with body, headers and properties intact", async () => {
    const session = await openAmqp({ confirm: true });
    const queue = uniqueName("harness-q");
    try {
      const { channel } = session;
      await channel.assertQueue(queue, { durable: false, autoDelete: false });
      await channel.bindQueue(queue, "amq.topic", `${queue}.*.reading`);

      const bindings = await rabbitmqctlJson<Array<Record<string, string>>>(
        "list_bindings", "source_name", "destination_name", "routing_key",
      );
      expect(bindings).toContainEqual({ source_name: "amq.topic", destination_name: queue, routing_key: `${queue}.*.reading` });

      // Binary body with a zero byte and invalid UTF-8: must arrive byte for byte.
      const body = Buffer.from([0x00, 0x01, 0xff, 0xfe, 0x80, 0x41]);
      channel.publish("amq.topic", `${queue}.sensor-1.reading`, body, {
        deliveryMode: 2,
        headers: { "x-mqtt-publish-qos": 1, "x-mqtt-dup": false },
      });
      channel.publish("amq.topic", `${queue}.sensor-1.other`, Buffer.from("not routed"), { deliveryMode: 1 });
      await channel.waitForConfirms();

      const message = await consumeOne(channel, queue);
      channel.ack(message);
      expect(message.content.equals(body)).toBe(true);
      expect(message.fields.exchange).toBe("amq.topic");
      expect(message.fields.routingKey).toBe(`${queue}.sensor-1.reading`);
      expect(message.fields.redelivered).toBe(false);
      expect(message.properties.deliveryMode).toBe(2);
      expect(message.properties.headers).toEqual({ "x-mqtt-publish-qos": 1, "x-mqtt-dup": false });

      // The second publish matched no binding, so nothing else is waiting.
      expect((await channel.checkQueue(queue)).messageCount).toBe(0);
      expect(session.errors).toEqual([]);
    } finally {
      await session.channel.deleteQueue(queue).catch(() => {});
      await session.close();
    }
  });

  test("rabbitmqctl lists what an AMQP client declared", async () => {
    const session = await openAmqp();
    const queue = uniqueName("harness-listed");
    try {
      await session.channel.assertQueue(queue, { durable: true, arguments: { "x-expires": 60_000 } });
      const queues = await rabbitmqctlJson<Array<{ name: string; durable: boolean; arguments: Record<string, unknown> }>>(
        "list_queues", "name", "durable", "arguments",
      );
      const listed = queues.find((entry) => entry.name === queue);
      expect(listed?.durable).toBe(true);
      expect(JSON.stringify(listed?.arguments)).toContain("x-expires");
    } finally {
      await session.channel.deleteQueue(queue).catch(() => {});
      await session.close();
    }
  });
});

describe("permissions set with rabbitmqctl are enforced by RabbitMQ", () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
  });

  /** A fresh vhost and user that may configure, write and read only `allowed-*` resources and topic keys `allowed.*`. */
  async function restrictedUser(): Promise<{ vhost: string; username: string; password: string }> {
    const vhost = uniqueName("harness-vh");
    const username = uniqueName("harness-user");
    const password = uniqueName("pw");
    await rabbitmqctl("add_vhost", vhost);
    cleanups.push(() => rabbitmqctl("delete_vhost", vhost));
    await rabbitmqctl("add_user", username, password);
    cleanups.push(() => rabbitmqctl("delete_user", username));
    await rabbitmqctl("set_permissions", "-p", vhost, username, "^allowed-.*", "^(allowed-.*|amq\\.topic)$", "^(allowed-.*|amq\\.topic)$");
    await rabbitmqctl("set_topic_permissions", "-p", vhost, username, "amq.topic", "^allowed\\.", "^allowed\\.");
    return { vhost, username, password };
  }

  test("allowed declare, bind and publish succeed; a refused declare is a 403 ACCESS_REFUSED error", async () => {
    const user = await restrictedUser();
    const session = await openAmqp({ url: await rabbitmqUrlFor(user), confirm: true });
    cleanups.push(() => session.close());

    await session.channel.assertQueue("allowed-q", { durable: false });
    await session.channel.bindQueue("allowed-q", "amq.topic", "allowed.#");
    session.channel.publish("amq.topic", "allowed.x", Buffer.from("ok"));
    await session.channel.waitForConfirms();
    expect((await session.channel.checkQueue("allowed-q")).messageCount).toBe(1);

    const refusal = await amqpFailure(() => session.channel.assertQueue("denied-q"));
    expect(refusal.code).toBe(403);
    expect(refusal.message).toContain("ACCESS_REFUSED");
    expect(refusal.message).toContain("denied-q");
    // The refusal closed only that channel; the connection still works.
    const channel = await session.connection.createChannel();
    channel.on("error", () => {});
    expect((await channel.checkQueue("allowed-q")).messageCount).toBe(1);
    await channel.close();
  });

  test("a publish against the topic permission is refused with 403 and never confirmed", async () => {
    const user = await restrictedUser();
    const session = await openAmqp({ url: await rabbitmqUrlFor(user), confirm: true });
    cleanups.push(() => session.close());

    session.channel.publish("amq.topic", "denied.x", Buffer.from("must not route"));
    const refusal = await amqpFailure(() => session.channel.waitForConfirms());
    const closeError = session.errors.find((error) => (error as { code?: number }).code === 403);
    expect(closeError?.message ?? refusal.message).toContain("ACCESS_REFUSED");
    expect(closeError?.message).toContain("denied.x");
  });

  // What amqplib 0.10.9 reports when RabbitMQ refuses a login: a bad password closes the
  // handshake with 403 in the message; a refused vhost is connection.close(530) in reply to
  // connection.open, which amqplib prints WITHOUT the reply code or text. Whoever maps these
  // to CONNACK codes must match on that shape; this table pins it so an upgrade shows up here.
  const loginRefusals = [
    { name: "a wrong password", password: "wrong", vhost: undefined, expected: "403 (ACCESS-REFUSED)" },
    { name: "a vhost the user has no permissions in", password: undefined, vhost: "/", expected: "Expected ConnectionOpenOk; got <ConnectionClose" },
  ];
  for (const refusal of loginRefusals) {
    test(`logging in with ${refusal.name} is refused: "${refusal.expected}"`, async () => {
      const user = await restrictedUser();
      const url = await rabbitmqUrlFor({
        username: user.username,
        password: refusal.password ?? user.password,
        vhost: refusal.vhost ?? user.vhost,
      });
      const failure = await amqpFailure(() => amqp.connect(url));
      expect(failure.message).toContain(refusal.expected);
    });
  }

  test("a failing rabbitmqctl command rejects with its exit code and RabbitMQ's message", async () => {
    const missing = uniqueName("harness-missing");
    const failure = await amqpFailure(() => rabbitmqctl("delete_user", missing));
    expect(failure).toBeInstanceOf(RabbitmqctlError);
    expect((failure as RabbitmqctlError).exitCode).not.toBe(0);
    expect(failure.message).toContain(missing);
  });
});

test.if(broker.isPrivate)("the private node listens only on 127.0.0.1 for AMQP and clustering, with no plugins (no native MQTT)", async () => {
  const status = await rabbitmqctlJson<{
    listeners: Array<{ interface: string; protocol: string }>;
    active_plugins: string[];
    enabled_plugin_file: string;
  }>("status");
  expect(status.listeners.map((listener) => listener.protocol).sort()).toEqual(["amqp", "clustering"]);
  expect(status.listeners.every((listener) => listener.interface === "127.0.0.1")).toBe(true);
  expect(status.active_plugins).toEqual([]);
  expect(status.enabled_plugin_file.startsWith("/etc/")).toBe(false);
});
