/**
 * A TLS client certificate that the listener verified against its CA, offered for
 * `mqtt.ssl_cert_login`: a CONNECT without user name and password logs in as this user.
 */
export interface CertificateIdentity {
  /** The RabbitMQ user name the certificate stands for (ssl_cert_login_from: DN, CN or SAN). */
  username: string;
  /** The certificate (DER). The backend logs in with it instead of a password (AMQP: EXTERNAL). */
  certificateDer: Uint8Array;
}

/**
 * What a listener gives a Connection: a byte sink with flow control. TCP, TLS and WebSocket
 * listeners each adapt their socket to this, so the protocol never sees a socket.
 */
export interface Transport {
  /**
   * Queues bytes for sending. The transport copies what it keeps before returning (the bytes may
   * be a view into a reused encoder buffer) and batches per event-loop turn. Returns false when
   * its buffer is over the high-water mark: stop producing (e.g. stop settling QoS 0 deliveries)
   * until the connection's onDrain().
   */
  write(bytes: Uint8Array): boolean;
  /** Bytes written and not yet taken by the socket (the shared QoS 0 fan-out drops above a limit). */
  readonly bufferedBytes: number;
  /** Flushes what is queued, then closes. The listener calls the connection's onClose() when closed. */
  close(): void;
  /** Stops delivering received bytes (onData) until resumeReading(). */
  pauseReading(): void;
  resumeReading(): void;
  /** "1.2.3.4:5678" / "[::1]:5678", for logs. */
  readonly remoteAddress: string;
  /** The local port the client connected to (for port-to-vhost mapping). */
  readonly localPort: number;
  /** Set by the TLS listener when mqtt.ssl_cert_login is on and the client's certificate verified. */
  readonly certificateIdentity?: CertificateIdentity;
}
