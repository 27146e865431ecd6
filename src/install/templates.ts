/**
 * The two files `enable` writes, bundled into the executable as text at build time (static
 * imports: the compiled binary never reads files next to its source). Both are plain files
 * under packaging/, reviewed as they are installed.
 */
import unitText from "../../packaging/rabbitmq-mqtt.service" with { type: "text" };
import defaultConfigText from "../../packaging/rabbitmq_mqtt.conf" with { type: "text" };

/** packaging/rabbitmq-mqtt.service, installed unchanged as /etc/systemd/system/rabbitmq-mqtt.service. */
export const UNIT_FILE_TEXT: string = unitText;

/** packaging/rabbitmq_mqtt.conf: every key commented out at its default (see default-conf.ts). */
export const DEFAULT_CONFIG_TEXT: string = defaultConfigText;
