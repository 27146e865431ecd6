/**
 * Shared QoS 0 fan-out (`adapter.qos0_fanout = shared`, the default): the clean-session QoS 0
 * subscriptions of every client of one (vhost, user) on one consume connection bind ONE queue,
 * and this process hands each message it receives there to every client whose bindings match.
 *
 * Why (issue 8, DESIGN.md "a clean-session QoS 0 subscriber needs no queue of its own if the
 * adapter can fan out locally"): with a queue per client RabbitMQ enqueues, delivers and takes an
 * ack for every subscriber of a message, and that — not the adapter — was the bottleneck of the
 * QoS 0 load benchmark (RabbitMQ's CPU 2-3× the adapter's). Here it routes each message once per
 * (vhost, user), delivers it without acks (QoS 0 is at most once), and a subscriber costs one
 * binding only when it is the first for its routing key. RabbitMQ 3.12+ does the same inside its
 * own plugin (the QoS 0 pseudo-queue).
 *
 * The queue: `mqtt-subscription-adapter-fanout-<process token>-<n>` (the plugin's prefix, so
 * permission patterns written for `mqtt-subscription-.*` cover it), exclusive to the consume
 * connection, so RabbitMQ deletes it when that connection or this process goes. Declared at the
 * first shared subscription, read access probed on the subscriber's ops channel (as a session
 * queue is, session.ts), consumed with no-ack on a shared consumer channel. Permissions are
 * RabbitMQ's own: every queue.bind runs under the user's connection, so a filter the user may
 * not read is refused (SUBACK 0x80) exactly as on a session queue.
 *
 * Bindings are reference-counted per binding key: the first subscriber of a key binds it, the
 * last one to leave unbinds it; operations on one key run in order (an unbind and a rebind never
 * race on different channels). Routing: RabbitMQ's topic rules (binding-match.ts) pick the
 * members whose keys match the routing key; a member whose own session queue also receives the
 * routing key (an overlapping QoS 1 subscription) is skipped, so a client gets one copy, from its
 * queue, at the higher QoS. The member list per routing key is cached until a binding changes.
 *
 * What it costs a client: no flow control. A delivery is never held for a slow client (that would
 * stall every client of the user): a client whose socket is backed up loses QoS 0 messages
 * (`Delivery.droppable`, counted in `qos0_messages_dropped_total`), as MQTT allows at QoS 0 and as
 * RabbitMQ 3.12's plugin does (`mailbox_soft_limit`). `adapter.qos0_fanout = per_session` keeps
 * the queue-per-client behaviour (and its prefetch window) for those who prefer it.
 *
 * Local delivery (`adapter.qos0_local_delivery`, local-qos0.ts): while its consumer runs, the
 * fan-out is listed in a directory of its vhost, so a QoS 0 publish of a client of this process
 * can be handed to the members here at once (`deliverLocally`); the copy RabbitMQ routes back to
 * the queue is then recognised in `echoes` and dropped.
 *
 * Invariants: a member is in a key's `members` only after that key's bind succeeded; a key with
 * no members and no add in flight is unbound (or being unbound) and absent from `keys`; the
 * routing cache never holds a member list computed before the last membership change; the
 * fan-out is in its directory only while its consumer is registered and local delivery is on.
 */
import type { ConsumeMessage } from "amqplib";
import { randomBytes } from "node:crypto";
import type { QoS } from "../../codec/index.ts";
import type { BackendError, Delivery } from "../backend.ts";
import { bindingMatches, splitWords, type BindingWords } from "./binding-match.ts";
import type { ConsumerChannel, ConsumerRegistration } from "./consumer-channel.ts";
import { EchoLedger, type ExpectedEcho } from "./echo-ledger.ts";
import { messageQosFromHeaders } from "./headers.ts";
import { fromRoutingKey } from "./naming.ts";
import { probeRead, type OpsLease } from "./ops-channels.ts";

/** What the fan-out needs of a session bound through it. */
export interface FanoutMember {
  /** A message for the client (tag `SHARED_DELIVERY_TAG`, droppable). */
  deliverShared(delivery: Delivery): void;
  /** Whether the member's own session queue receives this routing key too (then it is skipped here). */
  receivesOnOwnQueue(routingWords: readonly string[]): boolean;
  /** The fan-out queue is gone (deleted by an operator, consumer refused): its subscriptions are broken. */
  fanoutLost(error: BackendError): void;
}

/** What the fan-out needs of its connection (PooledConnection). */
export interface FanoutConnection {
  readonly ops: { lease(): OpsLease };
  pickConsumerChannel(): ConsumerChannel;
  readonly dead: BackendError | undefined;
}

/** Where a fan-out makes itself known for local delivery (local-qos0.ts: one per vhost). */
export interface FanoutDirectory {
  add(fanout: Qos0Fanout): void;
  delete(fanout: Qos0Fanout): void;
  /** Counts for the metrics. */
  deliveredLocally(): void;
  echoDropped(): void;
}

/** A shared delivery needs no settling: every settle() of it is a no-op. */
export const SHARED_DELIVERY_TAG: object = Object.freeze({ shared: true });

const NO_MEMBERS: readonly FanoutMember[] = Object.freeze([]);

/** Routing keys whose member lists are remembered (a bound on memory, not a tuning knob). */
const ROUTE_CACHE_MAX = 4096;

/** Names this process's fan-out queues apart from another adapter's on the same RabbitMQ. */
const PROCESS_TOKEN = randomBytes(4).toString("hex");
let queueCounter = 0;

export const FANOUT_QUEUE_PREFIX = "mqtt-subscription-adapter-fanout-";

type Failure = { stage: "queue" | "bind"; error: BackendError };

interface KeyState {
  words: BindingWords;
  /** Has `*` or `#`: found by matching; a key without is found by lookup (routing key = binding key). */
  wildcard: boolean;
  members: Set<FanoutMember>;
  /** The key's queue.bind (shared by every add waiting for it). */
  bound: Promise<BackendError | undefined>;
}

export class Qos0Fanout {
  readonly queueName = `${FANOUT_QUEUE_PREFIX}${PROCESS_TOKEN}-${++queueCounter}`;
  private ready: Promise<BackendError | undefined> | undefined;
  private registration: ConsumerRegistration | undefined;
  private readonly keys = new Map<string, KeyState>();
  /** The wildcard subset of `keys`: only these are matched one by one for a routing key. */
  private readonly wildcardKeys = new Set<KeyState>();
  /** Unbinds in flight per key: a new bind of the key waits for them. */
  private readonly unbinding = new Map<string, Promise<unknown>>();
  private readonly routes = new Map<string, readonly FanoutMember[]>();
  /** Publishes of this process the queue is to receive back (local delivery only). */
  private readonly echoes = new EchoLedger();
  /**
   * Counts binding keys getting their first member. A publisher's message that found no members
   * here is not tracked, yet may have been routed here after such a binding was made: local
   * delivery waits for an echo of a message published in the current epoch (local-qos0.ts).
   */
  epoch = 0;

  constructor(
    private readonly connection: FanoutConnection,
    readonly exchange: string,
    /** For the operator: why this user's QoS 0 subscribers fall back to queues of their own. */
    private readonly logWarning: (message: string) => void = () => {},
    /** Set when local delivery is on: where this fan-out is listed while it consumes. */
    private readonly directory: FanoutDirectory | undefined = undefined,
  ) {}

  /**
   * Binds `bindingKey` for `member` (the queue is made first if needed). A failure says whether
   * the queue could not be made or consumed (`queue`: use the session's own queue instead) or the
   * binding was refused (`bind`: a SUBACK failure, as on a session queue).
   */
  async add(member: FanoutMember, bindingKey: string, lease: OpsLease): Promise<Failure | undefined> {
    const queueError = await this.ensureQueue(lease);
    if (queueError !== undefined) return { stage: "queue", error: queueError };
    let state = this.keys.get(bindingKey);
    if (state === undefined) {
      const previousUnbind = this.unbinding.get(bindingKey);
      const bound = (async () => {
        if (previousUnbind !== undefined) await previousUnbind;
        const result = await lease.run((ch) => ch.bindQueue(this.queueName, this.exchange, bindingKey));
        return result.ok ? undefined : result.error;
      })();
      const words = splitWords(bindingKey);
      state = { words, wildcard: words.includes("*") || words.includes("#"), members: new Set(), bound };
      this.keys.set(bindingKey, state);
      if (state.wildcard) this.wildcardKeys.add(state);
    }
    const refused = await state.bound;
    if (refused !== undefined) {
      if (this.keys.get(bindingKey) === state && state.members.size === 0) this.forget(bindingKey, state);
      return { stage: "bind", error: refused };
    }
    if (this.keys.get(bindingKey) !== state) return this.add(member, bindingKey, lease); // unbound meanwhile
    if (state.members.size === 0) this.epoch++;
    state.members.add(member);
    this.routes.clear();
    return undefined;
  }

  /** Drops `member`'s binding of `bindingKey`; the key is unbound when nobody else holds it. */
  remove(member: FanoutMember, bindingKey: string): void {
    const state = this.keys.get(bindingKey);
    if (state === undefined || !state.members.delete(member)) return;
    this.routes.clear();
    if (state.members.size > 0) return;
    this.forget(bindingKey, state);
    if (this.connection.dead !== undefined) return;
    const unbind = (async () => {
      const lease = this.connection.ops.lease();
      try {
        await lease.run((ch) => ch.unbindQueue(this.queueName, this.exchange, bindingKey));
      } finally {
        lease.release();
      }
    })();
    this.unbinding.set(bindingKey, unbind);
    void unbind.finally(() => {
      if (this.unbinding.get(bindingKey) === unbind) this.unbinding.delete(bindingKey);
    });
  }

  /** The member is gone: drops every binding it held. */
  leave(member: FanoutMember, bindingKeys: Iterable<string>): void {
    for (const key of bindingKeys) this.remove(member, key);
  }

  /** A member's own-queue bindings changed: recompute who gets what. */
  invalidate(): void {
    this.routes.clear();
  }

  /**
   * The connection is gone, and the queue with it (its members hear through their sessions): no
   * more local delivery here, and nothing of what was expected will come back.
   */
  connectionClosed(): void {
    this.stopConsuming();
  }

  /** Binding keys bound now (for tests and status). */
  get boundKeys(): string[] {
    return [...this.keys.keys()];
  }

  private ensureQueue(lease: OpsLease): Promise<BackendError | undefined> {
    this.ready ??= this.makeQueue(lease).then((error) => {
      if (error !== undefined) {
        this.ready = undefined; // the next subscriber tries again
        this.logWarning(
          `cannot use the shared QoS 0 queue '${this.queueName}' (${error.message}); ` +
            "this subscriber's QoS 0 subscriptions use its own session queue (adapter.qos0_fanout)",
        );
      }
      return error;
    });
    return this.ready;
  }

  private async makeQueue(lease: OpsLease): Promise<BackendError | undefined> {
    const declared = await lease.run((ch) => ch.assertQueue(this.queueName, { exclusive: true, durable: false, autoDelete: false }));
    if (!declared.ok) return declared.error;
    const unreadable = await probeRead(lease, this.queueName);
    if (unreadable !== undefined) return unreadable;
    const registration: ConsumerRegistration = {
      queue: this.queueName,
      noAck: true,
      onMessage: (message) => this.route(message),
      onCancelled: (error) => this.lost(registration, error),
    };
    this.registration = registration;
    const refused = await this.connection.pickConsumerChannel().consume(registration);
    if (refused === undefined && this.registration === registration) this.directory?.add(this);
    return refused;
  }

  /**
   * Local delivery: the members a message with `routingKey` reaches now; none while the queue is
   * not consumed (nothing would come back to tell an echo from a message).
   */
  localTargets(routingKey: string): readonly FanoutMember[] {
    if (this.registration === undefined || this.connection.dead !== undefined || this.directory === undefined) return NO_MEMBERS;
    return this.targetsFor(routingKey);
  }

  /**
   * Local delivery: gives a QoS 0 publish of this process to `targets` (from `localTargets`) now,
   * and drops its copy when RabbitMQ delivers it here. `payload` is only read during the call.
   * Returns the expected echo; undefined, and nothing delivered, when the ledger is full: the
   * message then goes the normal way.
   */
  deliverLocally(routingKey: string, payload: Uint8Array, messageQos: QoS, targets: readonly FanoutMember[]): ExpectedEcho | undefined {
    const echo = this.echoes.expect(routingKey, payload, messageQos, undefined);
    if (echo === undefined) return undefined;
    this.deliver(routingKey, payload, messageQos, targets);
    this.directory?.deliveredLocally();
    return echo;
  }

  /**
   * Local delivery: a publish of this process with members here that goes the normal way (through
   * RabbitMQ); `onSeen(true)` is called once it has been delivered from the queue, `onSeen(false)`
   * when it never will be. Undefined if it cannot be tracked (the ledger is full; nothing will be
   * called).
   */
  expectEcho(routingKey: string, payload: Uint8Array, messageQos: QoS, onSeen: (arrived: boolean) => void): ExpectedEcho | undefined {
    return this.echoes.expect(routingKey, payload, messageQos, onSeen);
  }

  private route(message: ConsumeMessage): void {
    const { routingKey } = message.fields;
    const messageQos = messageQosFromHeaders(message.properties.headers);
    let seen: ((arrived: boolean) => void) | undefined;
    if (this.echoes.size > 0) {
      const echo = this.echoes.take(routingKey, message.content, messageQos);
      if (echo !== undefined && echo.onSeen === undefined) {
        this.directory?.echoDropped();
        return; // delivered locally already
      }
      seen = echo?.onSeen;
    }
    this.deliver(routingKey, message.content, messageQos, this.targetsFor(routingKey));
    seen?.(true);
  }

  private targetsFor(routingKey: string): readonly FanoutMember[] {
    let targets = this.routes.get(routingKey);
    if (targets === undefined) {
      targets = this.membersFor(routingKey);
      if (this.routes.size >= ROUTE_CACHE_MAX) this.routes.clear();
      this.routes.set(routingKey, targets);
    }
    return targets;
  }

  private deliver(routingKey: string, payload: Uint8Array, messageQos: QoS, targets: readonly FanoutMember[]): void {
    if (targets.length === 0) return;
    // One Delivery for every member: deliver() only reads it, and writes the payload before returning.
    const delivery: Delivery = {
      tag: SHARED_DELIVERY_TAG,
      topic: fromRoutingKey(routingKey),
      routingKey,
      payload,
      messageQos,
      redelivered: false,
      droppable: true,
    };
    for (const member of targets) member.deliverShared(delivery);
  }

  private forget(bindingKey: string, state: KeyState): void {
    this.keys.delete(bindingKey);
    this.wildcardKeys.delete(state);
  }

  /**
   * Who gets a message with `routingKey`: the members of the binding key equal to it (one lookup:
   * devices subscribed to their own topics cost nothing per message), and of every wildcard key
   * that matches it (one match each).
   */
  private membersFor(routingKey: string): FanoutMember[] {
    const words = splitWords(routingKey);
    const found = new Set<FanoutMember>();
    const exact = this.keys.get(routingKey);
    if (exact !== undefined && !exact.wildcard) for (const member of exact.members) found.add(member);
    for (const state of this.wildcardKeys) {
      if (state.members.size === 0 || !bindingMatches(state.words, words)) continue;
      for (const member of state.members) found.add(member);
    }
    const targets: FanoutMember[] = [];
    for (const member of found) if (!member.receivesOnOwnQueue(words)) targets.push(member);
    return targets;
  }

  /** The queue is no longer consumed: a next subscriber declares it again; nothing expected comes back. */
  private stopConsuming(): void {
    this.registration = undefined;
    this.ready = undefined;
    this.directory?.delete(this);
    this.echoes.clear();
  }

  /** RabbitMQ cancelled our consumer (the queue was deleted): every member's subscriptions are broken. */
  private lost(registration: ConsumerRegistration, error: BackendError): void {
    if (this.registration !== registration) return;
    this.stopConsuming();
    const members = new Set<FanoutMember>();
    for (const state of this.keys.values()) for (const member of state.members) members.add(member);
    this.keys.clear();
    this.wildcardKeys.clear();
    this.routes.clear();
    for (const member of members) member.fanoutLost(error);
  }
}
