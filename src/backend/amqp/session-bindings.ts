/**
 * Where one session's binding keys are bound: on its own session queue, or on its user's shared
 * QoS 0 fan-out (qos0-fanout.ts). A key is in at most one of the two; session.ts moves it when the
 * client subscribes again at another QoS. The fan-out asks `receivesOnOwnQueue` so that a message
 * routed to both places reaches the client once, from its own queue.
 */
import { bindingMatches, splitWords, type BindingWords } from "./binding-match.ts";
import type { FanoutMember, Qos0Fanout } from "./qos0-fanout.ts";

export type Placement = "own" | "shared";

export class SessionBindings {
  /** Keys on the own queue, split for matching. */
  private readonly ownKeys = new Map<string, BindingWords>();
  private readonly sharedKeys = new Set<string>();
  /** The fan-out the shared keys are bound on (that of the session's consume connection). */
  fanout: Qos0Fanout | undefined;

  /**
   * Records where `bindingKey` is bound now (undefined: nowhere) and returns where it was; a change
   * of the own queue's keys tells the fan-out, whose routing skips keys the own queue gets.
   */
  place(bindingKey: string, where: Placement | undefined): Placement | undefined {
    const previous = this.ownKeys.delete(bindingKey) ? "own" : this.sharedKeys.delete(bindingKey) ? "shared" : undefined;
    if (where === "own") this.ownKeys.set(bindingKey, splitWords(bindingKey));
    else if (where === "shared") this.sharedKeys.add(bindingKey);
    if (previous === "own" || where === "own") this.fanout?.invalidate();
    return previous;
  }

  /** Whether one of the own queue's bindings routes `routingWords` there too. */
  receivesOnOwnQueue(routingWords: readonly string[]): boolean {
    for (const words of this.ownKeys.values()) if (bindingMatches(words, routingWords)) return true;
    return false;
  }

  /** The session ended: `member` gives back its keys on the fan-out. */
  leaveFanout(member: FanoutMember): void {
    const fanout = this.fanout;
    if (fanout === undefined) return;
    this.fanout = undefined;
    fanout.leave(member, this.sharedKeys);
  }
}
