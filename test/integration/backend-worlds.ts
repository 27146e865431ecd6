/**
 * The two worlds the backend contract suite runs in: the memory fake and the AMQP backend on a
 * real RabbitMQ. Each gives the suite the same handles: a backend factory, administration (users,
 * vhosts, permissions, as rabbitmqctl would) and "the AMQP side" (a tap queue to read what MQTT
 * published, a way to publish as an AMQP client, queue inspection).
 */
import type { Backend } from "../../src/backend/backend.ts";
import { AmqpBackend } from "../../src/backend/amqp/index.ts";
import { MemoryBackend, MemoryBroker, type Permissions } from "../../src/backend/memory/index.ts";
import { createMemoryLogger } from "../../src/log.ts";
import { openAmqp, rabbitmqctl, rabbitmqctlJson, rabbitmqUrl, uniqueName } from "../support/broker.ts";

/** A message as an AMQP consumer of the tap queue sees it. */
export interface TapMessage {
  routingKey: string;
  payload: Uint8Array;
  headers: Record<string, unknown>;
  deliveryMode: number;
}

/** A queue bound to the exchange with a binding key, collecting what arrives. */
export interface Tap {
  /** The next message, or a rejection after `timeoutMs`. */
  next(timeoutMs?: number): Promise<TapMessage>;
  /** Messages received and not yet taken by next(). */
  readonly pending: TapMessage[];
  close(): Promise<void>;
}

export interface QueueFacts {
  durable: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
}

export interface World {
  name: string;
  /** A new backend with these settings; the world shuts it down in `cleanup()`. */
  backend(options?: { prefetch?: number; subscriptionTtlMs?: number }): Backend;
  /** A backend whose broker cannot be reached. */
  unreachableBackend(): Backend;
  addVhost(vhost: string): Promise<void>;
  /** A user with these permissions in `vhost` (full permissions when omitted). */
  addUser(username: string, password: string, vhost: string, permissions?: Permissions): Promise<void>;
  setTopicPermissions(username: string, vhost: string, write: string, read: string): Promise<void>;
  tap(vhost: string, bindingKey: string): Promise<Tap>;
  publish(vhost: string, routingKey: string, payload: string, headers?: Record<string, unknown>): Promise<void>;
  queue(vhost: string, name: string): Promise<QueueFacts | undefined>;
  deleteQueue(vhost: string, name: string): Promise<void>;
  /**
   * A resource alarm from now on: the broker blocks a connection that publishes. (RabbitMQ blocks a
   * connection at its first publish during the alarm; the memory broker blocks at once.)
   */
  raiseAlarm(): Promise<void>;
  clearAlarm(): Promise<void>;
  cleanup(): Promise<void>;
}

const FULL: Permissions = { configure: ".*", write: ".*", read: ".*" };
/** RabbitMQ's default vm_memory_high_watermark, restored after an alarm (the alarm is node-wide). */
const DEFAULT_WATERMARK = "0.4";

function collector(): { pending: TapMessage[]; push(m: TapMessage): void; next(timeoutMs?: number): Promise<TapMessage> } {
  const pending: TapMessage[] = [];
  const waiters: Array<(m: TapMessage) => void> = [];
  return {
    pending,
    push(message) {
      const waiter = waiters.shift();
      if (waiter !== undefined) waiter(message);
      else pending.push(message);
    },
    next(timeoutMs = 10_000) {
      const ready = pending.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(onMessage), 1);
          reject(new Error(`no message on the tap within ${timeoutMs} ms`));
        }, timeoutMs);
        const onMessage = (m: TapMessage) => {
          clearTimeout(timer);
          resolve(m);
        };
        waiters.push(onMessage);
      });
    },
  };
}

/** The memory fake: one broker per world, polled taps. */
export function memoryWorld(): World {
  const broker = new MemoryBroker();
  const backends: Backend[] = [];
  const timers = new Set<ReturnType<typeof setInterval>>();
  return {
    name: "memory",
    backend(options = {}) {
      const backend = new MemoryBackend({ broker, ...options });
      backends.push(backend);
      return backend;
    },
    unreachableBackend() {
      const down = new MemoryBroker();
      down.available = false;
      return new MemoryBackend({ broker: down });
    },
    async addVhost(vhost) {
      broker.addVhost(vhost);
    },
    async addUser(username, password, vhost, permissions = FULL) {
      broker.users.addUser(username, password);
      broker.users.setPermissions(username, vhost, permissions);
    },
    async setTopicPermissions(username, vhost, write, read) {
      broker.users.setTopicPermissions(username, vhost, "amq.topic", { write, read });
    },
    async tap(vhost, bindingKey) {
      const name = uniqueName("tap");
      broker.declareQueue(vhost, name);
      broker.bindQueue(vhost, name, "amq.topic", bindingKey);
      const out = collector();
      const timer = setInterval(() => {
        for (const m of broker.takeMessages(vhost, name)) out.push(m);
      }, 2);
      timers.add(timer);
      return {
        next: out.next,
        pending: out.pending,
        async close() {
          clearInterval(timer);
          timers.delete(timer);
          broker.deleteQueue(vhost, name);
        },
      };
    },
    async publish(vhost, routingKey, payload, headers) {
      broker.publish({ vhost, routingKey, payload, headers });
    },
    async queue(vhost, name) {
      const info = broker.queueInfo(vhost, name);
      return info && { durable: info.durable, autoDelete: info.autoDelete, arguments: info.arguments };
    },
    async deleteQueue(vhost, name) {
      broker.deleteQueue(vhost, name);
    },
    async raiseAlarm() {
      broker.setBlocked(true);
    },
    async clearAlarm() {
      broker.setBlocked(false);
    },
    async cleanup() {
      broker.setBlocked(false);
      for (const timer of timers) clearInterval(timer);
      await Promise.all(backends.splice(0).map((b) => b.shutdown()));
    },
  };
}

/** The AMQP backend on the harness's RabbitMQ; users and vhosts made with rabbitmqctl. */
export async function amqpWorld(): Promise<World> {
  const url = new URL(await rabbitmqUrl());
  const brokerUrl = `amqp://${url.host}`;
  const backends: Backend[] = [];
  const taps = new Set<Tap>();
  const users: string[] = [];
  const vhosts: string[] = [];
  let alarmRaised = false;
  const guestFor = async (vhost: string) => {
    const target = new URL(await rabbitmqUrl());
    target.pathname = `/${encodeURIComponent(vhost)}`;
    return target.toString();
  };
  return {
    name: "amqp",
    backend(options = {}) {
      const backend = new AmqpBackend({
        url: brokerUrl,
        exchange: "amq.topic",
        subscriptionTtlMs: options.subscriptionTtlMs ?? 86_400_000,
        prefetch: options.prefetch ?? 10,
        authCacheTtlMs: 2_000,
        log: createMemoryLogger("info"),
      });
      backends.push(backend);
      return backend;
    },
    unreachableBackend() {
      // Port 1 on loopback: nothing listens there, the connect is refused at once.
      return new AmqpBackend({ url: "amqp://127.0.0.1:1", exchange: "amq.topic", subscriptionTtlMs: 1000, prefetch: 1, authCacheTtlMs: 0, log: createMemoryLogger("info") });
    },
    async addVhost(vhost) {
      await rabbitmqctl("add_vhost", vhost);
      await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
      vhosts.push(vhost);
    },
    async addUser(username, password, vhost, permissions = FULL) {
      await rabbitmqctl("add_user", username, password);
      users.push(username);
      await rabbitmqctl("set_permissions", "-p", vhost, username, permissions.configure, permissions.write, permissions.read);
    },
    async setTopicPermissions(username, vhost, write, read) {
      await rabbitmqctl("set_topic_permissions", "-p", vhost, username, "amq.topic", write, read);
    },
    async tap(vhost, bindingKey) {
      const session = await openAmqp({ url: await guestFor(vhost) });
      const { queue } = await session.channel.assertQueue("", { exclusive: true, durable: false });
      await session.channel.bindQueue(queue, "amq.topic", bindingKey);
      const out = collector();
      await session.channel.consume(
        queue,
        (m) => {
          if (m === null) return;
          out.push({
            routingKey: m.fields.routingKey,
            payload: m.content,
            headers: { ...m.properties.headers },
            deliveryMode: m.properties.deliveryMode,
          });
        },
        { noAck: true },
      );
      const tap: Tap = { next: out.next, pending: out.pending, close: () => session.close() };
      taps.add(tap);
      return tap;
    },
    async publish(vhost, routingKey, payload, headers) {
      const session = await openAmqp({ url: await guestFor(vhost), confirm: true });
      try {
        session.channel.publish("amq.topic", routingKey, Buffer.from(payload), { headers });
        await session.channel.waitForConfirms();
      } finally {
        await session.close();
      }
    },
    async queue(vhost, name) {
      // rabbitmqctl prints arguments as [name, type, value] triples.
      type Row = { name: string; durable: boolean; auto_delete: boolean; arguments: Array<[string, string, unknown]> };
      const rows = await rabbitmqctlJson<Row[]>("list_queues", "-p", vhost, "name", "durable", "auto_delete", "arguments");
      const row = rows.find((r) => r.name === name);
      if (row === undefined) return undefined;
      const args = Object.fromEntries(row.arguments.map(([key, , value]) => [key, value]));
      return { durable: row.durable, autoDelete: row.auto_delete, arguments: args };
    },
    async deleteQueue(vhost, name) {
      await rabbitmqctl("delete_queue", "-p", vhost, name);
    },
    async raiseAlarm() {
      alarmRaised = true;
      await rabbitmqctl("set_vm_memory_high_watermark", "0.000001");
      const deadline = Date.now() + 15_000;
      while (!(await rabbitmqctl("eval", "rabbit_alarm:get_alarms().")).includes("memory")) {
        if (Date.now() > deadline) throw new Error("RabbitMQ raised no memory alarm within 15 s of set_vm_memory_high_watermark 0.000001");
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async clearAlarm() {
      alarmRaised = false;
      await rabbitmqctl("set_vm_memory_high_watermark", DEFAULT_WATERMARK);
    },
    async cleanup() {
      if (alarmRaised) {
        alarmRaised = false;
        await rabbitmqctl("set_vm_memory_high_watermark", DEFAULT_WATERMARK);
      }
      for (const tap of taps) await tap.close();
      taps.clear();
      await Promise.all(backends.splice(0).map((b) => b.shutdown()));
      for (const user of users.splice(0)) await rabbitmqctl("delete_user", user).catch(() => {});
      for (const vhost of vhosts.splice(0)) await rabbitmqctl("delete_vhost", vhost).catch(() => {});
    },
  };
}
