/**
 * Metrics: counters the protocol bumps on its hot path (AdapterMetrics implements protocol's
 * ProtocolMetrics), rendered as Prometheus text on scrape, served by a small HTTP endpoint.
 *
 *   const metrics = new AdapterMetrics();                  // one per process, in ConnectionDeps
 *   startMetricsEndpoint({ host, port, log, render: () => renderMetrics(metrics, gaugesNow()) });
 */

/** The counters (packets, bytes, messages, closes, PUBACK latency), plain numbers. */
export { AdapterMetrics, PUBACK_LATENCY_BOUNDS_MS } from "./adapter-metrics.ts";
/** Fixed-bucket histogram (observe is allocation-free). */
export { Histogram } from "./histogram.ts";
/** Prometheus text format 0.0.4 of the counters plus gauges counted at scrape time. */
export { renderMetrics, METRIC_PREFIX } from "./render.ts";
export type { RuntimeGauges } from "./render.ts";
/** Label values: protocol versions as RabbitMQ names them (`mqtt311`), packet types, close reasons. */
export { protocolLabel, packetTypeLabel, closeReasonLabel, PROTOCOL_LABELS } from "./labels.ts";
/** The text writer, for other exporters. */
export { PrometheusText, PROMETHEUS_CONTENT_TYPE, escapeLabelValue } from "./prometheus-text.ts";
/** `GET /metrics` over HTTP. */
export { startMetricsEndpoint } from "./endpoint.ts";
export type { MetricsEndpointOptions, RunningMetricsEndpoint } from "./endpoint.ts";
