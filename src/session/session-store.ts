/**
 * SessionStore: where session state lives between a client's connections, keyed by
 * (vhost, client id). The memory store keeps it for the life of this process; the interface lets
 * a store shared by several adapter instances replace it later.
 *
 * The store hands out the live state object: a connection mutates it in place while connected,
 * so there is nothing to "save" at disconnect. A clean session deletes its entry.
 */
import { createSessionState, hasPacketIdState, type SessionState } from "./session-state.ts";

export interface SessionStore {
  /** The stored state of (vhost, clientId), or undefined when there is none. */
  get(vhost: string, clientId: string): SessionState | undefined;
  /** Stores `state` for (vhost, clientId), replacing any earlier one. */
  set(vhost: string, clientId: string, state: SessionState): void;
  /** Forgets (vhost, clientId); unknown keys are not an error. */
  delete(vhost: string, clientId: string): void;
  /** Number of stored sessions (for metrics and tests). */
  readonly size: number;
}

/**
 * One Map for the whole process. The key joins vhost and client id with U+0000, which MQTT
 * strings cannot contain [MQTT-1.5.3-2], so two different pairs never share a key.
 */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, StoredSession>();

  constructor(private readonly now: () => number = Date.now) {}

  get(vhost: string, clientId: string): SessionState | undefined {
    const stored = this.sessions.get(sessionKey(vhost, clientId));
    if (stored === undefined) return undefined;
    stored.lastSeenMs = this.now();
    return stored.state;
  }

  set(vhost: string, clientId: string, state: SessionState): void {
    this.sessions.set(sessionKey(vhost, clientId), { vhost, clientId, state, lastSeenMs: this.now() });
  }

  /**
   * Forgets sessions not seen for `maxIdleMs` (the session queue's x-expires, mqtt.subscription_ttl:
   * RabbitMQ has dropped their queue by then, so their state is stale), keeping every session whose
   * client is connected now (`isConnected`) and restarting its clock. Without this the map would
   * grow with every persistent client id ever seen. Returns how many were forgotten.
   */
  sweep(maxIdleMs: number, isConnected: (vhost: string, clientId: string) => boolean): number {
    const now = this.now();
    let forgotten = 0;
    for (const [key, stored] of this.sessions) {
      if (isConnected(stored.vhost, stored.clientId)) stored.lastSeenMs = now;
      else if (now - stored.lastSeenMs >= maxIdleMs) {
        this.sessions.delete(key);
        forgotten++;
      }
    }
    return forgotten;
  }

  delete(vhost: string, clientId: string): void {
    this.sessions.delete(sessionKey(vhost, clientId));
  }

  get size(): number {
    return this.sessions.size;
  }
}

interface StoredSession {
  vhost: string;
  clientId: string;
  state: SessionState;
  /** Last get/set, or last sweep that found the client connected (ms, the store's clock). */
  lastSeenMs: number;
}

/** The Map key of (vhost, clientId). */
export function sessionKey(vhost: string, clientId: string): string {
  return `${vhost}\u0000${clientId}`;
}

/**
 * The state a new connection of (vhost, clientId) works with, and whether the session is present
 * (CONNACK Session Present). A clean session starts empty and is never stored (and any stored
 * leftover is dropped, as the broker drops the queue). A persistent session continues the stored
 * state when the broker still has the session; else it starts empty and is stored: a stored
 * state without a broker session is stale (the queue expired or was deleted), and a broker
 * session without a stored state was made by another process or before a restart (its bindings'
 * granted QoS is unknown here).
 *
 * One exception: a persistent session that never subscribed has no queue at the broker, yet it
 * may have a QoS 2 publish half done (PUBREC sent, PUBREL not yet received). Its stored state is
 * continued and the session reported present, so the client resends its PUBREL (or its PUBLISH
 * with DUP, which is then not published twice) [MQTT-4.3.3-2] [MQTT-4.4.0-1].
 */
export function resumeSession(
  store: SessionStore,
  vhost: string,
  clientId: string,
  cleanSession: boolean,
  brokerSessionPresent: boolean,
): { state: SessionState; sessionPresent: boolean } {
  if (cleanSession) {
    store.delete(vhost, clientId);
    return { state: createSessionState(), sessionPresent: false };
  }
  const stored = store.get(vhost, clientId);
  if (stored !== undefined) {
    if (brokerSessionPresent) return { state: stored, sessionPresent: true };
    if (stored.subscriptions.size === 0 && hasPacketIdState(stored)) return { state: stored, sessionPresent: true };
  }
  const fresh = createSessionState();
  store.set(vhost, clientId, fresh);
  return { state: fresh, sessionPresent: brokerSessionPresent };
}

/** {@link resumeSession}'s state only. */
export function resumeSessionState(
  store: SessionStore,
  vhost: string,
  clientId: string,
  cleanSession: boolean,
  sessionPresent: boolean,
): SessionState {
  return resumeSession(store, vhost, clientId, cleanSession, sessionPresent).state;
}
