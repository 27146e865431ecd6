/**
 * MQTT over WebSocket (`web_mqtt.tcp.*`, and over TLS `web_mqtt.ssl.*`), on `Bun.serve`, serving
 * the same protocol `Connection` as the TCP listener through a WebSocketTransport.
 *
 * The HTTP side, checked before the upgrade (each refusal is one log line and an HTTP status):
 * - path other than `web_mqtt.ws_path` → 404; a plain HTTP request on the path → 426;
 * - `Sec-WebSocket-Protocol` must offer `mqtt` [MQTT-6.0.0-3], which is echoed [MQTT-6.0.0-4];
 *   `mqttv3.1` (what MQTT.js and Paho offer for MQTT 3.1) is also accepted and echoed. Missing
 *   or anything else → 400. (RabbitMQ 3.10's plugin echoed whatever was offered and accepted no
 *   subprotocol at all; 3.12+ requires `mqtt`, as we do, but we keep 3.1 clients working.)
 * - at `web_mqtt.max_connections` → 503.
 *
 * The WebSocket side: binary messages are fed to the Connection as a byte stream, so one message
 * may carry several packets or part of one [MQTT-6.0.0-2]; a text message closes the connection
 * with 1003 [MQTT-6.0.0-1] (the 3.10 plugin ignored them); a message over
 * `web_mqtt.ws_opts.max_frame_size` is closed with 1009 by Bun. Log line on start:
 * `started MQTT WebSocket Listener on [::]:15675` (RabbitMQ's plugin says "rabbit_web_mqtt:
 * listening for HTTP connections on …"; we keep one shape for all listeners).
 */
import type { Server, ServerWebSocket } from "bun";
import type { TlsOptions } from "../config/index.ts";
import { ReasonCode } from "../codec/index.ts";
import type { Logger } from "../log.ts";
import { ProtocolError } from "../protocol/index.ts";
import { formatListenAddress, type ConnectionHandler, type RunningListener } from "./tcp.ts";
import { mapTlsOptions } from "./tls-options.ts";
import { WebSocketTransport, WsCloseCode } from "./websocket-transport.ts";

export interface WebSocketListenerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** `web_mqtt.ws_path`, e.g. "/ws". */
  path: string;
  accept: (transport: WebSocketTransport) => ConnectionHandler;
  log: Logger;
  /** `web_mqtt.ssl.*` for the TLS listener; undefined = plain WebSocket. */
  tls?: TlsOptions;
  /** Largest WebSocket message, bytes (`web_mqtt.ws_opts.max_frame_size`). */
  maxMessageBytes: number;
  /** `web_mqtt.ws_opts.idle_timeout` in ms; null = none (MQTT keepalive covers idle clients). */
  idleTimeoutMs: number | null;
  /** `web_mqtt.ws_opts.compress` (permessage-deflate). */
  compress: boolean;
  /** `web_mqtt.max_connections`; null = unlimited. */
  maxConnections: number | null;
}

interface SocketData {
  peer: string;
  transport?: WebSocketTransport;
  handler?: ConnectionHandler;
  /** Why the listener closed it (Bun may report the close from inside ws.close()). */
  closeError?: ProtocolError;
}

/** The subprotocol to answer with, or undefined when the offer has neither `mqtt` nor `mqttv3.1`. */
export function chooseSubprotocol(header: string | null): string | undefined {
  if (header === null) return undefined;
  const offered = header.split(",").map((p) => p.trim());
  if (offered.includes("mqtt")) return "mqtt";
  if (offered.includes("mqttv3.1")) return "mqttv3.1";
  return undefined;
}

function peerOf(server: Server<SocketData>, request: Request): string {
  const ip = server.requestIP(request);
  if (ip === null) return "unknown";
  const address = ip.address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
  return `${address.includes(":") ? `[${address}]` : address}:${ip.port}`;
}

/**
 * Binds the listener and logs `started MQTT WebSocket Listener on [::]:15675` (or `… WebSocket
 * SSL Listener …`). Throws (a startup error) when the bind fails or TLS files are unusable.
 */
export function listenWebSocket(options: WebSocketListenerOptions): RunningListener {
  const { accept, log, path } = options;
  const kind = options.tls === undefined ? "WebSocket" : "WebSocket SSL";
  let tls: ReturnType<typeof mapTlsOptions> | undefined;
  if (options.tls !== undefined) {
    tls = mapTlsOptions(options.tls, "web_mqtt.ssl");
    for (const warning of tls.warnings) log.warning(warning);
  }
  const idleTimeoutSeconds = options.idleTimeoutMs === null ? 0 : Math.min(960, Math.max(1, Math.ceil(options.idleTimeoutMs / 1000)));
  let open = 0;

  const refuse = (peer: string, status: number, why: string): Response => {
    log.info(`${kind} request from ${peer} refused (HTTP ${status}): ${why}`);
    return new Response(`${why}\n`, { status, headers: { connection: "close" } });
  };

  let server: Server<SocketData>;
  try {
    server = Bun.serve<SocketData>({
      hostname: options.host,
      port: options.port,
      ...(tls === undefined ? {} : { tls: tls.options }),
      fetch(request, server) {
        const peer = peerOf(server, request);
        const url = new URL(request.url);
        if (url.pathname !== path) {
          return refuse(peer, 404, `${request.method} ${url.pathname}: MQTT over WebSocket is served at ${path} (web_mqtt.ws_path)`);
        }
        if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
          return refuse(peer, 426, `${request.method} ${path} without a WebSocket upgrade: use an MQTT-over-WebSocket client (ws:// or wss://)`);
        }
        const offered = request.headers.get("sec-websocket-protocol");
        const subprotocol = chooseSubprotocol(offered);
        if (subprotocol === undefined) {
          return refuse(
            peer,
            400,
            offered === null
              ? 'the client offered no WebSocket subprotocol; MQTT over WebSocket needs "mqtt" [MQTT-6.0.0-3]'
              : `the client offered WebSocket subprotocol(s) "${offered.slice(0, 100)}", expected "mqtt" [MQTT-6.0.0-3]`,
          );
        }
        if (options.maxConnections !== null && open >= options.maxConnections) {
          return refuse(peer, 503, `${open} WebSocket connections are open, the limit (web_mqtt.max_connections)`);
        }
        if (server.upgrade(request, { headers: { "Sec-WebSocket-Protocol": subprotocol }, data: { peer } })) return undefined;
        return refuse(peer, 400, "the WebSocket upgrade failed (malformed handshake)");
      },
      websocket: {
        maxPayloadLength: options.maxMessageBytes,
        // Our own high-water mark bounds buffering; Bun's limit would drop bytes mid-stream.
        backpressureLimit: 0,
        idleTimeout: idleTimeoutSeconds,
        perMessageDeflate: options.compress,
        open(ws) {
          open++;
          const transport = new WebSocketTransport(ws as ServerWebSocket<unknown>, ws.data.peer, server.port ?? options.port);
          const handler = accept(transport);
          transport.events = handler;
          ws.data.transport = transport;
          ws.data.handler = handler;
        },
        message(ws, message) {
          const { handler, transport } = ws.data;
          if (handler === undefined || transport === undefined) return;
          if (typeof message === "string") {
            // The close handler hands this to the connection, which logs it once.
            ws.data.closeError = new ProtocolError(
              ReasonCode.ProtocolError,
              `received a text WebSocket message (${Buffer.byteLength(message)} bytes); MQTT packets must be sent in binary messages [MQTT-6.0.0-1]`,
            );
            transport.close(WsCloseCode.UnsupportedData, "MQTT needs binary frames");
            return;
          }
          handler.onData(message);
        },
        drain(ws) {
          ws.data.transport?.handleDrain();
        },
        close(ws, code, reason) {
          const { transport, handler } = ws.data;
          if (transport === undefined || handler === undefined) return;
          open--;
          ws.data.transport = undefined;
          ws.data.handler = undefined;
          transport.handleClosed();
          if (ws.data.closeError !== undefined) {
            handler.onClose(ws.data.closeError);
            return;
          }
          if (code === WsCloseCode.MessageTooBig || /too big/i.test(reason)) {
            // Bun refused the message itself (and sent 1009 to the client).
            handler.onClose(
              new ProtocolError(
                ReasonCode.PacketTooLarge,
                `received a WebSocket message larger than ${options.maxMessageBytes} bytes (web_mqtt.ws_opts.max_frame_size); closed with code 1009`,
              ),
            );
            return;
          }
          // 1000 normal, 1005 no code, 1001 going away (a browser tab closed): the client just left.
          const clean = code === WsCloseCode.Normal || code === 1005 || code === 1001;
          handler.onClose(clean ? undefined : new Error(`WebSocket closed with code ${code}${reason ? ` (${reason})` : ""}`));
        },
      },
      error(error) {
        log.error(`${kind} listener: ${error.message}`);
        return new Response("internal error\n", { status: 500 });
      },
    });
  } catch (error) {
    throw new Error(`cannot start the MQTT ${kind} listener on ${formatListenAddress(options.host, options.port)}: ${(error as Error).message}`);
  }
  const port = server.port ?? options.port;
  log.info(`started MQTT ${kind} Listener on ${formatListenAddress(options.host, port)}`);
  return {
    port,
    host: options.host,
    protocol: options.tls === undefined ? "http/web-mqtt" : "https/web-mqtt",
    stop: () => void server.stop(false),
  };
}
