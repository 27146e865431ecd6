/**
 * ProtocolError: why a connection is being closed, as a value. Every way a connection ends
 * abnormally (bad bytes, a rule broken, a refused CONNECT, a broker refusal, keepalive expiry,
 * takeover) becomes one of these, and ONE function, `encodeCloseBytes`, decides what the client is
 * told for its protocol version, so no handler maps codes ad hoc:
 *
 *   phase \ version   3.1 / 3.1.1                              5.0
 *   before CONNACK    CONNACK return code, or a plain close    CONNACK with the reason code
 *   after CONNACK     plain close (3.x has no DISCONNECT       DISCONNECT with the reason code
 *                     from the server)
 */
import {
  ConnectReturnCode,
  DecodeError,
  encodePacket,
  PacketType,
  REASON_CODES_BY_PACKET,
  ReasonCode,
  type ProtocolVersion,
} from "../codec/index.ts";
import type { BackendError } from "../backend/backend.ts";
import type { LogLevel } from "../log.ts";

export class ProtocolError {
  constructor(
    /** MQTT 5 reason code naming the failure; 3.x derives its CONNACK return code from it. */
    readonly reasonCode: ReasonCode,
    /** For the operator: what arrived, what was expected, the spec rule. Logged once, at the connection. */
    readonly message: string,
    /**
     * The disconnect decision beyond the bytes: publish the will? True for every end that is not
     * the client's clean DISCONNECT [MQTT-3.1.2-8]; false only where no session exists yet or the
     * server itself is going away (see Connection.shutdown).
     */
    readonly publishWill = true,
    /** How loud the log line is: a client's mistake is a warning, normal churn is info. */
    readonly logLevel: LogLevel = "warning",
  ) {}

  toString(): string {
    return this.message;
  }
}

/** A codec error as a ProtocolError: its reason code and message carry over unchanged. */
export function fromDecodeError(error: DecodeError): ProtocolError {
  return new ProtocolError(error.reasonCode, `${error.field} ${error.message}`);
}

/** A broker refusal during CONNECT, as the CONNACK code the native plugin sends for it. */
export function fromBackendConnectError(error: BackendError): ProtocolError {
  const reasonCode = BACKEND_CONNECT_REASON[error.kind];
  const what = error.kind === "unavailable" ? "login impossible, RabbitMQ is unavailable" : "RabbitMQ refused the login";
  return new ProtocolError(reasonCode, `${what}: ${error.message}`, false);
}

/**
 * The broker side of a connected session is gone. Decision: when RabbitMQ itself went away
 * (restart, network: kind "unavailable") the will is NOT published, as on our own shutdown: the
 * device did nothing wrong and reconnects once RabbitMQ is back, and publishing every device's
 * "offline" will on a broker restart would be a storm of false alarms (the session that would
 * carry it is the thing that was lost anyway). Any other loss (a refusal that ended the session)
 * is the client's failure: its will is attempted.
 */
export function fromSessionLost(error: BackendError, hasWill: boolean): ProtocolError {
  const code = error.amqpReplyCode === undefined ? "" : ` (AMQP ${error.amqpReplyCode})`;
  const brokerGone = error.kind === "unavailable";
  const will =
    !hasWill ? ""
    : brokerGone ? "; its will is not published (losing RabbitMQ is not a failure of the client)"
    : "; trying to publish its will";
  return new ProtocolError(ReasonCode.ServerUnavailable, `the RabbitMQ side of the session is gone${code}: ${error.message}${will}`, !brokerGone);
}

const BACKEND_CONNECT_REASON: Record<BackendError["kind"], ReasonCode> = {
  "bad-credentials": ReasonCode.BadUserNameOrPassword,
  "not-authorised": ReasonCode.NotAuthorized,
  unavailable: ReasonCode.ServerUnavailable,
  // A missing vhost is refused by RabbitMQ as "not allowed" (530), but keep a 404 on the same side.
  "not-found": ReasonCode.NotAuthorized,
  failed: ReasonCode.ServerUnavailable,
};

/**
 * 3.1 / 3.1.1 CONNACK return code for a failure before CONNACK, or undefined when the spec wants
 * the connection closed without a CONNACK: a CONNECT that does not conform to §3.1 is closed
 * silently [MQTT-3.1.4-1] (malformed, protocol error, too large).
 */
function connackReturnCodeV3(reasonCode: ReasonCode): ConnectReturnCode | undefined {
  switch (reasonCode) {
    case ReasonCode.UnsupportedProtocolVersion:
      return ConnectReturnCode.UnacceptableProtocolVersion; // [MQTT-3.1.2-2]
    case ReasonCode.ClientIdentifierNotValid:
      return ConnectReturnCode.IdentifierRejected; // [MQTT-3.1.3-9]
    case ReasonCode.BadUserNameOrPassword:
    case ReasonCode.BadAuthenticationMethod:
      return ConnectReturnCode.BadUserNameOrPassword;
    case ReasonCode.NotAuthorized:
    case ReasonCode.Banned:
      return ConnectReturnCode.NotAuthorized;
    case ReasonCode.ServerUnavailable:
    case ReasonCode.ServerBusy:
    case ReasonCode.ServerShuttingDown:
    case ReasonCode.UnspecifiedError:
    case ReasonCode.ImplementationSpecificError:
    case ReasonCode.QuotaExceeded:
    case ReasonCode.ConnectionRateExceeded:
      return ConnectReturnCode.ServerUnavailable;
    default:
      return undefined;
  }
}

/** `reasonCode` if `packetType` may carry it in 5.0, else Unspecified error (always allowed there). */
function allowedReason(packetType: PacketType, reasonCode: ReasonCode): ReasonCode {
  return REASON_CODES_BY_PACKET[packetType]!.has(reasonCode) ? reasonCode : ReasonCode.UnspecifiedError;
}

/**
 * The bytes to send before closing because of `error`, or undefined for a plain close.
 * `version` is undefined when the CONNECT itself could not be decoded: the answer is then a
 * 3.1.1-shaped CONNACK (identical on the wire to 3.1's), as [MQTT-3.1.2-2] asks for an unknown level.
 * `connackSent` says whether the connection got past CONNECT.
 */
export function encodeCloseBytes(
  error: ProtocolError,
  version: ProtocolVersion | undefined,
  connackSent: boolean,
): Uint8Array | undefined {
  if (version === 5) {
    return connackSent
      ? encodePacket({ type: PacketType.Disconnect, reasonCode: allowedReason(PacketType.Disconnect, error.reasonCode) }, 5)
      : encodePacket(
          { type: PacketType.Connack, sessionPresent: false, reasonCode: allowedReason(PacketType.Connack, error.reasonCode) },
          5,
        );
  }
  if (connackSent) return undefined;
  const returnCode = connackReturnCodeV3(error.reasonCode);
  if (returnCode === undefined) return undefined;
  return encodePacket({ type: PacketType.Connack, sessionPresent: false, reasonCode: returnCode }, version ?? 4);
}
