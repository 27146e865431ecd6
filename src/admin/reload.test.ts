import { describe, expect, test } from "bun:test";
import { buildDefaults, SCHEMA, type AdapterConfig } from "../config/index.ts";
import type { ConnectionOptions } from "../protocol/index.ts";
import { applyToConnectionOptions, describeReload, planReload, RELOADABLE_KEYS } from "./reload.ts";

const base = (): AdapterConfig => ({ ...buildDefaults(), configFile: "/etc/rabbitmq/rabbitmq_mqtt.conf" });

describe("SIGHUP reload plan", () => {
  test("every reloadable key is a schema key whose field is the one the plan copies", () => {
    for (const { key, field } of RELOADABLE_KEYS) {
      expect(SCHEMA.find((spec) => spec.key === key)?.field).toBe(field);
    }
  });

  test.each<[string, Partial<AdapterConfig>, string[], string[]]>([
    ["nothing changed", {}, [], []],
    ["the log level", { logLevel: "debug" }, ["adapter.log_level info → debug"], []],
    ["anonymous login and the default vhost", { allowAnonymous: false, vhost: "iot" }, ["mqtt.allow_anonymous true → false", "mqtt.vhost / → iot"], []],
    ["the default password is applied but never shown", { defaultPass: "s3cret" }, ["mqtt.default_pass ******** → ********"], []],
    ["listeners need a restart", { tcpListeners: [{ host: "::", port: 11883 }] }, [], ["mqtt.listeners.tcp.default"]],
    ["the AMQP URL and prefetch need a restart", { amqpUrl: "amqp://other:5672", prefetch: 50 }, [], ["mqtt.prefetch", "adapter.amqp_url"]],
    ["a mix", { logLevel: "warning", exchange: "mqtt.ex", metrics: { ip: "127.0.0.1", port: 15692 } }, ["adapter.log_level info → warning"], ["mqtt.exchange", "adapter.metrics.port"]],
  ])("%s", (_name, change, applied, restart) => {
    const current = base();
    const plan = planReload(current, { ...current, ...change });
    expect(plan.applied.map((c) => `${c.key} ${c.from} → ${c.to}`)).toEqual(applied);
    expect(plan.needRestart.sort()).toEqual(restart.sort());
  });

  test("inForce takes the reloadable values and keeps the running ones of everything else", () => {
    const current = base();
    const plan = planReload(current, { ...current, allowAnonymous: false, logLevel: "debug", prefetch: 99, amqpUrl: "amqp://elsewhere" });
    expect(plan.inForce.allowAnonymous).toBe(false);
    expect(plan.inForce.logLevel).toBe("debug");
    expect(plan.inForce.prefetch).toBe(current.prefetch);
    expect(plan.inForce.amqpUrl).toBe(current.amqpUrl);
    // Reloading the same file again reports the restart keys again (they are still not in force), nothing applied.
    const again = planReload(plan.inForce, { ...current, allowAnonymous: false, logLevel: "debug", prefetch: 99, amqpUrl: "amqp://elsewhere" });
    expect(again.applied).toEqual([]);
    expect(again.needRestart.sort()).toEqual(["adapter.amqp_url", "mqtt.prefetch"]);
  });

  test.each<[string, Partial<AdapterConfig>, string]>([
    ["nothing", {}, "configuration reloaded from F: nothing changed"],
    ["level", { logLevel: "debug" }, "configuration reloaded from F: applied: adapter.log_level info → debug"],
    [
      "new connections and restart",
      { allowAnonymous: false, amqpUrl: "amqp://x:1" },
      "configuration reloaded from F: applied to new connections (connected clients keep theirs): mqtt.allow_anonymous true → false; " +
        "NOT applied, these need a restart (systemctl restart rabbitmq-mqtt): adapter.amqp_url",
    ],
  ])("the log line: %s", (_name, change, line) => {
    const current = base();
    expect(describeReload(planReload(current, { ...current, ...change }), "F")).toBe(line);
  });

  test("applyToConnectionOptions sets exactly the reloadable fields of the shared options", () => {
    const options: ConnectionOptions = {
      allowAnonymous: true, defaultUser: "guest", defaultPass: "guest", vhost: "/", loginTimeoutMs: 10_000,
      maxPacketSizeBytes: 1000, maxPacketSizeBeforeConnectBytes: 100, maxInflightPublishesPerClient: 64, maxInflightRetained: 10,
    };
    applyToConnectionOptions(options, {
      ...base(), allowAnonymous: false, defaultUser: "dev", defaultPass: "pw", vhost: "iot", loginTimeoutMs: 5000,
      maxPacketSizeBytes: 2000, maxPacketSizeBeforeConnectBytes: 200, prefetch: 3,
    });
    expect(options).toEqual({
      allowAnonymous: false, defaultUser: "dev", defaultPass: "pw", vhost: "iot", loginTimeoutMs: 5000,
      maxPacketSizeBytes: 2000, maxPacketSizeBeforeConnectBytes: 200, maxInflightPublishesPerClient: 64, maxInflightRetained: 10,
    });
  });
});
