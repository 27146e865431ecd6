/**
 * Local delivery of QoS 0 messages (`adapter.qos0_local_delivery`, on by default with the shared
 * fan-out): a QoS 0 PUBLISH of a client of this process is handed at once to this process's
 * clean-session QoS 0 subscribers it matches (qos0-fanout.ts), instead of only after its round
 * trip through RabbitMQ. It is still published to RabbitMQ as before, for everyone else (AMQP
 * consumers, session queues, other adapters), and so it also reaches the fan-out queue it was
 * delivered from; that copy (the "echo") is recognised there (echo-ledger.ts) and dropped.
 *
 * Why (issue 8): end-to-end latency. The round trip adapter → RabbitMQ → adapter is two more
 * socket hops and a pass through RabbitMQ on top of what the plugin does, which put our p99 at
 * 2× the plugin's. Between two clients of the same adapter, a message now takes one hop, like a
 * standalone broker's; RabbitMQ routes it once for the fan-out as before (it must: other
 * subscribers of the same users may be on other adapters). MQTT.js and mosquitto_sub clients
 * cannot tell the difference.
 *
 * What keeps it equal to the round trip:
 * - Permission: RabbitMQ decides whether a user may publish to an exchange and routing key (write
 *   permission, topic permissions), and tells us only by closing the channel of a refused
 *   publish. So a publish goes local only to a routing key that RabbitMQ has already confirmed a
 *   publish to on the same publish channel (`PublishChannel.isVerified`); RabbitMQ itself caches
 *   such checks for a channel's lifetime, and the set is dropped with the channel. The first
 *   publish to a key goes the normal way and asks for that confirm (`verify`). Reading needs
 *   nothing: the fan-out's members are there because RabbitMQ accepted their bindings.
 * - Order: a client's messages must not overtake its own earlier ones still travelling through
 *   RabbitMQ [MQTT-4.6.0-5]. RabbitMQ routes a channel's publishes in order and a queue delivers
 *   in order, so once the echo of a publisher's message has come back through a fan-out queue,
 *   every earlier message of that publisher that reached the queue has been delivered from it.
 *   A publisher therefore goes local on a fan-out only (1) when none of its messages with members
 *   there is on its way the normal way (`LocalPublisher.echoesPending`) and (2) after an echo of
 *   one of its messages published since the fan-out last bound a new key (`Qos0Fanout.epoch`,
 *   `LocalPublisher.fences`): a message that found no members when published is not tracked, yet
 *   may have been routed to a binding made just after. A message a full ledger (echo-ledger.ts)
 *   cannot track goes the normal way untracked too, so it drops the publisher's fences
 *   (`fenceResets`). (A replaced publish channel changes nothing here: the new one opens after
 *   the old one closed, so its publishes are routed after every publish of the old one.)
 * - Who gets it: the same members the echo would reach (`Qos0Fanout.localTargets`, the routing
 *   of `route`), with the same delivery (topic, payload, QoS 0).
 * Only QoS 0 publishes go local: a QoS 1 or 2 one must be in RabbitMQ before its PUBACK. It is
 * tracked like a QoS 0 one that goes the normal way, though: MQTT orders messages per topic and
 * QoS only [MQTT-4.6.0-5], but the plugin keeps a client's order across QoS levels (one channel,
 * one queue), and so do we.
 */
import type { QoS } from "../../codec/index.ts";
import type { ExpectedEcho } from "./echo-ledger.ts";
import type { LocalPublishHooks } from "./publish-channel.ts";
import type { FanoutDirectory, FanoutMember, Qos0Fanout } from "./qos0-fanout.ts";

/** What local delivery keeps on a publishing session. */
export interface LocalPublisher {
  /** Its publishes with members in a fan-out sent the normal way whose echoes have not come back. */
  echoesPending: number;
  /**
   * Per fan-out, the newest epoch of which an echo of its messages came back (see the file
   * comment); undefined until the first.
   */
  fences: Map<Qos0Fanout, number> | undefined;
  /**
   * Counts the times its fences were dropped because a message with members went the normal way
   * untracked (a full ledger): an echo of a message published before that fences nothing.
   */
  fenceResets: number;
}

/** The publish channel a publish goes out on (PublishChannel), as local delivery needs it. */
export interface PublishChannelView {
  /** RabbitMQ confirmed a publish to this exchange and routing key on the current channel. */
  isVerified(exchange: string, routingKey: string): boolean;
}

export class LocalQos0Delivery {
  /** Messages handed to a subscriber of this process directly (each counted once per fan-out). */
  deliveredLocally = 0;
  /** Echoes recognised and dropped. */
  echoesDropped = 0;
  private readonly byVhost = new Map<string, Set<Qos0Fanout>>();

  /** The directory a fan-out of `vhost` registers in while it consumes. */
  directoryFor(vhost: string): FanoutDirectory {
    return {
      add: (fanout) => {
        let fanouts = this.byVhost.get(vhost);
        if (fanouts === undefined) this.byVhost.set(vhost, (fanouts = new Set()));
        fanouts.add(fanout);
      },
      delete: (fanout) => {
        const fanouts = this.byVhost.get(vhost);
        if (fanouts === undefined) return;
        fanouts.delete(fanout);
        if (fanouts.size === 0) this.byVhost.delete(vhost);
      },
      deliveredLocally: () => {
        this.deliveredLocally++;
      },
      echoDropped: () => {
        this.echoesDropped++;
      },
    };
  }

  /**
   * Called for every publish of `publisher` before it is published: delivers a QoS 0 one locally
   * when it may (see the file comment), else records it as on its way to the fan-outs it reaches.
   * `payload` is only read during the call. Returns what the publish channel must tell about the
   * publish (undefined: nothing, it reaches no fan-out).
   */
  offer(
    publisher: LocalPublisher,
    vhost: string,
    exchange: string,
    routingKey: string,
    payload: Uint8Array,
    qos: QoS,
    channel: PublishChannelView | undefined,
  ): LocalPublishHooks | undefined {
    const fanouts = this.byVhost.get(vhost);
    if (fanouts === undefined) return undefined;
    let reached: Array<[Qos0Fanout, readonly FanoutMember[]]> | undefined;
    for (const fanout of fanouts) {
      if (fanout.exchange !== exchange) continue;
      const targets = fanout.localTargets(routingKey);
      if (targets.length > 0) (reached ??= []).push([fanout, targets]);
    }
    if (reached === undefined) return undefined;
    const echoes: ExpectedEcho[] = [];
    const verified = channel?.isVerified(exchange, routingKey) === true;
    if (qos === 0 && verified && publisher.echoesPending === 0 && reached.every(([fanout]) => publisher.fences?.get(fanout) === fanout.epoch)) {
      let untracked = false;
      for (const [fanout, targets] of reached) {
        const echo = fanout.deliverLocally(routingKey, payload, qos, targets);
        if (echo !== undefined) echoes.push(echo);
        else untracked = true; // the ledger is full: it goes the normal way to that fan-out
      }
      if (untracked) dropFences(publisher);
      return new PublishHooks(false, echoes);
    }
    const resets = publisher.fenceResets;
    for (const [fanout] of reached) {
      const epoch = fanout.epoch;
      const echo = fanout.expectEcho(routingKey, payload, qos, (arrived) => {
        publisher.echoesPending--;
        if (!arrived || publisher.fenceResets !== resets) return;
        const fences = (publisher.fences ??= new Map());
        if ((fences.get(fanout) ?? -1) < epoch) fences.set(fanout, epoch);
      });
      if (echo === undefined) {
        dropFences(publisher);
        continue;
      }
      publisher.echoesPending++;
      echoes.push(echo);
    }
    return new PublishHooks(!verified, echoes);
  }
}

/** A message of `publisher` goes the normal way untracked: local delivery waits for a new fence. */
function dropFences(publisher: LocalPublisher): void {
  publisher.fences = undefined;
  publisher.fenceResets++;
}

class PublishHooks implements LocalPublishHooks {
  constructor(
    readonly verify: boolean,
    private readonly echoes: ExpectedEcho[],
  ) {}

  discarded(): void {
    for (const echo of this.echoes) echo.ledger.withdraw(echo);
  }
}
