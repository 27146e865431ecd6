/**
 * A session's PUBLISH as a basic.publish on its user's shared confirm channel (publish-channel.ts
 * says how that channel is shared and how a refusal is pinned on its publisher), after local
 * delivery has had its look at it (local-qos0.ts).
 *
 * Payloads: a QoS 0 one sent at once is wrapped without copying (amqplib copies it into its frame
 * during the call); everything kept past the call (a QoS >= 1 publish until its confirm, anything
 * waiting for the publish connection) is copied once.
 *
 * Invariant: a session's publishes reach the publish channel in call order: one that waits for the
 * connection is queued behind the others waiting (SessionConnections.queuePublish), never sent
 * ahead of them.
 */
import type { Options } from "amqplib";
import type { BackendError, OutboundMessage } from "../backend.ts";
import { HEADER_DUP, HEADER_PUBLISH_QOS } from "./headers.ts";
import type { LocalPublisher, LocalQos0Delivery } from "./local-qos0.ts";
import { checkShortString, toRoutingKey } from "./naming.ts";
import type { PublishEntry } from "./publish-channel.ts";
import type { SessionConnections } from "./session-connections.ts";

/** What publishing needs of its session. */
export interface PublishingSession extends LocalPublisher {
  readonly vhost: string;
  /** A QoS 0 publish was refused (or could not be sent): the session is over (publish-channel.ts). */
  lost(error: BackendError): void;
}

/** The session settings publishing reads (part of AmqpSessionSettings). */
export interface PublishSettings {
  exchange: string;
  /** Set when QoS 0 publishes may reach this process's shared subscribers directly (local-qos0.ts). */
  localQos0: LocalQos0Delivery | undefined;
}

/** basic.publish properties per [qos][dup]: built once, amqplib only reads them. */
const PUBLISH_OPTIONS: Options.Publish[][] = [0, 1, 2].map((qos) =>
  [false, true].map((dup) => ({
    deliveryMode: qos === 0 ? 1 : 2,
    headers: { [HEADER_PUBLISH_QOS]: { "!": "byte", value: qos }, [HEADER_DUP]: dup },
  })),
);

const RESOLVED = Promise.resolve(undefined);

/**
 * Publishes `message` for `session`: resolves once RabbitMQ confirmed it (QoS >= 1, or `confirm`)
 * or at once (QoS 0), with the refusal if there was one. Never rejects.
 */
export function publishMessage(
  session: PublishingSession,
  connections: SessionConnections,
  settings: PublishSettings,
  message: OutboundMessage,
): Promise<BackendError | undefined> {
  const routingKey = toRoutingKey(message.topic);
  const tooLong = checkShortString(routingKey, `routing key for topic "${message.topic}"`);
  if (tooLong !== undefined) return Promise.resolve(tooLong);
  const { payload, qos } = message;
  const options = PUBLISH_OPTIONS[qos]![message.dup ? 1 : 0]!;
  const ready = connections.publisher;
  const { exchange, localQos0 } = settings;
  // Local delivery first: `payload` may be the decoder's memory, valid only now.
  const local = localQos0?.offer(session, session.vhost, exchange, routingKey, payload, qos, ready);
  // Only a QoS 0 publish nobody waits for gets here: say which one ended the session.
  const { topic } = message;
  const onRefused = (error: BackendError): void => session.lost({ ...error, message: `a QoS 0 PUBLISH to topic ${JSON.stringify(topic)} failed: ${error.message}` });
  if (qos === 0 && message.confirm !== true) {
    const entry: PublishEntry = {
      exchange,
      routingKey,
      // A view over the caller's bytes: amqplib copies them into its frame before returning.
      content: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      bytes: payload.byteLength,
      options,
      qos,
      resolve: undefined,
      onRefused,
      local,
    };
    if (ready !== undefined) {
      ready.publish(entry);
      return RESOLVED;
    }
    entry.content = Buffer.from(payload); // waits for the connection: the caller's view dies first
    return new Promise((settle) => connections.queuePublish(entry, settle));
  }
  return new Promise((resolve) => {
    const entry: PublishEntry = {
      exchange,
      routingKey,
      // Copied once: kept until the confirm, for a re-publish if the shared channel is replaced.
      content: Buffer.from(payload),
      bytes: payload.byteLength,
      options,
      // A QoS 0 publish that must be confirmed (retained) is tracked like QoS 1: kept until its
      // confirm and re-published after an innocent channel close. Its headers still say QoS 0.
      qos: qos === 0 ? 1 : qos,
      resolve,
      onRefused,
      local,
    };
    if (ready !== undefined) ready.publish(entry);
    else connections.queuePublish(entry, resolve);
  });
}
