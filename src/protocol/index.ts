/**
 * The MQTT protocol state machine: one `Connection` per client socket. No sockets and no AMQP
 * here: a listener hands each connection a `Transport`, the server hands it a `Backend`.
 *
 *   const registry = new ClientRegistry();            // one per process
 *   const sessionStore = new MemorySessionStore();    // one per process (src/session)
 *   listener accept(transport) =>
 *     new Connection(transport, { backend, registry, sessionStore, options, log, connectionId })
 *   every second: for (const c of connections) c.checkTimeouts(Date.now())
 *   SIGTERM: await Promise.all(connections.map((c) => c.shutdown()))
 */
/** One client's state machine: feed it bytes, it writes bytes and drives its backend session. */
export { Connection } from "./connection.ts";
export type { ConnectionDeps, ConnectionInfo } from "./options.ts";
/** Plain options a Connection takes (server.ts maps the mqtt.* config into it). */
export type { ConnectionOptions } from "./options.ts";
/** What a listener must give a Connection (and the verified client certificate it may carry). */
export type { Transport, CertificateIdentity } from "./transport.ts";
/** Client ids per vhost in this process, for takeover [MQTT-3.1.4-2]. */
export { ClientRegistry } from "./registry.ts";
export type { RegisteredClient } from "./registry.ts";
/** Why a connection closes, and the one function that turns it into bytes per protocol version. */
export { ProtocolError, encodeCloseBytes } from "./errors.ts";
/** Topic filter matching with AMQP semantics in MQTT syntax (`+` one level, `#` zero or more, anywhere). */
export { topicMatches } from "./topic-match.ts";
/** `vhost:user` splitting as the native plugin does it (last colon). */
export { splitVhostUsername } from "./connect.ts";
/** Counters a Connection bumps (packets, bytes, messages, PUBACK latency, closes); no-op by default. */
export { NO_METRICS, CloseReason, MAX_CLOSE_REASON } from "./metrics.ts";
export type { ProtocolMetrics } from "./metrics.ts";
