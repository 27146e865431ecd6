/**
 * Connection: one MQTT client's state machine. Bytes in → Decoder → dispatch by packet type →
 * encoded packets out through the Transport. It owns the lifecycle; the connected state's
 * handlers and their dispatch are in connected-client.ts, the per-packet work in connect.ts,
 * publish.ts, delivery.ts, subscribe.ts, unsubscribe.ts, ping.ts, disconnect.ts.
 *
 *   awaiting-connect ──CONNECT passes local checks──▶ connecting ──broker login ok, CONNACK 0──▶ connected
 *        │ bad bytes, first packet          │ refused: CONNACK 1..5       │ DISCONNECT: no will
 *        │ not CONNECT, login timeout       │ login timeout               │ bad bytes, violation, keepalive,
 *        │                                  │ client gone, taken over     │ broker refusal or loss, takeover,
 *        ▼                                  ▼                             ▼ client gone: will published
 *      closing ◀────────────────────────────┴─────────────────────────────┘
 *        │ publishes already handed over are answered by the broker → will (if due) →
 *        │ backend session closed (clean: deleted; else unsettled deliveries returned) →
 *        ▼ registry entry released (if still ours)
 *      closed
 *
 * Invariants:
 * - packets are handled one at a time, in arrival order, only in `awaiting-connect` (CONNECT
 *   only) and `connected`, and only while no PauseReason is set; paused, unread bytes stay in the
 *   decoder (detached from the caller's chunk) and the transport stops reading;
 * - CONNACK is the first packet written [MQTT-3.2.0-1]: deliveries arriving while connecting wait;
 * - nothing throws out of onData / onDrain / onClose / checkTimeouts or the session events:
 *   an unexpected exception closes this connection only, with an error log line;
 * - every close is logged once (`close()` runs at most once).
 */
import type { BackendSession, Delivery, SessionEvents } from "../backend/backend.ts";
import { Encoder, PACKET_TYPE_NAMES, PacketType, ReasonCode, type ConnectPacket, type Packet, type ProtocolVersion } from "../codec/index.ts";
import type { Logger } from "../log.ts";
import { resumeSession, type SessionState } from "../session/index.ts";
import { checkConnect, checkLoopback, login, type ConnectDecision } from "./connect.ts";
import { ConnectedClient } from "./connected-client.ts";
import { PauseReason, type ConnectionContext } from "./context.ts";
import { ProtocolError, encodeCloseBytes, fromBackendConnectError, fromDecodeError, fromSessionLost } from "./errors.ts";
import { KeepaliveClock, loginTimedOut, loginTimeoutError } from "./keepalive.ts";
import type { ConnectionDeps, ConnectionInfo, ConnectionOptions } from "./options.ts";
import { CloseReason, NO_METRICS, type ProtocolMetrics } from "./metrics.ts";
import { PacketReader } from "./packet-reader.ts";
import { OperationQueue } from "./operation-queue.ts";
import type { RegisteredClient } from "./registry.ts";
import { SubscriptionMatcher } from "./topic-match.ts";
import type { Transport } from "./transport.ts";
import { captureWill, publishWill, type WillMessage } from "./will.ts";

type Phase = "awaiting-connect" | "connecting" | "connected" | "closing" | "closed";

/**
 * Encoding is synchronous and Transport.write copies what it keeps before returning, so one
 * encoder (one reusable buffer) serves every connection: no per-connection write buffer. Being
 * one per process, it can afford to keep up to 1 MiB between packets, so large deliveries are
 * not allocated one by one (bench/codec: 64 KiB PUBLISH encode 3.2–4.5× mqtt-packet kept,
 * 0.6× allocated per packet).
 */
const ENCODER_KEEP_BYTES = 1024 * 1024;
const encoder = new Encoder(256, ENCODER_KEEP_BYTES);
/**
 * SUBSCRIBE / UNSUBSCRIBE waiting for the broker before reading pauses: one. Packets behind a
 * SUBSCRIBE wait until its binding exists and SUBACK went out, so a PUBLISH the client sends
 * right after subscribing reaches that subscription (and is answered after the SUBACK), as the
 * client expects from the order it sent them in. It also bounds the queue (no unbounded buffer).
 */
const MAX_QUEUED_OPERATIONS = 1;

const VERSION_NAMES: Record<ProtocolVersion, string> = { 3: "3.1", 4: "3.1.1", 5: "5.0" };

export class Connection implements RegisteredClient {
  readonly info: ConnectionInfo;
  private phase: Phase = "awaiting-connect";
  private log: Logger;
  private readonly reader: PacketReader;
  private readonly now: () => number;
  private readonly options: ConnectionOptions;
  private readonly metrics: ProtocolMetrics;
  private version: ProtocolVersion | undefined;
  private connackSent = false;
  private cleanSession = true;
  private keepaliveSeconds = 0;
  private will: WillMessage | undefined;
  private keepalive: KeepaliveClock | undefined;
  private session: BackendSession | undefined;
  private sessionState: SessionState | undefined;
  private readonly matcher = new SubscriptionMatcher();
  /** The connected state's handlers: set when CONNACK 0 goes out. */
  private client: ConnectedClient | undefined;
  /** Deliveries that arrived before CONNACK was written (bounded by the broker's prefetch). */
  private earlyDeliveries: Delivery[] = [];
  private readonly operations: OperationQueue;
  private connecting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** shutdown() was called: this process (and the session state it holds) is going away. */
  private serverShuttingDown = false;
  /** The backend's latest SessionEvents.publishBlocked, kept for `publishes` (made at CONNACK). */
  private brokerBlocked = false;

  constructor(
    private readonly transport: Transport,
    private readonly deps: ConnectionDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.options = deps.options;
    this.metrics = deps.metrics ?? NO_METRICS;
    this.metrics.connectionOpened();
    this.info = { connectedAtMs: this.now(), peer: transport.remoteAddress };
    this.log = deps.log.child(`conn ${deps.connectionId}`);
    this.operations = new OperationQueue(
      MAX_QUEUED_OPERATIONS,
      (full) => this.setPaused(PauseReason.QueuedOperations, full),
      (error) => this.failUnexpected(error, "a SUBSCRIBE or UNSUBSCRIBE"),
    );
    this.reader = new PacketReader(
      transport,
      {
        acceptsPackets: () => this.phase === "awaiting-connect" || this.phase === "connected",
        onPacket: (packet, sizeBytes) => {
          this.metrics.packetReceived(packet.type, sizeBytes);
          this.keepalive?.packetReceived(this.now());
          this.dispatch(packet);
        },
        onDecodeError: (error) => this.fail(fromDecodeError(error)),
        onUnexpected: (error) => this.failUnexpected(error, "handling a packet"),
      },
      deps.options,
    );
  }

  // --- what the listener calls -----------------------------------------------------------------

  /** Bytes from the client. */
  onData(chunk: Uint8Array): void {
    if (this.phase === "closing" || this.phase === "closed") return;
    this.reader.feed(chunk);
  }

  /** The transport fell below its high-water mark again. */
  onDrain(): void {
    try {
      this.client?.onDrain();
    } catch (error) {
      this.failUnexpected(error, "settling deliveries on drain");
    }
  }

  /**
   * The transport closed (by the client, a network error, or after our own close()). A listener
   * that closed it because the client broke the transport's rules (a text WebSocket message
   * [MQTT-6.0.0-1], an oversized one) passes a ProtocolError: it is this connection's one log line.
   */
  onClose(error?: Error | ProtocolError): void {
    if (this.phase === "closing" || this.phase === "closed") return;
    if (error instanceof ProtocolError) {
      void this.close(error, error.publishWill);
      return;
    }
    const before = this.phase === "awaiting-connect";
    const why = error === undefined ? "the client closed the connection without DISCONNECT" : `the connection failed: ${error.message}`;
    const will = this.will === undefined ? "" : "; publishing its will [MQTT-3.1.2-8]";
    // A socket that closes before any CONNECT (load-balancer health checks, port scans) is not news.
    void this.close(new ProtocolError(ReasonCode.UnspecifiedError, why + will, true, before ? "debug" : "info"), true, CloseReason.SocketClosed);
  }

  /** Called by the server's sweep timer (one for all connections), e.g. every second. */
  checkTimeouts(nowMs: number): void {
    if (this.phase === "awaiting-connect" || this.phase === "connecting") {
      if (loginTimedOut(this.info.connectedAtMs, nowMs, this.options.loginTimeoutMs)) {
        this.fail(loginTimeoutError(this.options.loginTimeoutMs));
      }
      return;
    }
    const keepalive = this.keepalive;
    if (this.phase !== "connected" || keepalive === undefined) return;
    if (this.reader.paused) {
      // We are not reading: the client's packets wait in the socket, its silence is ours.
      keepalive.packetReceived(nowMs);
      return;
    }
    if (keepalive.isExpired(nowMs)) this.fail(keepalive.expiredError(nowMs));
  }

  /**
   * Server shutdown: close without publishing the will (MQTT 5: DISCONNECT 0x8B). Decision: a
   * server going away is not the client failing ([MQTT-3.1.2-8]'s cases are all client or
   * network failures), and a rolling restart behind a load balancer would otherwise fire every
   * device's "offline" will although the devices reconnect within seconds. Resolves once the
   * backend session is closed (QoS 1 deliveries not yet acked return to their queue).
   */
  shutdown(): Promise<void> {
    this.serverShuttingDown = true;
    return this.close(new ProtocolError(ReasonCode.ServerShuttingDown, "the adapter is shutting down", false, "info"), false);
  }

  /** RegisteredClient: a newer connection (`by`) claimed our client id [MQTT-3.1.4-2]. */
  takeOver(by: string): Promise<void> {
    return this.close(
      new ProtocolError(
        ReasonCode.SessionTakenOver,
        `${by} connected with the same client id; closing this one [MQTT-3.1.4-2]` +
          (this.will === undefined ? "" : " and publishing its will [MQTT-3.1.2-8]"),
        true,
        "info",
      ),
      true,
    );
  }

  // --- reading ---------------------------------------------------------------------------------

  private dispatch(packet: Packet): void {
    if (this.phase === "awaiting-connect") {
      // The decoder yields nothing but CONNECT before the version is set; keep the rule visible.
      if (packet.type === PacketType.Connect) this.handleConnect(packet);
      else this.fail(new ProtocolError(ReasonCode.ProtocolError, `first packet is ${PACKET_TYPE_NAMES[packet.type]}; it must be CONNECT [MQTT-3.1.0-1]`));
      return;
    }
    this.client!.dispatch(packet);
  }

  // --- CONNECT -----------------------------------------------------------------------------------

  private handleConnect(packet: ConnectPacket): void {
    this.phase = "connecting";
    // Later packets wait until the broker has answered [MQTT-3.1.4-5]; they stay in the decoder.
    this.setPaused(PauseReason.Connecting, true);
    this.version = packet.protocolVersion;
    this.info.protocolVersion = packet.protocolVersion;
    // The vhost rule: `vhost:user` user name, else the port-to-vhost mapping, else mqtt.vhost.
    const portVhost = this.options.portVhostMapping?.[this.transport.localPort];
    const options = portVhost === undefined ? this.options : { ...this.options, vhost: portVhost };
    const decision = checkConnect(packet, options, undefined, this.transport.certificateIdentity);
    if (decision instanceof ProtocolError) {
      this.fail(decision);
      return;
    }
    const loopbackRefusal = checkLoopback(decision.username, this.options.loopbackUsers, this.info.peer);
    if (loopbackRefusal !== undefined) {
      this.fail(loopbackRefusal);
      return;
    }
    this.cleanSession = packet.cleanSession;
    this.keepaliveSeconds = packet.keepaliveSeconds;
    this.will = captureWill(packet);
    this.info.clientId = decision.clientId;
    this.info.username = decision.username;
    this.info.vhost = decision.vhost;
    this.log = this.deps.log.child(`conn ${this.deps.connectionId} client ${decision.clientId}`);
    this.connecting = this.connectBackend(decision).catch((error: unknown) => this.failUnexpected(error, "connecting"));
  }

  private async connectBackend(decision: ConnectDecision): Promise<void> {
    const outcome = await login({
      backend: this.deps.backend,
      registry: this.deps.registry,
      decision,
      cleanSession: this.cleanSession,
      peer: this.info.peer,
      connectionId: this.deps.connectionId,
      self: this,
      events: this.sessionEvents(),
      stillWanted: () => this.phase === "connecting",
    });
    if (outcome.ok) this.session = outcome.session;
    // Closed meanwhile (login timeout, client gone, taken over itself): close() finishes the job.
    if (this.phase !== "connecting") return;
    if (!outcome.ok) {
      this.fail(fromBackendConnectError(outcome.error));
      return;
    }
    this.becomeConnected(decision, outcome.session, !this.cleanSession && outcome.sessionPresent);
  }

  private becomeConnected(decision: ConnectDecision, session: BackendSession, brokerSessionPresent: boolean): void {
    const version = this.version!;
    const { vhost, clientId } = decision;
    const resumed = resumeSession(this.deps.sessionStore, vhost, clientId, this.cleanSession, brokerSessionPresent);
    const sessionPresent = resumed.sessionPresent;
    this.sessionState = resumed.state;
    for (const [filter, qos] of this.sessionState.subscriptions) this.matcher.set(filter, qos);
    const context: ConnectionContext = {
      log: this.log,
      protocolVersion: version,
      vhost,
      session,
      retainedStore: this.deps.retainedStore,
      metrics: this.metrics,
      sessionState: this.sessionState,
      matcher: this.matcher,
      send: (packet) => this.send(packet),
      bufferedBytes: () => this.transport.bufferedBytes,
      fail: (error) => this.fail(error),
      endCleanly: (withWill) => void this.close(undefined, withWill),
      isOpen: () => this.phase === "connected",
      setPaused: (reason, paused) => this.setPaused(reason, paused),
      enqueue: (operation) => this.operations.enqueue(operation, () => this.phase === "connected"),
    };
    const client = new ConnectedClient(context, this.deps.retainedStore, this.options);
    if (this.brokerBlocked) client.publishes.setBrokerBlocked(true);
    this.client = client;
    this.phase = "connected";
    this.connackSent = true;
    this.reader.protocolVersion = version;
    this.keepalive = new KeepaliveClock(this.keepaliveSeconds, this.now());
    // Session Present is reserved (0) in 3.1 and 0 for a clean session [MQTT-3.2.2-1].
    this.send({ type: PacketType.Connack, sessionPresent: version !== 3 && sessionPresent, reasonCode: ReasonCode.Success });
    this.log.info(
      `accepted MQTT ${VERSION_NAMES[version]} connection from ${this.info.peer}` +
        `${decision.clientIdGenerated ? " (client id generated)" : ""}: user "${decision.username}"${decision.anonymous ? " (anonymous)" : ""}${decision.clientCertificate ? " (client certificate)" : ""}, ` +
        `vhost "${decision.vhost}", clean session ${this.cleanSession}, keepalive ${this.keepaliveSeconds} s, session present ${sessionPresent}`,
    );
    // Before any delivery takes a packet id: the resumed PUBRELs keep theirs [MQTT-4.4.0-1].
    client.deliveries.resumePubrels();
    const early = this.earlyDeliveries;
    this.earlyDeliveries = [];
    for (const delivery of early) this.deliver(delivery);
    this.setPaused(PauseReason.Connecting, false);
  }

  private sessionEvents(): SessionEvents {
    return {
      deliver: (delivery) => {
        if (this.phase === "connecting") this.earlyDeliveries.push(delivery);
        else if (this.phase === "connected") this.deliver(delivery);
        // Closing: leave it unsettled; closing the session returns it to the queue.
      },
      lost: (error) => this.fail(fromSessionLost(error, this.will !== undefined)),
      publishBlocked: (blocked) => {
        // Pauses nobody by itself: the next PUBLISH does (publish.ts), so subscribers keep going.
        this.brokerBlocked = blocked;
        this.client?.publishes.setBrokerBlocked(blocked);
      },
    };
  }

  private deliver(delivery: Delivery): void {
    try {
      this.client!.deliveries.deliver(delivery);
    } catch (error) {
      this.failUnexpected(error, "delivering a message");
    }
  }

  // --- what the handlers use ---------------------------------------------------------------------

  private send(packet: Packet): boolean {
    if (this.phase === "closed" || this.phase === "closing") return false;
    const bytes = encoder.encode(packet, this.version!);
    this.metrics.packetSent(packet.type, bytes.length);
    if (packet.type === PacketType.Publish) this.metrics.messageDelivered(packet.qos);
    return this.transport.write(bytes);
  }

  private fail(error: ProtocolError): void {
    void this.close(error, error.publishWill);
  }

  private failUnexpected(error: unknown, what: string): void {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.log.error(`unexpected error while ${what} (a bug; other connections are unaffected): ${detail}`);
    void this.close(new ProtocolError(ReasonCode.ImplementationSpecificError, `closing after an unexpected error while ${what}`, true, "error"), true);
  }

  private setPaused(reason: PauseReason, paused: boolean): void {
    if (this.phase === "closing" || this.phase === "closed") return;
    this.reader.setPaused(reason, paused);
  }

  // --- closing -----------------------------------------------------------------------------------

  /**
   * Starts closing (once): logs `error` (none for a clean DISCONNECT), sends what its protocol
   * version says (CONNACK code, v5 DISCONNECT, or nothing), closes the transport, then finishes
   * in the background. Returns the promise of the whole close sequence. `reason` is for the
   * metrics when it is not the error's reason code (the socket closed under us).
   */
  private close(error: ProtocolError | undefined, withWill: boolean, reason?: CloseReason): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    // Set before anything else: transport.close() may call onClose() synchronously.
    this.phase = "closing";
    this.metrics.connectionClosed(reason ?? error?.reasonCode ?? CloseReason.ClientDisconnect);
    if (error === undefined) {
      this.log.info(`client sent DISCONNECT${this.will === undefined || withWill ? "" : "; its will is discarded [MQTT-3.14.4-3]"}`);
    } else {
      this.log[error.logLevel](`closing MQTT connection from ${this.info.peer}: ${error.message}`);
      const bytes = encodeCloseBytes(error, this.version, this.connackSent);
      if (bytes !== undefined) {
        this.metrics.packetSent(bytes[0]! >> 4, bytes.length);
        this.transport.write(bytes);
      }
    }
    this.closing = this.finishClose(withWill);
    this.transport.close();
    return this.closing;
  }

  private async finishClose(withWill: boolean): Promise<void> {
    try {
      if (this.connecting !== undefined) await this.connecting;
      const session = this.session;
      if (session !== undefined) {
        // Publishes the client handed over before the end still go out, before the will.
        if (this.client !== undefined) await this.client.publishes.whenAnswered();
        await this.operations.whenIdle();
        const will = this.will;
        // Only a connection that got its CONNACK has a will in force.
        if (withWill && this.connackSent && will !== undefined) {
          const refused = await publishWill(session, will, { store: this.deps.retainedStore, vhost: this.info.vhost! });
          if (refused !== undefined) this.log.warning(`the will to ${JSON.stringify(will.topic)} was not published: ${refused.message}`);
          else this.log.debug(`published the will to ${JSON.stringify(will.topic)}`);
        }
        // Deliveries the client PUBREC'd are acked now, while this process keeps their PUBREL for
        // the reconnect; not when the process goes away with that state (RabbitMQ redelivers: a
        // possible duplicate rather than a message stuck at a client waiting for a PUBREL).
        this.client?.clear(!this.serverShuttingDown);
        await session.close({ clean: this.cleanSession });
      }
    } catch (error) {
      this.log.error(`closing the session failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      if (this.info.clientId !== undefined && this.info.vhost !== undefined) {
        this.deps.registry.release(this.info.vhost, this.info.clientId, this);
      }
      this.earlyDeliveries = [];
      this.phase = "closed";
    }
  }
}
