/**
 * The MQTT TLS listener (`mqtt.listeners.ssl.*`, configured by `ssl_options.*`): Bun's native TLS
 * sockets, the same `SocketTransport` and the same protocol `Connection` as the plain listener.
 * What is TLS-specific happens before a Connection exists:
 *
 *   open ──▶ handshaking ──handshake ok──▶ Connection (transport knows the verified certificate)
 *                 │       └─refused──────▶ one log line naming the mistake, socket closed
 *                 └─no handshake within handshakeTimeoutMs──▶ one log line, socket closed
 *
 * With `mqtt.ssl_cert_login`, a verified client certificate's name (ssl_cert_login_from) is put
 * on the transport; a CONNECT without user name and password then logs in as that user.
 */
import type { Socket, TCPSocketListener } from "bun";
import { certificateUserName, type CertNameOptions } from "../auth/index.ts";
import type { TlsOptions } from "../config/index.ts";
import type { Logger } from "../log.ts";
import type { CertificateIdentity } from "../protocol/index.ts";
import { SocketTransport } from "./socket-transport.ts";
import { formatListenAddress, type ConnectionHandler, type RunningListener } from "./tcp.ts";
import { judgeHandshake, oneLineName } from "./tls-handshake.ts";
import { mapTlsOptions } from "./tls-options.ts";

/** A TLS socket's transport: a SocketTransport that also carries the client's certificate identity. */
export class TlsSocketTransport extends SocketTransport {
  /** Set when certificate login is on and the client's certificate verified and names a user. */
  certificateIdentity: CertificateIdentity | undefined;
}

export interface TlsListenerOptions {
  /** "::" = every address (dual stack). */
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  accept: (transport: TlsSocketTransport) => ConnectionHandler;
  log: Logger;
  /** `ssl_options.*` */
  tls: TlsOptions;
  /** `mqtt.ssl_cert_login` on: how to name the user of a verified client certificate; null = off. */
  certLogin: CertNameOptions | null;
  /** A client that has not finished the TLS handshake after this long is dropped (mqtt.login_timeout). */
  handshakeTimeoutMs: number;
  /** `mqtt.tcp_listen_options.nodelay`; the plugin defaults to true. */
  noDelay?: boolean;
}

interface SocketState {
  /** "1.2.3.4:5678", before a transport exists. */
  peer: string;
  transport?: TlsSocketTransport;
  handler?: ConnectionHandler;
}

function peerOf(socket: Socket<unknown>): string {
  const address = socket.remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
  return `${address.includes(":") ? `[${address}]` : address}:${socket.remotePort}`;
}

/**
 * Binds the listener and logs `started MQTT SSL Listener on [::]:8883`. Throws (a startup error)
 * when the bind fails or the certificate, key or CA files are unusable.
 */
export function listenTls(options: TlsListenerOptions): RunningListener {
  const { accept, log, certLogin } = options;
  const { options: tlsOptions, warnings } = mapTlsOptions(options.tls, "ssl_options");
  for (const warning of warnings) log.warning(warning);
  const verifyPeer = options.tls.verify === "verify_peer";
  const noDelay = options.noDelay ?? true;
  const handshakeTimeoutSeconds = Math.max(1, Math.ceil(options.handshakeTimeoutMs / 1000));

  const identityOf = (peer: string, der: Uint8Array, subject: string): CertificateIdentity | undefined => {
    if (certLogin === null) return undefined;
    const username = certificateUserName(der, certLogin);
    if (typeof username === "string") return { username, certificateDer: der };
    // As the plugin: no name means no certificate login; the usual credential rules apply.
    log.info(`TLS connection from ${peer}: certificate "${subject}" cannot be used to log in: ${username.message}`);
    return undefined;
  };

  let server: TCPSocketListener<SocketState | undefined>;
  try {
    server = Bun.listen<SocketState | undefined>({
      hostname: options.host,
      port: options.port,
      data: undefined,
      tls: tlsOptions,
      socket: {
        binaryType: "uint8array",
        open(socket) {
          socket.data = { peer: peerOf(socket as Socket<unknown>) };
          socket.timeout(handshakeTimeoutSeconds);
        },
        handshake(socket, success, authorizationError) {
          const state = socket.data;
          if (state === undefined || state.transport !== undefined) return;
          const peerCertificate = verifyPeer ? socket.getPeerX509Certificate?.() : undefined;
          const verdict = judgeHandshake({
            success,
            error: authorizationError,
            peerCertificate: peerCertificate ?? undefined,
            verifyPeer,
            failIfNoPeerCert: options.tls.failIfNoPeerCert,
            prefix: "ssl_options",
          });
          if (!verdict.ok) {
            log[verdict.level](`TLS connection from ${state.peer} refused: ${verdict.reason}`);
            socket.data = undefined;
            socket.terminate();
            return;
          }
          socket.timeout(0);
          if (noDelay) socket.setNoDelay(true);
          const transport = new TlsSocketTransport(socket as Socket<unknown>);
          if (verdict.certificate !== undefined) {
            transport.certificateIdentity = identityOf(
              state.peer,
              new Uint8Array(verdict.certificate.raw),
              oneLineName(verdict.certificate.subject),
            );
          }
          const handler = accept(transport);
          transport.events = handler;
          state.transport = transport;
          state.handler = handler;
        },
        data(socket, chunk) {
          socket.data?.handler?.onData(chunk);
        },
        drain(socket) {
          socket.data?.transport?.handleDrain();
        },
        timeout(socket) {
          const state = socket.data;
          if (state === undefined || state.transport !== undefined) return;
          log.info(`TLS connection from ${state.peer} refused: no TLS handshake within ${handshakeTimeoutSeconds} s`);
          socket.data = undefined;
          socket.terminate();
        },
        close(socket, error) {
          const state = socket.data;
          if (state === undefined) return;
          socket.data = undefined;
          if (state.transport === undefined || state.handler === undefined) return;
          state.transport.handleClosed();
          state.handler.onClose(error);
        },
        error(socket, error) {
          log.debug(`TLS socket error from ${socket.data?.peer ?? socket.remoteAddress}: ${error.message}`);
        },
      },
    });
  } catch (error) {
    throw new Error(`cannot start the MQTT SSL listener on ${formatListenAddress(options.host, options.port)}: ${(error as Error).message}`);
  }
  log.info(`started MQTT SSL Listener on ${formatListenAddress(options.host, server.port)}`);
  return {
    port: server.port,
    host: options.host,
    protocol: "mqtt/ssl",
    stop: () => server.stop(false),
  };
}
