/**
 * CONNECT: first the checks that need no broker (protocol version, client identifier,
 * credentials, vhost), giving either what to ask the backend or the ProtocolError (CONNACK code)
 * to refuse with; then the login itself with takeover of an older connection holding the same
 * client id. The lifecycle around it (CONNACK, pausing, closing) is connection.ts's.
 */
import type { Backend, ConnectOutcome, SessionEvents } from "../backend/backend.ts";
import { ReasonCode, type ConnectPacket } from "../codec/index.ts";
import type { ConnectionOptions } from "./options.ts";
import { ProtocolError } from "./errors.ts";
import type { ClientRegistry, RegisteredClient } from "./registry.ts";
import type { CertificateIdentity } from "./transport.ts";

/** What to log in with, once the CONNECT passed every local check. */
export interface ConnectDecision {
  /** Never empty: server-generated when the client sent none. */
  clientId: string;
  /** The client sent an empty id and `clientId` was generated for it. */
  clientIdGenerated: boolean;
  /** The RabbitMQ user, split from `vhost:user` or defaulted (anonymous). */
  username: string;
  password: string;
  vhost: string;
  /** The login used mqtt.default_user / mqtt.default_pass. */
  anonymous: boolean;
  /** Set when the user is the client certificate's (mqtt.ssl_cert_login): the backend logs in with it; password is "". */
  clientCertificate?: Uint8Array;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A fresh client id for a client that sent none (clean session only). */
export function generateClientId(): string {
  return `rabbitmq-mqtt-${crypto.randomUUID().replaceAll("-", "")}`;
}

/**
 * `vhost:user` split at the LAST colon, as the native plugin does (a vhost may contain colons, a
 * user name then may not); without a colon the user logs into `defaultVhost`.
 * The port-to-vhost mapping comes between the two: the caller passes the mapped vhost as
 * `defaultVhost` (connection.ts, from `ConnectionOptions.portVhostMapping`).
 */
export function splitVhostUsername(username: string, defaultVhost: string): { vhost: string; username: string } {
  const colon = username.lastIndexOf(":");
  if (colon === -1) return { vhost: defaultVhost, username };
  return { vhost: username.slice(0, colon), username: username.slice(colon + 1) };
}

/** Whether a transport's "host:port" / "[v6]:port" peer is on this machine (127.0.0.0/8, ::1). */
export function isLoopbackPeer(remoteAddress: string): boolean {
  const host = remoteAddress.startsWith("[")
    ? remoteAddress.slice(1, remoteAddress.indexOf("]"))
    : remoteAddress.slice(0, remoteAddress.lastIndexOf(":"));
  return host === "::1" || /^(::ffff:)?127\.\d+\.\d+\.\d+$/i.test(host);
}

/**
 * RabbitMQ's loopback_users rule for the MQTT client (the native plugin checks it against the
 * client's address: CONNACK 5). Checked before the broker is asked, so a remote client cannot
 * take over a local client's id with such a user; deliberately differs from the plugin only in
 * that a wrong password from afar also gets 5, not 4 (no password oracle for `guest`).
 */
export function checkLoopback(username: string, loopbackUsers: readonly string[] | undefined, peer: string): ProtocolError | undefined {
  if (loopbackUsers === undefined || !loopbackUsers.includes(username) || isLoopbackPeer(peer)) return undefined;
  return new ProtocolError(
    ReasonCode.NotAuthorized,
    `user "${username}" may log in only from localhost (RabbitMQ's loopback_users) and ${peer} is not; ` +
      "give the client its own RabbitMQ user, or set loopback_users.guest = false in rabbitmq.conf",
    false,
  );
}

/**
 * Checks a CONNECT against everything decidable without the broker. Order matters and follows
 * the spec: the protocol level is answered before anything else [MQTT-3.1.2-2], then the client
 * id [MQTT-3.1.3-8], then credentials.
 */
export function checkConnect(
  packet: ConnectPacket,
  options: ConnectionOptions,
  newClientId: () => string = generateClientId,
  certificate?: CertificateIdentity,
): ConnectDecision | ProtocolError {
  if (packet.protocolVersion === 5) {
    // TODO(MQTT 5): CONNACK properties, session expiry, reason codes in acks, topic aliases.
    // Until then a 5.0 client is told so in its own protocol and can fall back to 3.1.1.
    return new ProtocolError(
      ReasonCode.UnsupportedProtocolVersion,
      "CONNECT asks for MQTT 5.0, which this adapter does not support yet; use MQTT 3.1.1 (protocol level 4) or 3.1 [MQTT-3.1.2-2]",
      false,
      "info",
    );
  }

  let clientId = packet.clientId;
  let clientIdGenerated = false;
  if (clientId.length === 0) {
    if (!packet.cleanSession) {
      return new ProtocolError(
        ReasonCode.ClientIdentifierNotValid,
        "CONNECT has an empty Client Identifier with Clean Session 0; a server-assigned id is only allowed with Clean Session 1 [MQTT-3.1.3-8]",
        false,
      );
    }
    // 3.1 required 1..23 characters; the native plugin accepts an empty id there too (and ids
    // longer than 23 characters in 3.1): we do the same, clients rely on it.
    clientId = newClientId();
    clientIdGenerated = true;
  }

  const credentials = resolveCredentials(packet, options, certificate);
  if (credentials instanceof ProtocolError) return credentials;
  return { clientId, clientIdGenerated, ...credentials };
}

/**
 * DESIGN.md's credential rules: user name and password → the broker decides; only one of them →
 * CONNACK 4; neither → mqtt.default_user / mqtt.default_pass when mqtt.allow_anonymous, else
 * CONNACK 4. (The native plugin answers 4, "bad user name or password", when there are no
 * credentials at all — not 5 — so clients that branch on the code behave the same here.)
 * With mqtt.ssl_cert_login, "neither" and a verified client certificate log in as the
 * certificate's user before anonymous logins are considered, as the plugin's creds/3 does.
 */
function resolveCredentials(
  packet: ConnectPacket,
  options: ConnectionOptions,
  certificate: CertificateIdentity | undefined,
): Omit<ConnectDecision, "clientId" | "clientIdGenerated"> | ProtocolError {
  const hasUser = packet.username !== undefined;
  const hasPassword = packet.password !== undefined;
  if (!hasUser && !hasPassword && certificate !== undefined) {
    // Deliberately unlike the plugin, the certificate name is NOT split at a colon into vhost and
    // user: a certificate for "CN=vh:admin" must not log in as "admin" (RabbitMQ's EXTERNAL
    // mechanism, which checks the name on the AMQP side, does not split either).
    return { username: certificate.username, password: "", vhost: options.vhost, anonymous: false, clientCertificate: certificate.certificateDer };
  }
  if (!hasUser && !hasPassword) {
    if (!options.allowAnonymous) {
      return new ProtocolError(
        ReasonCode.BadUserNameOrPassword,
        "CONNECT has no user name and no password, and anonymous logins are off (mqtt.allow_anonymous = false)",
        false,
      );
    }
    // The plugin splits the default user too, so `mqtt.default_user = vh:guest` picks a vhost.
    const { vhost, username } = splitVhostUsername(options.defaultUser, options.vhost);
    return { username, password: options.defaultPass, vhost, anonymous: true };
  }
  if (!hasUser || !hasPassword) {
    return new ProtocolError(
      ReasonCode.BadUserNameOrPassword,
      hasUser
        ? `CONNECT has user name "${packet.username}" but no password; both or neither are required`
        : "CONNECT has a password but no user name; both or neither are required",
      false,
    );
  }
  let password: string;
  try {
    // RabbitMQ passwords are UTF-8 strings (AMQP PLAIN); bytes that are not UTF-8 cannot match one.
    password = strictUtf8.decode(packet.password);
  } catch {
    return new ProtocolError(
      ReasonCode.BadUserNameOrPassword,
      `CONNECT password for user "${packet.username}" is not valid UTF-8; RabbitMQ passwords are UTF-8 strings`,
      false,
    );
  }
  const { vhost, username } = splitVhostUsername(packet.username!, options.vhost);
  return { username, password, vhost, anonymous: false };
}

/** What `login` needs besides the decision. */
export interface LoginRequest {
  backend: Backend;
  registry: ClientRegistry;
  decision: ConnectDecision;
  cleanSession: boolean;
  peer: string;
  connectionId: string;
  /** The connection logging in: it becomes the registry's holder of the client id. */
  self: RegisteredClient;
  events: SessionEvents;
  /** False once the connection gave up (closed while the broker was busy): then it takes over no one. */
  stillWanted: () => boolean;
}

/**
 * Logs in through the backend and takes over an older connection with the same client id in the
 * same vhost [MQTT-3.1.4-2]. The takeover happens in `onAuthenticated`: after the broker accepted
 * the credentials (so a client that fails to log in never kicks a connected one) and before the
 * backend touches the stored session (so the older connection's unsettled deliveries are back in
 * the queue before this session consumes it: nothing lost, nothing doubled). A backend that does
 * not call the hook gets the takeover right after connect() resolved.
 */
export async function login(request: LoginRequest): Promise<ConnectOutcome> {
  const { decision, registry, self } = request;
  let claimed = false;
  const takeOverPrevious = async (): Promise<void> => {
    if (claimed || !request.stillWanted()) return;
    claimed = true;
    const previous = registry.claim(decision.vhost, decision.clientId, self);
    if (previous !== undefined) await previous.takeOver(`connection ${request.connectionId} from ${request.peer}`);
  };
  const outcome = await request.backend.connect(
    {
      clientId: decision.clientId,
      username: decision.username,
      password: decision.password,
      vhost: decision.vhost,
      ...(decision.clientCertificate === undefined ? {} : { clientCertificate: decision.clientCertificate }),
      cleanSession: request.cleanSession,
      peer: request.peer,
      connectionId: request.connectionId,
      onAuthenticated: takeOverPrevious,
    },
    request.events,
  );
  if (outcome.ok) await takeOverPrevious();
  return outcome;
}
