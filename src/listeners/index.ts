/**
 * The transports: each turns sockets of one kind into protocol `Transport`s and hands them to
 * `accept` (a Connection per client in server.ts); none holds any MQTT logic.
 *
 *   const listeners = startListeners(config, log, (transport) => connectionHandlerFor(transport));
 *   for (const l of listeners) l.stop();
 */
/** Starts every listener the config asks for (TCP, TLS, WebSocket, secure WebSocket). */
export { startListeners, type AcceptTransport } from "./start.ts";
/** What a listener drives per socket, and what a started listener offers. */
export type { ConnectionHandler, RunningListener } from "./tcp.ts";
/** The single listeners, for tests and tools that want one kind. */
export { listenTcp, formatListenAddress } from "./tcp.ts";
export { listenTls, TlsSocketTransport, type TlsListenerOptions } from "./tls.ts";
export { listenWebSocket, chooseSubprotocol, type WebSocketListenerOptions } from "./websocket.ts";
/** RabbitMQ's ssl_options.* as Bun TLS options (also for web_mqtt.ssl.*). */
export { mapTlsOptions } from "./tls-options.ts";
