/**
 * `Backend` on the in-process memory broker: the fake that protocol tests run against. It keeps
 * the AMQP backend's semantics (same names, translation, headers, refusals as values, lazy
 * queues, prefetch, redelivery), which the shared contract suite in
 * test/integration/backend-contract.test.ts checks against both.
 */
import type { Backend, BackendError, ConnectOutcome, ConnectRequest, SessionEvents } from "../backend.ts";
import { checkShortString, sessionQueueName } from "../amqp/naming.ts";
import { DEFAULT_EXCHANGE, MemoryBroker } from "./broker.ts";
import { MemoryBackendSession, type MemorySessionSettings } from "./session.ts";

/** Options of the memory backend; every field has the plugin's default. */
export interface MemoryBackendOptions {
  /** The broker to use (share one between backends to simulate several adapter instances). */
  broker?: MemoryBroker;
  /** `mqtt.exchange`; default `amq.topic`. */
  exchange?: string;
  /** `mqtt.prefetch`: unsettled deliveries per session; default 10. */
  prefetch?: number;
  /** `mqtt.subscription_ttl` in ms (`x-expires` of session queues); default 86 400 000. */
  subscriptionTtlMs?: number;
}

export class MemoryBackend implements Backend {
  readonly broker: MemoryBroker;
  private readonly settings: MemorySessionSettings;
  private readonly live = new Set<MemoryBackendSession>();

  constructor(options: MemoryBackendOptions = {}) {
    this.broker = options.broker ?? new MemoryBroker();
    this.settings = {
      exchange: options.exchange ?? DEFAULT_EXCHANGE,
      prefetch: options.prefetch ?? 10,
      subscriptionTtlMs: options.subscriptionTtlMs ?? 86_400_000,
    };
  }

  /** How many sessions are open (neither closed nor lost). */
  get sessionCount(): number {
    return this.live.size;
  }

  async connect(request: ConnectRequest, events: SessionEvents): Promise<ConnectOutcome> {
    const { broker } = this;
    const who = { username: request.username, vhost: request.vhost };
    const refused = broker.login(request.username, request.clientCertificate === undefined ? request.password : null, request.vhost);
    if (refused !== undefined) return { ok: false, error: refused };
    const queueName = sessionQueueName(request.clientId);
    const badName = checkShortString(queueName, `session queue name for client id "${request.clientId}"`);
    if (badName !== undefined) return { ok: false, error: badName };
    // Takeover happens here: the older connection's deliveries are back in the queue before we look at it.
    const takeover = await runOnAuthenticated(request);
    if (takeover !== undefined) return { ok: false, error: takeover };

    let queueExists = broker.queueExists(request.vhost, queueName);
    if (request.cleanSession && queueExists) {
      // [MQTT-3.1.2-6]: a clean session discards any previous session.
      const error = broker.deleteQueueAs(who, queueName);
      if (error !== undefined) return { ok: false, error };
      queueExists = false;
    }
    if (queueExists) {
      // Consuming the stored queue needs read permission: refuse now rather than fail later.
      const error = broker.checkConsume(who, queueName);
      if (error !== undefined) return { ok: false, error };
      // The AMQP backend checks that permission with basic.get + reject on the stored queue,
      // which marks its first message redelivered: mirror it so protocol tests see the same DUP.
      const head = broker.queue(request.vhost, queueName)?.ready[0];
      if (head !== undefined) head.redelivered = true;
    }
    const session = new MemoryBackendSession(broker, who, queueName, queueExists, request.cleanSession, this.settings, events, (s) => {
      this.live.delete(s);
      broker.removeListener(s.listener);
    });
    this.live.add(session);
    broker.addListener(session.listener);
    // Stored messages flow only once the caller has its session (and sent CONNACK); a session
    // that starts while publishing is blocked is told so then, as the AMQP backend does.
    setTimeout(() => {
      if (queueExists) session.resumeStoredQueue();
      if (broker.blocked) session.listener.blocked(true);
    }, 0);
    return { ok: true, session, sessionPresent: queueExists };
  }

  /** Ends every open session with `lost(unavailable)`: the adapter is going away. */
  async shutdown(): Promise<void> {
    for (const session of [...this.live]) session.lose({ kind: "unavailable", message: "the adapter is shutting down" });
  }
}

/** Runs the caller's takeover hook; a throw there must not escape connect(). */
async function runOnAuthenticated(request: ConnectRequest): Promise<BackendError | undefined> {
  try {
    await request.onAuthenticated?.();
    return undefined;
  } catch (error) {
    return { kind: "failed", message: `closing the previous connection of this client id failed: ${String(error)}` };
  }
}
