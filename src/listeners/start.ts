/**
 * Starts every listener the config asks for, all feeding the same `accept` (a protocol
 * Connection per client), so server.ts needs one call whatever the transports:
 *
 * | config                                  | listener                         | log line                                  |
 * |-----------------------------------------|----------------------------------|-------------------------------------------|
 * | mqtt.listeners.tcp.*                    | tcp.ts                           | started MQTT TCP Listener on [::]:1883    |
 * | mqtt.listeners.ssl.* + ssl_options.*    | tls.ts                           | started MQTT SSL Listener on [::]:8883    |
 * | web_mqtt.tcp.* (on by default, 15675)   | websocket.ts                     | started MQTT WebSocket Listener on …      |
 * | web_mqtt.ssl.* (off unless a port)      | websocket.ts with web_mqtt.ssl.* | started MQTT WebSocket SSL Listener on …  |
 */
import type { AdapterConfig } from "../config/index.ts";
import type { Logger } from "../log.ts";
import type { Transport } from "../protocol/index.ts";
import { listenTcp, type ConnectionHandler, type RunningListener } from "./tcp.ts";
import { listenTls } from "./tls.ts";
import { listenWebSocket } from "./websocket.ts";

/** What every listener hands its transports to. */
export type AcceptTransport = (transport: Transport) => ConnectionHandler;

/** MQTT's fixed header is at most 5 bytes: a whole largest packet fits one WebSocket message. */
const FIXED_HEADER_MAX_BYTES = 5;

/**
 * Binds every configured listener, in the order of the table above. Throws (a startup error) if
 * one cannot be bound or configured; the ones already bound are stopped first.
 */
export function startListeners(config: AdapterConfig, log: Logger, accept: AcceptTransport): RunningListener[] {
  const listeners: RunningListener[] = [];
  const noDelay = config.tcpListenOptions.nodelay;
  const web = config.webMqtt;
  const webOptions = {
    path: web.wsPath,
    accept,
    log,
    maxMessageBytes: web.wsMaxFrameSizeBytes ?? config.maxPacketSizeBytes + FIXED_HEADER_MAX_BYTES,
    idleTimeoutMs: web.wsIdleTimeoutMs,
    // The plugin turns permessage-deflate on unless ws_opts.compress says otherwise.
    compress: web.wsCompress ?? true,
    maxConnections: web.maxConnections,
  };
  try {
    if (web.proxyProtocol && (web.tcpListener !== null || web.sslListener !== null)) {
      throw new Error("web_mqtt.proxy_protocol = true is not supported yet: let the load balancer pass plain connections (or X-Forwarded-For only)");
    }
    for (const address of config.tcpListeners) {
      listeners.push(listenTcp({ host: address.host, port: address.port, noDelay, log, accept }));
    }
    for (const address of config.sslListeners) {
      listeners.push(
        listenTls({
          host: address.host,
          port: address.port,
          noDelay,
          log,
          accept,
          tls: config.tls,
          certLogin: config.sslCertLogin
            ? { from: config.sslCertLoginFrom, sanType: config.sslCertLoginSanType, sanIndex: config.sslCertLoginSanIndex }
            : null,
          handshakeTimeoutMs: config.loginTimeoutMs,
        }),
      );
    }
    if (web.tcpListener !== null) listeners.push(listenWebSocket({ ...webOptions, host: web.tcpListener.host, port: web.tcpListener.port }));
    if (web.sslListener !== null) {
      listeners.push(listenWebSocket({ ...webOptions, host: web.sslListener.host, port: web.sslListener.port, tls: web.ssl }));
    }
  } catch (error) {
    for (const listener of listeners) listener.stop();
    throw error;
  }
  return listeners;
}
