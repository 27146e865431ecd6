/**
 * The adapter's two windows for operators, started by server.ts next to the MQTT listeners:
 * the metrics endpoint (`adapter.metrics.port`, off by default) and the admin socket
 * (`adapter.admin_socket`, /run/rabbitmq-mqtt/admin.sock by default). Both read the live server
 * state when asked; neither adds work per packet.
 */
import type { AdapterConfig } from "../config/index.ts";
import type { Logger } from "../log.ts";
import { renderMetrics, startMetricsEndpoint, type AdapterMetrics, type RunningMetricsEndpoint } from "../metrics/index.ts";
import { startAdminSocket, type RunningAdminSocket } from "./admin-socket.ts";
import { buildStatus, countConnectionsByProtocol, listConnectionRows, type ServerState } from "./snapshot.ts";

export interface OperatorEndpoints {
  /** Where Prometheus scrapes; undefined when adapter.metrics.port is none. */
  readonly metricsEndpoint: RunningMetricsEndpoint | undefined;
  /** undefined when adapter.admin_socket is none or the socket could not be opened (logged). */
  readonly adminSocket: RunningAdminSocket | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the metrics endpoint (throws, a startup error, when its address cannot be bound) and
 * the admin socket (a warning when it cannot be opened).
 */
export async function startOperatorEndpoints(deps: { config: AdapterConfig; log: Logger; metrics: AdapterMetrics; state: ServerState }): Promise<OperatorEndpoints> {
  const { config, log, metrics, state } = deps;
  const metricsEndpoint =
    config.metrics.port === null
      ? undefined
      : startMetricsEndpoint({
          host: config.metrics.ip,
          port: config.metrics.port,
          log,
          render: () => {
            const stats = state.backendStats();
            return renderMetrics(metrics, {
              connectionsByProtocol: countConnectionsByProtocol(state.connections),
              amqpConnections: stats?.connections.length ?? 0,
              amqpChannels: stats?.connections.reduce((sum, c) => sum + c.channels, 0) ?? 0,
              qos0LocalDeliveries: stats?.qos0LocalDeliveries ?? 0,
              qos0EchoesDropped: stats?.qos0EchoesDropped ?? 0,
              startTimeSeconds: Math.floor(state.startedAtMs / 1000),
              residentMemoryBytes: process.memoryUsage().rss,
            });
          },
        });
  const reported: ServerState = {
    ...state,
    listeners: () => [
      ...state.listeners(),
      ...(metricsEndpoint === undefined ? [] : [{ protocol: "http/prometheus", interface: config.metrics.ip, port: metricsEndpoint.port }]),
    ],
  };
  const adminSocket =
    config.adminSocketPath === null
      ? undefined
      : await startAdminSocket({
          path: config.adminSocketPath,
          log,
          handlers: { status: () => buildStatus(reported), listConnections: () => listConnectionRows(state.connections) },
        });
  return {
    metricsEndpoint,
    adminSocket,
    async stop() {
      metricsEndpoint?.stop();
      await adminSocket?.stop();
    },
  };
}
