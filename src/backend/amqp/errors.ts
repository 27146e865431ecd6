/**
 * amqplib errors → `BackendError` values, keeping RabbitMQ's own reply code and text so the log
 * line tells the operator exactly what RabbitMQ refused. Shapes amqplib 0.10.9 produces (checked
 * against RabbitMQ 3.10.8):
 *
 *   login refused     Error "Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused …""
 *   vhost refused     Error "Expected ConnectionOpenOk; got <ConnectionClose channel:0>"   (530 NOT_ALLOWED;
 *                     amqplib drops the reply text here, so we say which vhost and user it was)
 *   operation failed  Error "Operation failed: QueueBind; 403 (ACCESS-REFUSED) with message "…"", code 403
 *   channel closed    Error "Channel closed by server: 404 (NOT-FOUND) with message "…"", code 404
 *   connection closed Error "Connection closed: 320 (CONNECTION-FORCED) with message "…"", code 320
 *   socket            Error with code "ECONNREFUSED" / "ENOTFOUND" / "ETIMEDOUT" / "ECONNRESET" …
 *   basic.get refused the raw channel.close frame { fields: { replyCode, replyText } } (not an Error)
 *   after a close     IllegalOperationError "Channel closed" / "Connection closed (…)"
 */
import type { BackendError, BackendErrorKind } from "../backend.ts";

/** Extracts RabbitMQ's reply text from an amqplib message (`… with message "TEXT"`). */
function replyText(message: string): string | undefined {
  const match = /with message "(.*)"\s*$/s.exec(message);
  return match?.[1];
}

/** The AMQP reply code in an amqplib message (`…: 403 (ACCESS-REFUSED) with message …`). */
function replyCodeIn(message: string): number | undefined {
  const match = /(\d{3}) \([A-Z_-]+\) with message/.exec(message);
  return match === undefined || match === null ? undefined : Number(match[1]);
}

function describe(error: unknown): { message: string; code: unknown } {
  if (error instanceof Error) return { message: error.message, code: (error as { code?: unknown }).code };
  // amqplib's basic.get rejects with the raw channel.close frame, not an Error.
  const fields = (error as { fields?: { replyCode?: unknown; replyText?: unknown } } | null)?.fields;
  if (typeof fields?.replyCode === "number") {
    return { message: `${fields.replyCode} (CLOSE) with message "${String(fields.replyText)}"`, code: fields.replyCode };
  }
  return { message: String(error), code: undefined };
}

/** Kind of refusal for an AMQP reply code on an operation (not at login). */
export function kindForReplyCode(code: number): BackendErrorKind {
  switch (code) {
    case 403: // ACCESS_REFUSED
    case 530: // NOT_ALLOWED
      return "not-authorised";
    case 404: // NOT_FOUND
      return "not-found";
    case 320: // CONNECTION_FORCED: broker shutdown, or closed by an operator
    case 501: // FRAME_ERROR and friends: the link is broken
    case 541: // INTERNAL_ERROR
      return "unavailable";
    default: // 406 PRECONDITION_FAILED, 405 RESOURCE_LOCKED, 5xx …
      return "failed";
  }
}

/** Socket-level failures: the broker cannot be reached (CONNACK 3). */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "ECONNABORTED",
]);

/**
 * An error from opening an AMQP connection as `username` to `vhost` (= authenticating).
 * `where` names the broker for the message, e.g. `amqp://127.0.0.1:5672`.
 */
export function fromConnectError(error: unknown, login: { username: string; vhost: string; where: string }): BackendError {
  const { message, code } = describe(error);
  if (message.startsWith("Handshake terminated by server")) {
    const replyCode = replyCodeIn(message);
    const text = replyText(message) ?? message;
    if (replyCode === 403) return { kind: "bad-credentials", amqpReplyCode: 403, message: text };
    if (replyCode === 530) return { kind: "not-authorised", amqpReplyCode: 530, message: text };
    return { kind: replyCode === undefined ? "failed" : kindForReplyCode(replyCode), amqpReplyCode: replyCode, message: text };
  }
  if (message.includes("Expected ConnectionOpenOk; got <ConnectionClose")) {
    // RabbitMQ refuses connection.open with 530 NOT_ALLOWED when the user has no permissions in
    // the vhost or the vhost does not exist; amqplib keeps neither code nor text.
    return {
      kind: "not-authorised",
      amqpReplyCode: 530,
      message: `NOT_ALLOWED - access to vhost '${login.vhost}' refused for user '${login.username}' (or no such vhost)`,
    };
  }
  if (typeof code === "string" && SOCKET_CODES.has(code)) {
    return { kind: "unavailable", message: `cannot reach RabbitMQ at ${login.where}: ${message}` };
  }
  // amqplib's own connect timeout is a plain Error("connect ETIMEDOUT") without a code.
  if (message.includes("Socket closed abruptly") || message.includes("Heartbeat timeout") || message.includes("ETIMEDOUT")) {
    return { kind: "unavailable", message: `RabbitMQ at ${login.where} closed the connection: ${message}` };
  }
  return { kind: "failed", message: `connecting to RabbitMQ at ${login.where} failed: ${message}` };
}

/**
 * An error from an operation on a channel (declare, bind, consume, publish…) or from a
 * channel/connection that closed. A close initiated by the broker keeps its reply code and text.
 */
export function fromOperationError(error: unknown): BackendError {
  const { message, code } = describe(error);
  const replyCode = typeof code === "number" ? code : replyCodeIn(message);
  if (replyCode !== undefined) {
    return { kind: kindForReplyCode(replyCode), amqpReplyCode: replyCode, message: replyText(message) ?? message };
  }
  if (typeof code === "string" && SOCKET_CODES.has(code)) return { kind: "unavailable", message: `connection to RabbitMQ lost: ${message}` };
  if (
    message.startsWith("Channel closed") ||
    message.startsWith("Connection closed") ||
    message.startsWith("Channel ended") ||
    message.startsWith("Connection closing") ||
    message.startsWith("Channel closing") ||
    message.includes("Heartbeat timeout") ||
    message.includes("Unexpected close")
  ) {
    return { kind: "unavailable", message: `connection to RabbitMQ lost: ${message}` };
  }
  return { kind: "failed", message };
}

/**
 * What a refused publish's channel-close text names, so the publisher channel can fail only the
 * publishes it applies to: a routing key (topic permission) or a whole exchange (no write
 * permission on it, or it does not exist: every publish of this user to it is refused alike).
 */
export type PublishRefusalTarget = { routingKey: string; exchange: string } | { exchange: string } | undefined;

export function refusalTarget(text: string): PublishRefusalTarget {
  // ACCESS_REFUSED - write access to topic 'a.b' in exchange 'amq.topic' in vhost '/' refused for user 'u'
  const topic = /access to topic '(.*)' in exchange '(.*)' in vhost '.*' refused for user/s.exec(text);
  if (topic !== null) return { routingKey: topic[1]!, exchange: topic[2]! };
  // ACCESS_REFUSED - access to exchange 'x' in vhost '/' refused for user 'u'
  // NOT_FOUND - no exchange 'x' in vhost '/'
  const exchange = /(?:access to exchange|no exchange) '(.*)' in vhost/s.exec(text);
  if (exchange !== null) return { exchange: exchange[1]! };
  return undefined;
}
