import { describe, expect, test } from "bun:test";
import type { ConnectionInfo } from "../protocol/index.ts";
import { VERSION } from "../version.ts";
import { buildStatus, countConnectionsByProtocol, listConnectionRows, redactUrl, type ServerState } from "./snapshot.ts";

const conn = (info: Partial<ConnectionInfo> & { connectedAtMs: number }): { info: ConnectionInfo } => ({ info: { peer: "127.0.0.1:1", ...info } });

const CONNECTIONS = [
  conn({ connectedAtMs: Date.UTC(2026, 0, 1, 0, 0, 2), clientId: "b", username: "guest", vhost: "/", protocolVersion: 5, peer: "[::1]:2" }),
  conn({ connectedAtMs: Date.UTC(2026, 0, 1, 0, 0, 1), clientId: "a", username: "dev", vhost: "iot", protocolVersion: 4, peer: "10.0.0.1:1" }),
  conn({ connectedAtMs: Date.UTC(2026, 0, 1, 0, 0, 3), protocolVersion: 3 }),
  conn({ connectedAtMs: Date.UTC(2026, 0, 1, 0, 0, 4) }),
];

describe("reports made from the server state", () => {
  test("connections by protocol label, every label present", () => {
    expect(countConnectionsByProtocol(CONNECTIONS)).toEqual({ mqtt310: 1, mqtt311: 1, mqtt50: 1, pending: 1 });
    expect(countConnectionsByProtocol([])).toEqual({ mqtt310: 0, mqtt311: 0, mqtt50: 0, pending: 0 });
  });

  test("list_connections rows: oldest first, protocol names, ISO times, empty fields before CONNECT", () => {
    expect(listConnectionRows(CONNECTIONS)).toEqual([
      { client_id: "a", user: "dev", vhost: "iot", protocol: "MQTT 3.1.1", peer: "10.0.0.1:1", connected_at: "2026-01-01T00:00:01.000Z" },
      { client_id: "b", user: "guest", vhost: "/", protocol: "MQTT 5.0", peer: "[::1]:2", connected_at: "2026-01-01T00:00:02.000Z" },
      { client_id: "", user: "", vhost: "", protocol: "MQTT 3.1", peer: "127.0.0.1:1", connected_at: "2026-01-01T00:00:03.000Z" },
      { client_id: "", user: "", vhost: "", protocol: "", peer: "127.0.0.1:1", connected_at: "2026-01-01T00:00:04.000Z" },
    ]);
  });

  test("status: process, versions, uptime, listeners, connection counts, AMQP pools with the password masked", () => {
    const state: ServerState = {
      startedAtMs: 1_000_000,
      configFile: "/etc/x.conf",
      logLevel: () => "debug",
      amqpUrl: "amqp://bob:secret@rabbit:5672/",
      listeners: () => [{ protocol: "mqtt", interface: "::", port: 1883 }],
      connections: CONNECTIONS,
      backendStats: () => ({
        serverProduct: "RabbitMQ",
        serverVersion: "3.10.8",
        connections: [
          { name: "n1", vhost: "/", username: "guest", channels: 2, sessions: 5, publishBlocked: false },
          { name: "n2", vhost: "iot", username: "dev", channels: 1, sessions: 1, publishBlocked: true },
        ],
      }),
    };
    expect(buildStatus(state, 1_000_000 + 90_500)).toEqual({
      pid: process.pid,
      version: VERSION,
      bun_version: Bun.version,
      started_at: new Date(1_000_000).toISOString(),
      uptime_seconds: 90,
      config_file: "/etc/x.conf",
      log_level: "debug",
      listeners: [{ protocol: "mqtt", interface: "::", port: 1883 }],
      mqtt_connections: { total: 4, by_protocol: { mqtt310: 1, mqtt311: 1, mqtt50: 1, pending: 1 } },
      amqp: {
        url: "amqp://bob:********@rabbit:5672/",
        server_product: "RabbitMQ",
        server_version: "3.10.8",
        channels: 3,
        connections: [
          { name: "n1", vhost: "/", user: "guest", channels: 2, sessions: 5, publish_blocked: false },
          { name: "n2", vhost: "iot", user: "dev", channels: 1, sessions: 1, publish_blocked: true },
        ],
      },
    });
  });

  test("a backend without stats: no AMQP connections and no version", () => {
    const status = buildStatus({
      startedAtMs: 0, configFile: null, logLevel: () => "info", amqpUrl: "amqp://localhost", listeners: () => [], connections: [], backendStats: () => undefined,
    });
    expect(status.amqp).toEqual({ url: "amqp://localhost", server_product: null, server_version: null, channels: 0, connections: [] });
  });

  test.each<[string, string]>([
    ["amqp://guest:guest@localhost:5672", "amqp://guest:********@localhost:5672"],
    ["amqps://rabbit.example:5671/prod", "amqps://rabbit.example:5671/prod"],
    ["not a url", "(unparseable URL)"],
  ])("redactUrl(%p) = %p", (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });
});
