/**
 * The RabbitMQ backend (AMQP 0-9-1 via amqplib). server.ts is its only user:
 *
 *   const backend = new AmqpBackend({ url: "amqp://localhost:5672", exchange: "amq.topic",
 *     subscriptionTtlMs: 86_400_000, prefetch: 10, authCacheTtlMs: 5_000, log });
 */
/** `Backend` on RabbitMQ, and its constructor options. */
export { AmqpBackend, type AmqpBackendOptions } from "./amqp-backend.ts";
/** Names and topic ⇄ routing-key translation: the single place they are defined. */
export {
  sessionQueueName,
  toRoutingKey,
  toBindingKey,
  fromRoutingKey,
  fromBindingKey,
  checkShortString,
  AMQP_SHORT_STRING_MAX_BYTES,
} from "./naming.ts";
/** Header names of the MQTT ⇄ AMQP message contract. */
export { HEADER_PUBLISH_QOS, HEADER_DUP, messageQosFromHeaders } from "./headers.ts";
