/**
 * The compiled executable as an operator meets it: `--version`, `--help`, `check-config`, and
 * `start` from a config file through to SIGTERM. Everything runs dist/rabbitmq-mqtt (or
 * $RABBITMQ_MQTT_BINARY) as a child process; MQTT.js and amqplib stand in for devices and
 * AMQP applications.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import mqtt from "mqtt";
import pkg from "../../package.json" with { type: "json" };
import { openAmqp, rabbitmqUrl, uniqueName } from "../support/broker.ts";
import { freePort, isPortFree, runBinary, startBinary, stripAnsi, writeConfigFile, type BinaryAdapter } from "../support/binary.ts";
import { MQTT_VERSIONS, collectQueue, forwardTcp, mosquittoPub, mosquittoSub, mqttjsVersion, withTimeout, type TcpForwarder } from "./interop-helpers.ts";

// Every wait inside a test has its own, shorter bound with a clear message; this only keeps
// Bun's 5 s default (bunfig's `timeout` key is not read by Bun 1.4.5) from cutting them off.
setDefaultTimeout(30_000);
const harnessUrl = await rabbitmqUrl();
/** "Exits within a few seconds" (DESIGN.md): the adapter's own grace period is 5 s; a process still running after this is a failure. */
const STOP_WITHIN_MS = 8000;

describe("rabbitmq-mqtt --version / --help", () => {
  test("--version prints the package version and exits 0", async () => {
    const run = await runBinary(["--version"]);
    expect(run).toMatchObject({ exitCode: 0, stderr: "" });
    expect(run.stdout.trim()).toBe(pkg.version);
  });

  test("--help names every command and exits 0", async () => {
    const run = await runBinary(["--help"]);
    expect(run.exitCode).toBe(0);
    const help = stripAnsi(run.stdout);
    expect(help).toContain("rabbitmq-mqtt start|enable|disable|check-config|status|list_connections|list_mqtt_connections");
    for (const command of ["start", "enable", "disable", "check-config", "status", "list_connections", "list_mqtt_connections"]) {
      expect(help).toMatch(new RegExp(`^\\s+${command}\\s{2,}\\S`, "m"));
    }
  });

  test("start --help documents --config", async () => {
    const run = await runBinary(["start", "--help"]);
    expect(run.exitCode).toBe(0);
    expect(stripAnsi(run.stdout)).toContain("--config");
  });
});

describe("rabbitmq-mqtt check-config", () => {
  test("a good file: exit 0, effective values printed, every secret masked", async () => {
    const file = writeConfigFile(
      [
        "mqtt.listeners.tcp.default = 11883",
        "adapter.amqp_url = amqp://bob:url-secret-1@127.0.0.1:5672/prod",
        "mqtt.default_user = device",
        "mqtt.default_pass = pass-secret-2",
        "mqtt.allow_anonymous = false",
        "mqtt.prefetch = 25",
      ].join("\n") + "\n",
    );
    const run = await runBinary(["check-config", "--config", file]);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain(`configuration is valid (${file})`);
    const lines = run.stdout.split("\n");
    expect(lines).toContain("mqtt.listeners.tcp.default = 11883");
    expect(lines).toContain("mqtt.allow_anonymous = false");
    expect(lines).toContain("mqtt.prefetch = 25");
    expect(lines).toContain("mqtt.default_user = device");
    expect(lines).toContain("mqtt.default_pass = ********");
    expect(lines).toContain("adapter.amqp_url = amqp://bob:********@127.0.0.1:5672/prod");
    expect(lines).toContain("mqtt.vhost = /  # default");
    expect(run.stdout + run.stderr).not.toContain("url-secret-1");
    expect(run.stdout + run.stderr).not.toContain("pass-secret-2");
  });

  test("a bad file: exit 1, every problem as file:line: key = value: …, unknown keys with a suggestion, secrets masked", async () => {
    const file = writeConfigFile(
      [
        "# a comment line counts for line numbers",
        "mqtt.listeners.tcp.default = 70000",
        "adapter.amqp_url = ftp://bob:url-secret-3@127.0.0.1",
        "mqtt.allow_anonymous = maybe",
        "mqtt.default_pasword = pass-secret-4",
        "mqtt.allow_anonymus = false",
        "listeners.tcp.default = 5672",
        "mqtt.prefetch = -3",
      ].join("\n") + "\n",
    );
    const run = await runBinary(["check-config", "--config", file]);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toBe(""); // no effective configuration for an invalid one
    const errors = run.stderr.split("\n").filter((line) => line.startsWith("error: "));
    const expected: [number, string, RegExp][] = [
      [2, "mqtt.listeners.tcp.default = 70000", /port above the maximum 65535/],
      [3, "adapter.amqp_url = ftp://bob:********@127.0.0.1", /not amqp: or amqps:/],
      [4, "mqtt.allow_anonymous = maybe", /not a boolean, expected true or false/],
      [5, "mqtt.default_pasword = ********", /unknown key, did you mean mqtt\.default_pass\?/],
      [6, "mqtt.allow_anonymus = false", /unknown key, did you mean mqtt\.allow_anonymous\?/],
      [7, "listeners.tcp.default = 5672", /belongs in rabbitmq\.conf.*did you mean mqtt\.listeners\.tcp\.default\?/],
      [8, "mqtt.prefetch = -3", /below the minimum 0/],
    ];
    for (const [line, setting, why] of expected) {
      const found = errors.find((error) => error.startsWith(`error: ${file}:${line}: ${setting}: `));
      expect(found, `no error for line ${line} (${setting}) in:\n${run.stderr}`).toBeDefined();
      expect(found!).toMatch(why);
    }
    expect(errors).toHaveLength(expected.length);
    expect(run.stderr).toContain(`configuration is invalid: ${expected.length} problem(s)`);
    expect(run.stderr).not.toContain("url-secret-3");
    expect(run.stderr).not.toContain("pass-secret-4");
  });

  test("a mistyped option exits 64 naming it, instead of checking the default file", async () => {
    const file = writeConfigFile("mqtt.prefetch = 5\n");
    const run = await runBinary(["check-config", "--cnofig", file]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(64);
    expect(run.stderr).toContain("rabbitmq-mqtt check-config: unknown option --cnofig; known: --config");
    expect(run.stdout).toBe("");
  });

  test("a missing file: exit 1 naming the file", async () => {
    const missing = `/nonexistent/${uniqueName("conf")}.conf`;
    const run = await runBinary(["check-config", "--config", missing]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain(`error: ${missing}: cannot read the config file: no such file`);
  });
});

describe("rabbitmq-mqtt start", () => {
  test("a bad config exits 1 before any port opens, listing every problem", async () => {
    const port = freePort();
    const file = writeConfigFile(`mqtt.listeners.tcp.default = ${port}\nadapter.amqp_url = ${harnessUrl}\nmqtt.prefetch = lots\nmqtt.vhots = /\n`);
    const run = await runBinary(["start", "--config", file]);
    expect(run.exitCode).toBe(1);
    const output = run.stdout + run.stderr;
    expect(output).toContain(`${file}:3: mqtt.prefetch = lots: `);
    expect(output).toContain(`${file}:4: mqtt.vhots = /: unknown key, did you mean mqtt.vhost?`);
    expect(output).toContain("configuration is invalid (2 problem(s)); not starting");
    expect(output).not.toContain("started MQTT");
    expect(isPortFree(port)).toBe(true);
  });

  test("a mistyped option (--confg) exits 64 naming it, instead of starting on the defaults", async () => {
    const port = freePort();
    const file = writeConfigFile(`mqtt.listeners.tcp.default = ${port}\nadapter.amqp_url = ${harnessUrl}\n`);
    // With the flag ignored, the adapter would run anonymous on 1883 with /etc's or the built-in config.
    const run = await runBinary(["start", "--confg", file], { timeoutMs: 5000 });
    expect(run.exitCode, run.stdout + run.stderr).toBe(64);
    expect(run.stderr).toContain("rabbitmq-mqtt start: unknown option --confg; known: --config");
    expect(run.stdout + run.stderr).not.toContain("started MQTT");
  });

  test("logs `started MQTT TCP Listener on [::]:PORT` and serves MQTT over IPv4 and IPv6 loopback", async () => {
    const adapter = await startBinary();
    try {
      expect(adapter.lines).toContainEqual(expect.stringContaining(`[info] started MQTT TCP Listener on [::]:${adapter.port}`));
      // The broker URL is logged, its password is not.
      expect(adapter.lines.join("\n")).not.toContain(new URL(harnessUrl).password + "@");
      const topic = `${uniqueName("life")}/hello`;
      const subscriber = await mqtt.connectAsync(`mqtt://[::1]:${adapter.port}`, { clientId: uniqueName("sub"), protocolVersion: 4, reconnectPeriod: 0 });
      const publisher = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("pub"), protocolVersion: 4, reconnectPeriod: 0 });
      try {
        await subscriber.subscribeAsync(topic, { qos: 1 });
        const received = new Promise<string>((resolve) => subscriber.once("message", (_t, payload) => resolve(payload.toString())));
        await publisher.publishAsync(topic, "over the binary", { qos: 1 });
        expect(await withTimeout(received, 5000, "the subscriber's message")).toBe("over the binary");
      } finally {
        await publisher.endAsync();
        await subscriber.endAsync();
      }
    } finally {
      const stopped = await adapter.stop();
      expect(stopped.exitCode).toBe(0);
    }
  });

  test("an unreachable RabbitMQ is one clear log line, not a crash: CONNACK 3 until it answers, then clients are served", async () => {
    // The URL names a port where nothing listens yet; later a forwarder to the harness broker opens there.
    const brokerPort = freePort();
    const harness = new URL(harnessUrl);
    const adapter = await startBinary({ amqpUrl: `amqp://guest:guest@127.0.0.1:${brokerPort}` });
    let forwarder: TcpForwarder | undefined;
    try {
      const line = await adapter.waitForLine(`RabbitMQ at amqp://127.0.0.1:${brokerPort} is not reachable`, 10_000);
      expect(line).toContain("[error]");
      expect(line).toContain("MQTT clients get CONNACK 3");
      for (const version of MQTT_VERSIONS) {
        const refused = await mqtt
          .connectAsync(adapter.url, { clientId: uniqueName("dead"), reconnectPeriod: 0, connectTimeout: 10_000, ...mqttjsVersion(version) })
          .then(
            async (client) => {
              await client.endAsync();
              return undefined;
            },
            (error: Error & { code?: number }) => error,
          );
        expect(refused?.code, `${version}: ${refused?.message ?? "CONNACK 0"}`).toBe(3);
      }
      expect(adapter.running()).toBe(true);

      forwarder = forwardTcp(brokerPort, { host: harness.hostname, port: Number(harness.port) });
      // BrokerWatch retries with backoff and says so once the broker answers.
      await adapter.waitForLine(`RabbitMQ answers at amqp://127.0.0.1:${brokerPort}`, 10_000);
      const topic = `${uniqueName("back")}/up`;
      const client = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("back"), protocolVersion: 4, reconnectPeriod: 0 });
      try {
        await client.subscribeAsync(topic, { qos: 1 });
        const received = new Promise<string>((resolve) => client.once("message", (_t, payload) => resolve(payload.toString())));
        await client.publishAsync(topic, "served again", { qos: 1 });
        expect(await withTimeout(received, 5000, "the message after RabbitMQ came back")).toBe("served again");
      } finally {
        await client.endAsync();
      }
    } finally {
      const stopped = await adapter.stop("SIGINT", STOP_WITHIN_MS);
      forwarder?.stop();
      expect(stopped.exitCode, stopped.output).toBe(0);
      expect(stopped.output).toContain("SIGINT received: stopping");
    }
  });

  test("SIGTERM hands unacknowledged QoS 1 deliveries back to RabbitMQ: the next adapter redelivers them with DUP", async () => {
    const clientId = uniqueName("kept");
    const base = uniqueName("kept");
    const first = await startBinary();
    let second: BinaryAdapter | undefined;
    try {
      const subscriber = await mqtt.connectAsync(first.url, { clientId, clean: false, protocolVersion: 4, reconnectPeriod: 0 });
      // MQTT.js sends a QoS 1 PUBACK from handleMessage's callback: never calling it means never acking.
      subscriber.handleMessage = () => {};
      const firstDelivery = new Promise<string>((resolve) => subscriber.once("message", (_t, payload) => resolve(payload.toString())));
      await subscriber.subscribeAsync(`${base}/#`, { qos: 1 });
      for (const n of [1, 2, 3]) {
        const run = await mosquittoPub({ port: first.port, version: "mqttv311", topic: `${base}/n`, message: `m${n}`, qos: 1 });
        expect(run.exitCode, run.stderr).toBe(0);
      }
      expect(await withTimeout(firstDelivery, 5000, "the first delivery")).toBe("m1");
      const stopped = await first.stop("SIGTERM", STOP_WITHIN_MS);
      expect(stopped.exitCode, stopped.output).toBe(0);
      subscriber.end(true);

      second = await startBinary();
      const back = mosquittoSub({ port: second.port, version: "mqttv311", topics: [`${base}/#`], qos: 1, clientId, persistent: true, count: 3 });
      expect((await back.waitForMessages(3)).map((message) => message.payload)).toEqual(["m1", "m2", "m3"]);
      expect(back.publishPackets().map((packet) => packet.dup)).toEqual([true, true, true]);
      expect((await back.waitForExit()).exitCode).toBe(0);
    } finally {
      await first.stop().catch(() => {});
      await second?.stop();
      const amqp = await openAmqp();
      await amqp.channel.deleteQueue(`mqtt-subscription-${clientId}qos1`).finally(() => amqp.close());
    }
  });

  test("SIGTERM with clients connected and QoS 1 publishes in flight exits 0; every PUBACKed message is in RabbitMQ", async () => {
    const adapter = await startBinary();
    const base = uniqueName("term");
    const amqp = await openAmqp();
    try {
      const { queue } = await amqp.channel.assertQueue(uniqueName("term-q"), { exclusive: true });
      await amqp.channel.bindQueue(queue, "amq.topic", `${base}.n`);

      // A bystander with a subscription: it must be disconnected, not hang the shutdown.
      const bystander = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("by"), protocolVersion: 4, reconnectPeriod: 0 });
      await bystander.subscribeAsync(`${base}/other`, { qos: 1 });
      const bystanderClosed = new Promise<void>((resolve) => bystander.once("close", () => resolve()));

      const publisher = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("pub"), protocolVersion: 4, reconnectPeriod: 0 });
      const publisherClosed = new Promise<void>((resolve) => publisher.once("close", () => resolve()));
      const total = 400;
      const acked = new Set<number>();
      let inFlightAtSignal = -1;
      let stopping: ReturnType<typeof adapter.stop> | undefined;
      for (let i = 0; i < total; i++) {
        publisher.publish(`${base}/n`, String(i), { qos: 1 }, (error) => {
          if (error !== undefined && error !== null) return;
          acked.add(i);
          // SIGTERM at the first PUBACK: the rest are written or queued, unconfirmed.
          if (stopping === undefined) {
            inFlightAtSignal = total - acked.size;
            stopping = adapter.stop("SIGTERM", STOP_WITHIN_MS);
          }
        });
      }
      await withTimeout(publisherClosed, 15_000, "the publisher's connection to close after SIGTERM");
      await withTimeout(bystanderClosed, 15_000, "the bystander's connection to close after SIGTERM");
      const stopped = await stopping!;
      expect(stopped.exitCode, stopped.output).toBe(0);
      expect(stopped.output).toContain("SIGTERM received: stopping");
      expect(inFlightAtSignal).toBeGreaterThan(0);
      publisher.end(true);
      bystander.end(true);

      const inQueue = new Set((await collectQueue(amqp.channel, queue)).map((message) => Number(message.content.toString())));
      const lost = [...acked].filter((i) => !inQueue.has(i));
      expect(lost, `PUBACKed but not in RabbitMQ (of ${acked.size} acked, ${inQueue.size} queued)`).toEqual([]);
    } finally {
      await amqp.close();
      await adapter.stop().catch(() => {});
    }
  });
});
