/**
 * Turns a Bun `ServerWebSocket` into the `Transport` a protocol `Connection` writes to, so MQTT
 * over WebSocket runs the very same state machine as TCP and TLS.
 *
 * Writes are batched per event-loop turn like SocketTransport's (write-batch.ts): everything a
 * connection writes during one turn goes out as ONE binary WebSocket message (MQTT allows any
 * number of packets per message [MQTT-6.0.0-2]).
 *
 * Backpressure: Bun keeps what the socket did not take (`getBufferedAmount()`); once that passes
 * HIGH_WATER_BYTES, `write()` returns false and reading from the client pauses (`ws.pause()`),
 * and when Bun's `drain` brings it below LOW_WATER_BYTES reading resumes and the connection's
 * onDrain runs. Bun's own backpressure limit is off (a send past it would drop bytes from the
 * middle of the MQTT stream); this high-water mark is what bounds the buffer.
 *
 * Invariants: bytes reach the socket in `write()` order; after close nothing is sent.
 */
import type { ServerWebSocket } from "bun";
import type { Transport } from "../protocol/index.ts";
import type { TransportEvents } from "./socket-transport.ts";
import { WriteBatch } from "./write-batch.ts";

/** Above this many unsent bytes the client counts as not reading. */
export const WS_HIGH_WATER_BYTES = 64 * 1024;
/** Below this, a congested connection may produce again. */
export const WS_LOW_WATER_BYTES = 16 * 1024;

/** Close codes of RFC 6455 §7.4.1 the listener uses. */
export const WsCloseCode = {
  Normal: 1000,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  MessageTooBig: 1009,
  InternalError: 1011,
} as const;

export class WebSocketTransport implements Transport {
  /** This turn's writes, sent as one binary message. */
  private readonly batch = new WriteBatch((bytes) => {
    if (!this.closed) this.send(bytes);
  });
  private congested = false;
  private readingPausedByUs = false;
  private readingPausedByOwner = false;
  private closed = false;
  events: TransportEvents | undefined;

  constructor(
    private readonly ws: ServerWebSocket<unknown>,
    /** "1.2.3.4:5678", for logs. */
    readonly remoteAddress: string,
    /** The listener's port (port-to-vhost mapping). */
    readonly localPort: number,
  ) {}

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.batch.add(bytes);
    return !this.congested;
  }

  private send(bytes: Uint8Array): void {
    // Bun copies what it cannot write at once, so `bytes` may be reused after the call.
    const status = this.ws.sendBinary(bytes);
    if (status === 0) {
      // Dropped: the socket is gone (or a limit was hit). The MQTT stream now has a hole; end it.
      this.destroy();
      return;
    }
    if (!this.congested && this.ws.getBufferedAmount() > WS_HIGH_WATER_BYTES) {
      this.congested = true;
      if (!this.readingPausedByUs) {
        this.readingPausedByUs = true;
        this.ws.pause();
      }
    }
  }

  /** Bun's `drain`: the socket took some of the buffered bytes. */
  handleDrain(): void {
    if (this.closed || !this.congested || this.ws.getBufferedAmount() > WS_LOW_WATER_BYTES) return;
    this.congested = false;
    if (this.readingPausedByUs) {
      this.readingPausedByUs = false;
      if (!this.readingPausedByOwner) this.ws.resume();
    }
    this.events?.onDrain();
  }

  pauseReading(): void {
    this.readingPausedByOwner = true;
    if (!this.closed) this.ws.pause();
  }

  resumeReading(): void {
    this.readingPausedByOwner = false;
    // Backpressure on our side wins: reading resumes when the buffer drains.
    if (!this.closed && !this.readingPausedByUs) this.ws.resume();
  }

  /** Sends what is queued, then a Close frame (1000 unless told otherwise). */
  close(code: number = WsCloseCode.Normal, reason = ""): void {
    if (this.closed) return;
    this.batch.flush();
    this.closed = true;
    this.ws.close(code, reason);
  }

  /** Drops the connection without a Close frame. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.terminate();
  }

  /** The socket closed (either side): nothing more is sent. */
  handleClosed(): void {
    this.closed = true;
  }

  /** Bytes written but not yet taken by the socket. */
  get bufferedBytes(): number {
    return this.batch.pendingBytes + (this.closed ? 0 : this.ws.getBufferedAmount());
  }
}
