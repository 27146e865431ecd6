/**
 * "Does this URL answer AMQP?": one full AMQP 0-9-1 handshake (TCP, protocol header,
 * connection.start/tune/open, authentication) and a clean close. A TCP port that merely
 * accepts connections is not enough: that is how a half-booted node or the wrong service
 * on the port looks.
 */
import amqp from "amqplib";

/** Outcome of {@link probeAmqp}: ok, or the reason as the broker or the socket gave it. */
export type ProbeResult = { ok: true } | { ok: false; reason: string };

/** Tries one AMQP handshake against `url`, giving up after `timeoutMs`. Never throws. */
export async function probeAmqp(url: string, timeoutMs: number): Promise<ProbeResult> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<ProbeResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `no AMQP handshake within ${timeoutMs} ms` }), timeoutMs);
  });
  const attempt = (async (): Promise<ProbeResult> => {
    try {
      // `timeout` bounds the TCP connect; the race above bounds the whole handshake.
      const connection = await amqp.connect(url, { timeout: timeoutMs });
      await connection.close().catch(() => {});
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: error instanceof Error ? error.message : String(error) };
    }
  })();
  try {
    return await Promise.race([attempt, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** `url` with its password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "<unparseable URL>";
  }
}
