/** The flags that say which running adapter to ask: shared by `status` and `list_connections`. */
export const ADMIN_TARGET_ARGS = {
  config: {
    type: "string",
    valueHint: "FILE",
    description: "configuration naming the admin socket (default $RABBITMQ_MQTT_CONFIG_FILE or /etc/rabbitmq/rabbitmq_mqtt.conf)",
  },
  socket: { type: "string", valueHint: "PATH", description: "admin socket to ask (default: adapter.admin_socket of the configuration)" },
} as const;
