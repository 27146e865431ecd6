/**
 * Tells the operator, at start, whether RabbitMQ answers at `adapter.amqp_url`, and keeps trying
 * with backoff until it does. The adapter does not need this to work (the backend connects per
 * client and clients get CONNACK 3 while the broker is away); it exists so that a missing or
 * unreachable RabbitMQ is one clear log line, not a silent wait or a crash.
 *
 * The probe opens a TCP connection, sends the AMQP 0-9-1 protocol header and expects a method
 * frame back (connection.start): that proves an AMQP broker is there without logging in.
 */
import type { Socket } from "bun";
import type { Logger } from "./log.ts";

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;
const PROBE_TIMEOUT_MS = 5000;
const AMQP_HEADER = new Uint8Array([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]); // "AMQP" 0-9-1
const FRAME_METHOD = 1;

/** Host and port of an amqp:// or amqps:// URL (defaults 5672 / 5671), password never logged. */
export function brokerAddress(url: string): { host: string; port: number; tls: boolean; display: string } {
  const parsed = new URL(url);
  const tls = parsed.protocol === "amqps:";
  const host = parsed.hostname.replace(/^\[|\]$/g, "") || "localhost";
  const port = parsed.port === "" ? (tls ? 5671 : 5672) : Number(parsed.port);
  return { host, port, tls, display: `${parsed.protocol}//${parsed.host}` };
}

/**
 * Resolves with undefined when an AMQP broker answered, else with why not. `tls`: false for
 * amqp://, else the TLS options the AMQP connections use (adapter.amqp_ssl_options: CA, SNI…),
 * so a broker whose certificate comes from a private CA is not reported unreachable.
 */
export async function probeBroker(host: string, port: number, tls: false | Record<string, unknown>): Promise<string | undefined> {
  return await new Promise<string | undefined>((resolve) => {
    let settled = false;
    let socket: Socket<undefined> | undefined;
    const finish = (result: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      resolve(result);
    };
    const timer = setTimeout(() => finish(`no answer within ${PROBE_TIMEOUT_MS} ms`), PROBE_TIMEOUT_MS);
    Bun.connect({
      hostname: host,
      port,
      tls,
      socket: {
        binaryType: "uint8array",
        open(s) {
          socket = s;
          s.write(AMQP_HEADER);
        },
        data(_s, chunk: Uint8Array) {
          finish(chunk[0] === FRAME_METHOD ? undefined : "something answered, but not AMQP 0-9-1");
        },
        close() {
          finish("connection closed before the broker answered");
        },
        connectError(_s, error) {
          finish(error.message);
        },
        error(_s, error) {
          finish(error.message);
        },
      },
    }).catch((error: Error) => finish(error.message));
  });
}

export class BrokerWatch {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
    /** TLS options for an amqps:// URL (amqplib's socket options: ca, cert, key, servername, rejectUnauthorized). */
    private readonly tlsOptions: Record<string, unknown> = {},
  ) {}

  start(): void {
    void this.attempt(FIRST_RETRY_MS, true);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private async attempt(nextDelayMs: number, first: boolean): Promise<void> {
    const { host, port, tls, display } = brokerAddress(this.url);
    const problem = await probeBroker(host, port, tls ? { ...this.tlsOptions } : false);
    if (this.stopped) return;
    if (problem === undefined) {
      this.log.info(`RabbitMQ answers at ${display}`);
      return;
    }
    const message =
      `RabbitMQ at ${display} is not reachable (${problem}); MQTT clients get CONNACK 3 ` +
      `(server unavailable) until it is; retrying in ${Math.round(nextDelayMs / 1000)} s`;
    if (first) this.log.error(message);
    else this.log.warning(message);
    this.timer = setTimeout(() => void this.attempt(Math.min(nextDelayMs * 2, MAX_RETRY_MS), false), nextDelayMs);
  }
}
