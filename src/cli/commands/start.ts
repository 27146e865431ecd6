import { defineCommand } from "citty";

export const startCommand = defineCommand({
  meta: { name: "start", description: "Run the adapter in the foreground (what systemd runs)" },
  args: {
    config: {
      type: "string",
      description: "rabbitmq.conf-format file (default /etc/rabbitmq/rabbitmq_mqtt.conf)",
    },
  },
  async run() {
    // TODO(issue 4): the adapter itself. Until it exists, say so instead of pretending to run.
    console.error("rabbitmq-mqtt start: the adapter is not built yet (see issue 4)");
    process.exitCode = 1;
  },
});
