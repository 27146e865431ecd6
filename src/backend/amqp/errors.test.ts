import { describe, expect, test } from "bun:test";
import { fromConnectError, fromOperationError, refusalTarget } from "./errors.ts";

const login = { username: "bob", vhost: "v1", where: "amqp://127.0.0.1:5672" };

/** An Error as amqplib builds it: message plus optional numeric/string code. */
function amqplibError(message: string, code?: number | string): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

describe("fromConnectError: opening a connection = authenticating", () => {
  const table: Array<[why: string, error: unknown, kind: string, replyCode: number | undefined, messageHas: string]> = [
    [
      "403 at login is bad-credentials, RabbitMQ's text kept",
      amqplibError(
        'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."',
      ),
      "bad-credentials",
      403,
      "ACCESS_REFUSED - Login was refused",
    ],
    [
      "connection.open refused (530) is not-authorised, naming vhost and user",
      amqplibError("Expected ConnectionOpenOk; got <ConnectionClose channel:0>"),
      "not-authorised",
      530,
      "vhost 'v1' refused for user 'bob'",
    ],
    ["ECONNREFUSED is unavailable", amqplibError("connect ECONNREFUSED 127.0.0.1:5672", "ECONNREFUSED"), "unavailable", undefined, "cannot reach RabbitMQ at amqp://127.0.0.1:5672"],
    ["DNS failure is unavailable", amqplibError("getaddrinfo ENOTFOUND rabbit", "ENOTFOUND"), "unavailable", undefined, "ENOTFOUND"],
    ["amqplib's connect timeout (no code) is unavailable", amqplibError("connect ETIMEDOUT"), "unavailable", undefined, "ETIMEDOUT"],
    ["socket closed during the handshake is unavailable", amqplibError("Socket closed abruptly during opening handshake"), "unavailable", undefined, "closed the connection"],
    ["anything else is failed, with the original text", "weird", "failed", undefined, "weird"],
  ];
  for (const [why, error, kind, replyCode, messageHas] of table) {
    test(why, () => {
      const mapped = fromConnectError(error, login);
      expect(mapped.kind).toBe(kind as never);
      expect(mapped.amqpReplyCode).toBe(replyCode);
      expect(mapped.message).toContain(messageHas);
    });
  }
});

describe("fromOperationError: refusals on a channel", () => {
  const table: Array<[why: string, error: unknown, kind: string, replyCode: number | undefined, message: string]> = [
    [
      "403 on an operation is not-authorised",
      amqplibError(`Operation failed: QueueBind; 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - access to topic 'a.b' in exchange 'amq.topic' in vhost '/' refused for user 'u'"`, 403),
      "not-authorised",
      403,
      "ACCESS_REFUSED - access to topic 'a.b' in exchange 'amq.topic' in vhost '/' refused for user 'u'",
    ],
    [
      "404 is not-found",
      amqplibError(`Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no queue 'q' in vhost '/'"`, 404),
      "not-found",
      404,
      "NOT_FOUND - no queue 'q' in vhost '/'",
    ],
    [
      "406 is failed",
      amqplibError(`Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg 'x-expires'"`, 406),
      "failed",
      406,
      "PRECONDITION_FAILED - inequivalent arg 'x-expires'",
    ],
    [
      "basic.get rejects with the raw close frame",
      { id: 1, fields: { replyCode: 403, replyText: "ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'u'" } },
      "not-authorised",
      403,
      "ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'u'",
    ],
    [
      "320 connection forced is unavailable",
      amqplibError(`Connection closed: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"`, 320),
      "unavailable",
      320,
      "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'",
    ],
    ["an operation on a closed channel is unavailable", amqplibError("Channel closed"), "unavailable", undefined, "connection to RabbitMQ lost: Channel closed"],
    ["a pending RPC of a closed channel is unavailable", amqplibError("Channel ended, no reply will be forthcoming"), "unavailable", undefined, "connection to RabbitMQ lost: Channel ended, no reply will be forthcoming"],
  ];
  for (const [why, error, kind, replyCode, message] of table) {
    test(why, () => {
      expect(fromOperationError(error)).toEqual({ kind: kind as never, amqpReplyCode: replyCode, message } as never);
    });
  }
});

describe("refusalTarget: what a refused publish's close text names", () => {
  const table: Array<[text: string, target: ReturnType<typeof refusalTarget>]> = [
    ["ACCESS_REFUSED - access to topic 'a.b' in exchange 'amq.topic' in vhost '/' refused for user 'u'", { routingKey: "a.b", exchange: "amq.topic" }],
    ["ACCESS_REFUSED - write access to topic 'x' in exchange 'e' in vhost 'v' refused for user 'u'", { routingKey: "x", exchange: "e" }],
    ["ACCESS_REFUSED - access to exchange 'amq.topic' in vhost '/' refused for user 'u'", { exchange: "amq.topic" }],
    ["NOT_FOUND - no exchange 'gone' in vhost '/'", { exchange: "gone" }],
    ["PRECONDITION_FAILED - message size 200 is larger than configured max size 100", undefined],
  ];
  for (const [text, target] of table) {
    test(text, () => expect(refusalTarget(text)).toEqual(target));
  }
});
