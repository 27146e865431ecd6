/**
 * The in-memory backend: a fake RabbitMQ in the test process, with the AMQP backend's semantics.
 *
 *   const backend = new MemoryBackend();             // vhost "/", amq.topic, guest/guest
 *   backend.broker.users.addUser("alice", "pw");
 *   backend.broker.users.setPermissions("alice", "/", { configure: ".*", write: ".*", read: "^$" });
 *   backend.broker.declareQueue("/", "tap"); backend.broker.bindQueue("/", "tap", "amq.topic", "#");
 *   … backend.broker.takeMessages("/", "tap")        // what MQTT published, with headers
 *   backend.broker.publish({ routingKey: "a.b", payload: "hi" })   // "from AMQP"
 *   backend.broker.holdConfirms() / releaseConfirms() / setBlocked(true) / loseConnections()
 */
/** The Backend implementation and its options. */
export { MemoryBackend, type MemoryBackendOptions } from "./memory-backend.ts";
/** The broker behind it: administration, the AMQP side for tests, simulated trouble. */
export {
  MemoryBroker,
  DEFAULT_EXCHANGE,
  type AmqpPublish,
  type PublishedMessage,
  type QueueInfo,
} from "./broker.ts";
/** Permission shapes as rabbitmqctl set_permissions / set_topic_permissions take them. */
export { FULL_PERMISSIONS, type Permissions, type TopicPermissions } from "./users.ts";
/** A stored message as `takeMessages` returns it. */
export type { StoredMessage } from "./queue.ts";
