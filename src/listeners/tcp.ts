/**
 * The plain MQTT TCP listener (`mqtt.listeners.tcp.*`). It only turns sockets into
 * `SocketTransport`s and forwards socket events to whatever `accept` returns: the protocol
 * lives elsewhere, so TLS and WebSocket listeners serve the same `Connection`.
 */
import type { Socket, TCPSocketListener } from "bun";
import type { Logger } from "../log.ts";
import type { ProtocolError } from "../protocol/index.ts";
import { SocketTransport } from "./socket-transport.ts";

/** What a listener drives for each accepted socket (a protocol `Connection` in production). */
export interface ConnectionHandler {
  onData(chunk: Uint8Array): void;
  onDrain(): void;
  /** A ProtocolError when the listener closed it for breaking the transport's rules (logged by the connection). */
  onClose(error?: Error | ProtocolError): void;
}

export type AcceptConnection = (transport: SocketTransport) => ConnectionHandler;

export interface TcpListenerOptions {
  /** "::" listens on every IPv6 and IPv4 address (dual stack), like the plugin's default. */
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  accept: AcceptConnection;
  log: Logger;
  /** `mqtt.tcp_listen_options.nodelay`; the plugin defaults to true. */
  noDelay?: boolean;
  /** Name used in the log line: "TCP" (and "SSL" for the TLS listener). */
  kind?: string;
}

export interface RunningListener {
  /** The port actually bound (differs from the option when it was 0). */
  readonly port: number;
  readonly host: string;
  /** RabbitMQ's name for what it serves, as `rabbitmqctl status` lists listeners: mqtt, mqtt/ssl, http/web-mqtt, https/web-mqtt. */
  readonly protocol: string;
  /** Stops accepting; open connections are left to their owners. */
  stop(): void;
}

interface SocketState {
  transport: SocketTransport;
  handler: ConnectionHandler;
}

/** `[::]:1883` / `127.0.0.1:1883`, as RabbitMQ prints listener addresses. */
export function formatListenAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Binds the listener and logs `started MQTT TCP Listener on [::]:1883`. Throws if the bind fails. */
export function listenTcp(options: TcpListenerOptions): RunningListener {
  const { accept, log } = options;
  const noDelay = options.noDelay ?? true;
  const server: TCPSocketListener<SocketState | undefined> = Bun.listen<SocketState | undefined>({
    hostname: options.host,
    port: options.port,
    data: undefined,
    socket: {
      binaryType: "uint8array",
      open(socket) {
        if (noDelay) socket.setNoDelay(true);
        const transport = new SocketTransport(socket as Socket<unknown>);
        const handler = accept(transport);
        transport.events = handler;
        socket.data = { transport, handler };
      },
      data(socket, chunk) {
        socket.data?.handler.onData(chunk);
      },
      drain(socket) {
        socket.data?.transport.handleDrain();
      },
      close(socket, error) {
        const state = socket.data;
        if (state === undefined) return;
        socket.data = undefined;
        state.transport.handleClosed();
        state.handler.onClose(error);
      },
      error(socket, error) {
        log.debug(`socket error from ${socket.remoteAddress}: ${error.message}`);
      },
    },
  });
  const kind = options.kind ?? "TCP";
  log.info(`started MQTT ${kind} Listener on ${formatListenAddress(options.host, server.port)}`);
  return {
    port: server.port,
    host: options.host,
    protocol: "mqtt",
    stop: () => server.stop(false),
  };
}
