/**
 * What a Connection is configured with: plain values, so protocol/ never reads the config module.
 * server.ts maps AdapterConfig (the `mqtt.*` keys) into this once.
 */
export interface ConnectionOptions {
  /** `mqtt.allow_anonymous`: a CONNECT without credentials logs in as defaultUser. */
  allowAnonymous: boolean;
  /** `mqtt.default_user` (may be `vhost:user`, split like a client's user name). */
  defaultUser: string;
  /** `mqtt.default_pass`. */
  defaultPass: string;
  /** `mqtt.vhost`: the vhost of user names without a `vhost:` prefix. */
  vhost: string;
  /** `mqtt.login_timeout`: time from the socket opening to an accepted CONNECT, ms. */
  loginTimeoutMs: number;
  /** Largest packet accepted once connected, fixed header included, bytes. */
  maxPacketSizeBytes: number;
  /** Largest packet accepted before CONNECT is accepted (unauthenticated clients), bytes. */
  maxPacketSizeBeforeConnectBytes: number;
  /**
   * Client PUBLISHes handed to the broker and not yet confirmed (so not yet PUBACKed); at this
   * many the connection stops reading the client until one is answered. E.g. 64.
   */
  maxInflightPublishesPerClient: number;
  /** Unused for now: MQTT 3.1.1 resends only on reconnect, which the broker's redelivery covers. */
  retryIntervalMs?: number;
}
