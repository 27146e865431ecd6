/**
 * The HTTP endpoint Prometheus scrapes: `GET /metrics` on `adapter.metrics.ip`:`adapter.metrics.port`
 * (off unless the port is set; 127.0.0.1 unless the ip is set, so nothing is exposed beyond the
 * host by accident). Rendering happens per scrape; nothing is cached between scrapes.
 */
import type { Server } from "bun";
import type { Logger } from "../log.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus-text.ts";

export interface MetricsEndpointOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** The scrape body, made fresh for each request. */
  render: () => string;
  log: Logger;
}

export interface RunningMetricsEndpoint {
  /** The port actually bound. */
  readonly port: number;
  /** `http://127.0.0.1:15692/metrics`, for logs and `status`. */
  readonly url: string;
  stop(): void;
}

/** Binds the endpoint and logs its URL. Throws (a startup error) when the address cannot be bound. */
export function startMetricsEndpoint(options: MetricsEndpointOptions): RunningMetricsEndpoint {
  const { render, log } = options;
  let server: Server<undefined>;
  try {
    server = Bun.serve({
      hostname: options.host,
      port: options.port,
      // Scrapes are small and local; a slow or stuck client must not hold a socket forever.
      idleTimeout: 30,
      fetch(request) {
        const { pathname } = new URL(request.url);
        if (pathname !== "/metrics") {
          return new Response(`rabbitmq-mqtt: nothing at ${pathname}; metrics are at /metrics\n`, { status: 404 });
        }
        if (request.method !== "GET" && request.method !== "HEAD") {
          return new Response(`rabbitmq-mqtt: ${request.method} is not allowed on /metrics; use GET\n`, { status: 405, headers: { Allow: "GET, HEAD" } });
        }
        try {
          return new Response(render(), { headers: { "Content-Type": PROMETHEUS_CONTENT_TYPE } });
        } catch (error) {
          log.error(`rendering metrics failed (a bug): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
          return new Response("rabbitmq-mqtt: rendering metrics failed; see the adapter's log\n", { status: 500 });
        }
      },
    });
  } catch (error) {
    throw new Error(
      `cannot start the metrics endpoint on ${hostPort(options.host, options.port)} (adapter.metrics.ip / adapter.metrics.port): ${(error as Error).message}`,
    );
  }
  const port = server.port ?? options.port;
  const url = `http://${hostPort(options.host, port)}/metrics`;
  log.info(`started Prometheus metrics endpoint on ${url}`);
  return {
    port,
    url,
    stop() {
      void server.stop(true);
    },
  };
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
