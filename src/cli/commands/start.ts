import { defineCommand } from "citty";
import { loadConfig } from "../../config/index.ts";
import { rejectUnknownFlags } from "../../install/index.ts";
import { createLogger } from "../../log.ts";
import { describeReload, redactUrl } from "../../admin/index.ts";
import { startServer } from "../../server.ts";
import { VERSION } from "../../version.ts";

/**
 * `rabbitmq-mqtt start [--config FILE]`: runs the adapter in the foreground (what systemd
 * runs). A bad configuration is reported in full and exits 1 before any port opens; SIGTERM
 * and SIGINT stop accepting, close the clients, wait for outstanding confirms and exit 0.
 * SIGHUP (systemctl reload) re-reads the file: a file with problems changes nothing (every
 * problem is logged); otherwise what can change while running is applied and one line says what
 * was applied and what needs a restart (admin/reload.ts).
 */
export const startCommand = defineCommand({
  meta: { name: "start", description: "Run the adapter in the foreground (what systemd runs)" },
  args: {
    config: {
      type: "string",
      description: "rabbitmq.conf-format file (default $RABBITMQ_MQTT_CONFIG_FILE or /etc/rabbitmq/rabbitmq_mqtt.conf)",
    },
  },
  async run({ args, rawArgs }) {
    // citty accepts any flag: a mistyped --confg would silently start on the default config.
    const unknown = rejectUnknownFlags(rawArgs, { config: { type: "string" } });
    if (unknown !== null) {
      console.error(`rabbitmq-mqtt start: ${unknown}`);
      process.exit(64); // EX_USAGE, before any port opens
    }
    const loadOptions = args.config === undefined ? {} : { file: args.config };
    const result = loadConfig(loadOptions);
    const bootLog = createLogger("info");
    for (const warning of result.warnings) bootLog.warning(warning);
    if ("errors" in result) {
      for (const error of result.errors) bootLog.error(error);
      bootLog.error(`configuration is invalid (${result.errors.length} problem(s)); not starting`);
      process.exit(1);
    }
    const { config } = result;
    const log = createLogger(config.logLevel);
    log.info(`rabbitmq-mqtt ${VERSION} starting (Bun ${Bun.version}, pid ${process.pid})`);
    log.info(`config file: ${config.configFile ?? "none (defaults)"}; RabbitMQ: ${redactUrl(config.amqpUrl)} (from ${config.amqpUrlSource})`);

    // Until the server runs, a SIGHUP (a reload right after start) must not end the process,
    // which is what the signal does by default: it is ignored, with a line saying so.
    const hupWhileStarting = () => log.warning("SIGHUP received while starting: ignored; reload again once the adapter has started");
    process.on("SIGHUP", hupWhileStarting);
    let server;
    try {
      server = await startServer(config, log);
    } catch (error) {
      log.error(`could not start: ${(error as Error).message}`);
      process.exit(1);
    }

    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal} received: stopping (no new connections, closing ${server.connections.size} client(s))`);
      await server.stop();
      log.info("stopped");
      process.exit(0);
    };
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGINT", () => void stop("SIGINT"));
    process.off("SIGHUP", hupWhileStarting);
    process.on("SIGHUP", () => {
      if (stopping) return;
      const file = config.configFile ?? "(defaults only)";
      log.info(`SIGHUP received: reloading the configuration from ${file}`);
      const reloaded = loadConfig(loadOptions);
      for (const warning of reloaded.warnings) log.warning(warning);
      if ("errors" in reloaded) {
        for (const error of reloaded.errors) log.error(error);
        log.error(`configuration reload failed: ${reloaded.errors.length} problem(s) in ${file}; the running configuration stays in force`);
        return;
      }
      const plan = server.reload(reloaded.config);
      const line = describeReload(plan, reloaded.config.configFile ?? file);
      // Written before a new level takes effect, so it shows whatever the level becomes.
      if (plan.needRestart.length > 0) log.warning(line);
      else log.info(line);
      log.setLevel(plan.inForce.logLevel);
    });
  },
});
