/**
 * The AMQP message headers of the compatibility contract, shared by the AMQP backend and the
 * memory fake so both speak the same words:
 * - `x-mqtt-publish-qos` (AMQP byte, field type `b`, as the rabbitmq_mqtt plugin writes it):
 *   the publisher's QoS; an AMQP publisher usually sends none, which counts as QoS 1;
 * - `x-mqtt-dup` (AMQP boolean): the MQTT DUP flag of the PUBLISH.
 */
import type { QoS } from "../../codec/index.ts";

export const HEADER_PUBLISH_QOS = "x-mqtt-publish-qos";
export const HEADER_DUP = "x-mqtt-dup";

/**
 * The publisher's QoS from the decoded headers of a delivery: the header clamped to 0..2
 * (other AMQP clients may write any integer type), or 1 when absent or not a number.
 */
export function messageQosFromHeaders(headers: Record<string, unknown> | undefined): QoS {
  const value = headers?.[HEADER_PUBLISH_QOS];
  const qos = typeof value === "number" ? value : typeof value === "bigint" ? Number(value) : Number.NaN;
  if (!Number.isFinite(qos)) return 1;
  return qos <= 0 ? 0 : qos >= 2 ? 2 : (Math.trunc(qos) as QoS);
}
