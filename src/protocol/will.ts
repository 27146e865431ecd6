/**
 * The Last Will: kept from CONNECT, published on every end of the connection that is not the
 * client's DISCONNECT [MQTT-3.1.2-8] (socket closed or broken, keepalive expiry, protocol
 * violation, a broker refusal, takeover), discarded on DISCONNECT [MQTT-3.14.4-3].
 *
 * Takeover: MQTT 3.1.1 §3.1.4 says the Server "MUST disconnect the existing Client"
 * [MQTT-3.1.4-2]; that is the server closing the Network Connection, not a DISCONNECT from the
 * client, so the will is published [MQTT-3.1.2-8] (MQTT 5 says the same explicitly, §3.1.4).
 *
 * The will goes through the connection's own backend session, before that session closes: it is
 * subject to the same permissions as any PUBLISH of that client, and it is published once. A
 * will with Will Retain is also stored as the topic's retained message [MQTT-3.1.2-17], once
 * RabbitMQ accepted it (like any retained PUBLISH, publish.ts).
 */
import type { BackendError, BackendSession } from "../backend/backend.ts";
import type { ConnectPacket, QoS } from "../codec/index.ts";
import type { RetainedStore } from "../retained/index.ts";

export interface WillMessage {
  topic: string;
  /** Our own copy: the CONNECT's payload is a view into the decoder's bytes, dead after the handler. */
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
}

/** The will a CONNECT carries, copied out of the packet; undefined without the Will Flag. */
export function captureWill(packet: ConnectPacket): WillMessage | undefined {
  const will = packet.will;
  if (will === undefined) return undefined;
  // Copy once, here: the will lives as long as the connection (STYLE: copy at the boundary).
  return { topic: will.topic, payload: will.payload.slice(), qos: will.qos, retain: will.retain };
}

/**
 * Publishes `will` through `session` (with its QoS and retain flag) and, with Will Retain, stores
 * it in `retained` under `vhost`; the refusal, if any, for the log.
 */
export async function publishWill(
  session: BackendSession,
  will: WillMessage,
  retained?: { store: RetainedStore; vhost: string },
): Promise<BackendError | undefined> {
  let refused: BackendError | undefined;
  try {
    refused = await session.publish({ topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, dup: false, confirm: will.retain });
  } catch (error) {
    // The contract says publish never rejects; a backend bug must not stop the close sequence.
    return { kind: "failed", message: `publishing the will threw: ${String(error)}` };
  }
  if (refused === undefined && will.retain && retained !== undefined) {
    // The will is published either way; a store that refuses to retain it has logged why.
    await retained.store.put(retained.vhost, will.topic, will.payload, will.qos).catch(() => undefined);
  }
  return refused;
}
