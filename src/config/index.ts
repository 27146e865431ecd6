/**
 * Configuration: rabbitmq.conf-format file + RABBITMQ_MQTT_* environment → AdapterConfig.
 * Other folders import from here only.
 */

/** The effective configuration and its parts (plain typed objects, camelCase, units in names). */
export type {
  AdapterConfig,
  AmqpTlsOptions,
  ListenerAddress,
  LogLevel,
  TcpListenOptions,
  TlsOptions,
  TlsVersion,
  WebMqttConfig,
} from "./adapter-config.ts";

/**
 * Reads the config file (default /etc/rabbitmq/rabbitmq_mqtt.conf, or $RABBITMQ_MQTT_CONFIG_FILE),
 * applies RABBITMQ_MQTT_* overrides and derives adapter.amqp_url from RabbitMQ's own config when
 * unset. Returns `{ config, warnings }`, or `{ errors, warnings }` with every problem at once
 * (`file:line: key = value: what is wrong, expected …`). Never throws for bad input.
 */
export { loadConfig, DEFAULT_CONFIG_FILE, DEFAULT_RABBITMQ_CONF_DIR } from "./load.ts";
export type { LoadOptions, LoadResult } from "./load.ts";

/** The effective configuration as rabbitmq.conf text, passwords masked (for `check-config`). */
export { renderConfig } from "./render.ts";
export type { RenderOptions } from "./render.ts";

/** The table of every key (name, type, default, description, field), e.g. for docs or `--help`. */
export { SCHEMA, buildDefaults } from "./schema.ts";
export type { KeySpec, KeyStatus } from "./schema.ts";

/** Environment override naming: envNameFor("mqtt.vhost") = "RABBITMQ_MQTT_MQTT__VHOST". */
export { envNameFor, ENV_PREFIX, CONFIG_FILE_ENV } from "./env-overrides.ts";

/** The rabbitmq.conf parser, for tools that read RabbitMQ's own file. */
export { parseConf } from "./parse.ts";
export type { ConfEntry, ParsedConf } from "./parse.ts";
