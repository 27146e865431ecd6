#!/usr/bin/env bun
/**
 * `rabbitmq-mqtt`: the command line, shaped like RabbitMQ's own tools.
 * Sub-commands live in ./commands, one file each; this file only wires them.
 */
import { defineCommand, runMain } from "citty";
import { VERSION } from "../version.ts";
import { checkConfigCommand } from "./commands/check-config.ts";
import { disableCommand } from "./commands/disable.ts";
import { enableCommand } from "./commands/enable.ts";
import { listConnectionsCommand } from "./commands/list-connections.ts";
import { startCommand } from "./commands/start.ts";
import { statusCommand } from "./commands/status.ts";

export const main = defineCommand({
  meta: {
    name: "rabbitmq-mqtt",
    version: VERSION,
    description: "MQTT 3.1 / 3.1.1 / 5.0 adapter for RabbitMQ (AMQP 0-9-1)",
  },
  subCommands: {
    start: startCommand,
    enable: enableCommand,
    disable: disableCommand,
    "check-config": checkConfigCommand,
    status: statusCommand,
    list_connections: listConnectionsCommand("list_connections"),
    // rabbitmqctl's name for the same listing.
    list_mqtt_connections: listConnectionsCommand("list_mqtt_connections"),
  },
});

if (import.meta.main) {
  await runMain(main);
}
