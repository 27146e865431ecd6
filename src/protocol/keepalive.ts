/**
 * Keepalive and login timeouts. No timers here: the server runs ONE sweep timer for all
 * connections and calls Connection.checkTimeouts(now), which asks these functions. A timer per
 * connection would cost memory and wakeups per client for no gain (the sweep's ~1 s granularity is
 * well inside what the spec allows).
 */
import { ReasonCode } from "../codec/index.ts";
import { ProtocolError } from "./errors.ts";

/**
 * How long a client may stay silent: one and a half times its Keep Alive [MQTT-3.1.2-24];
 * undefined when Keep Alive is 0 (the mechanism is off).
 */
export function keepaliveLimitMs(keepaliveSeconds: number): number | undefined {
  return keepaliveSeconds === 0 ? undefined : keepaliveSeconds * 1500;
}

/** Tracks when the client last sent a whole control packet. */
export class KeepaliveClock {
  private readonly limitMs: number | undefined;

  constructor(
    /** The CONNECT's Keep Alive, seconds; 0 = off. */
    readonly keepaliveSeconds: number,
    /** When the last whole packet arrived (ms, the connection's clock). */
    public lastPacketAtMs: number,
  ) {
    this.limitMs = keepaliveLimitMs(keepaliveSeconds);
  }

  /** A whole control packet arrived at `nowMs`. */
  packetReceived(nowMs: number): void {
    this.lastPacketAtMs = nowMs;
  }

  /** The client has been silent for more than 1.5 × Keep Alive. */
  isExpired(nowMs: number): boolean {
    return this.limitMs !== undefined && nowMs - this.lastPacketAtMs > this.limitMs;
  }

  /** The ProtocolError to close with once expired (the will is published: the client failed). */
  expiredError(nowMs: number): ProtocolError {
    return new ProtocolError(
      ReasonCode.KeepAliveTimeout,
      `no packet from the client for ${nowMs - this.lastPacketAtMs} ms, more than 1.5 × its Keep Alive of ` +
        `${this.keepaliveSeconds} s; closing [MQTT-3.1.2-24]`,
      true,
      "info",
    );
  }
}

/** Whether a connection opened at `openedAtMs` has had longer than `loginTimeoutMs` to finish CONNECT. */
export function loginTimedOut(openedAtMs: number, nowMs: number, loginTimeoutMs: number): boolean {
  return nowMs - openedAtMs >= loginTimeoutMs;
}

/** The ProtocolError for a client that did not complete CONNECT in time (no session, so no will). */
export function loginTimeoutError(loginTimeoutMs: number): ProtocolError {
  return new ProtocolError(
    ReasonCode.MaximumConnectTime,
    `no accepted CONNECT within the login timeout of ${loginTimeoutMs} ms (mqtt.login_timeout); closing`,
    false,
    "info",
  );
}
