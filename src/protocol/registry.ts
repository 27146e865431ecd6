/**
 * The client-id registry: which connection currently holds each (vhost, client id) in this
 * process, so a second CONNECT with the same id can take over the first [MQTT-3.1.4-2].
 *
 * It spans one process only. Takeover across adapter instances goes through RabbitMQ (the
 * session queue), never through a side channel of ours (DESIGN.md).
 *
 * Invariant: an entry points at the newest connection that claimed the pair; a connection
 * removes the entry at close only if it still points at itself, so a closing old connection never
 * removes its successor.
 */

/** What the registry needs from a connection: a way to make it give up the client id. */
export interface RegisteredClient {
  /**
   * Close this connection because a newer one (`by` describes it for the log line) claimed its
   * client id. Resolves once its broker
   * session is closed (unsettled deliveries returned to the queue), so the newer session can open
   * without losing or doubling messages.
   */
  takeOver(by: string): Promise<void>;
}

export class ClientRegistry {
  private readonly clients = new Map<string, RegisteredClient>();

  /**
   * Makes `client` the holder of (vhost, clientId) and returns the connection it displaces (the
   * caller must await that one's `takeOver()`), or undefined when the id was free.
   */
  claim(vhost: string, clientId: string, client: RegisteredClient): RegisteredClient | undefined {
    const key = registryKey(vhost, clientId);
    const previous = this.clients.get(key);
    this.clients.set(key, client);
    return previous === client ? undefined : previous;
  }

  /** Removes the entry of (vhost, clientId) if it still points at `client`. */
  release(vhost: string, clientId: string, client: RegisteredClient): void {
    const key = registryKey(vhost, clientId);
    if (this.clients.get(key) === client) this.clients.delete(key);
  }

  /** The connection holding (vhost, clientId), if any. */
  lookup(vhost: string, clientId: string): RegisteredClient | undefined {
    return this.clients.get(registryKey(vhost, clientId));
  }

  /** Number of registered client ids. */
  get size(): number {
    return this.clients.size;
  }
}

/** U+0000 cannot occur in MQTT strings [MQTT-1.5.3-2], so it separates vhost and id unambiguously. */
function registryKey(vhost: string, clientId: string): string {
  return `${vhost}\u0000${clientId}`;
}
