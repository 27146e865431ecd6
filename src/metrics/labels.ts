/**
 * Label values of the adapter's metrics, made at scrape time from the numbers the hot path
 * counts: packet types, protocol versions and close reasons. The protocol values are the ones
 * RabbitMQ's own global counters use (`protocol="mqtt311"`), so dashboards can line them up.
 */
import { PACKET_TYPE_NAMES, PacketType, ReasonCode, type ProtocolVersion } from "../codec/index.ts";
import { CloseReason } from "../protocol/index.ts";

/** Packet types a client may send (MQTT 3.1.1 §2.2.1, 5.0 §2.1.2), in type order. */
export const CLIENT_PACKET_TYPES: readonly PacketType[] = [
  PacketType.Connect, PacketType.Publish, PacketType.Puback, PacketType.Pubrec, PacketType.Pubrel,
  PacketType.Pubcomp, PacketType.Subscribe, PacketType.Unsubscribe, PacketType.Pingreq,
  PacketType.Disconnect, PacketType.Auth,
];

/** Packet types a server may send, in type order. */
export const SERVER_PACKET_TYPES: readonly PacketType[] = [
  PacketType.Connack, PacketType.Publish, PacketType.Puback, PacketType.Pubrec, PacketType.Pubrel,
  PacketType.Pubcomp, PacketType.Suback, PacketType.Unsuback, PacketType.Pingresp,
  PacketType.Disconnect, PacketType.Auth,
];

/** `publish`, `pingreq`: the spec's packet name in lower case. */
export function packetTypeLabel(type: PacketType): string {
  return (PACKET_TYPE_NAMES[type] ?? `reserved(${type})`).toLowerCase();
}

/** Protocol label of a connection: `mqtt310` (3.1), `mqtt311`, `mqtt50`; `pending` before its CONNECT. */
export function protocolLabel(version: ProtocolVersion | undefined): string {
  switch (version) {
    case 3:
      return "mqtt310";
    case 4:
      return "mqtt311";
    case 5:
      return "mqtt50";
    default:
      return "pending";
  }
}

/** Every protocol label, in the order they are rendered (each always present, 0 when none). */
export const PROTOCOL_LABELS: readonly string[] = ["mqtt310", "mqtt311", "mqtt50", "pending"];

/** snake_case of the spec's reason code names: 0x8D → keep_alive_timeout; first name per value. */
const REASON_NAMES: ReadonlyMap<number, string> = (() => {
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(ReasonCode)) {
    if (typeof value !== "number" || names.has(value)) continue;
    const snake = name.replace(/QoS/g, "Qos").replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
    names.set(value, snake);
  }
  return names;
})();

/**
 * Why a connection closed, as a label: `client_disconnect` (DISCONNECT), `socket_closed` (gone
 * without DISCONNECT), else the MQTT 5 reason code's name (`keep_alive_timeout`,
 * `bad_user_name_or_password`, `server_shutting_down`, …).
 */
export function closeReasonLabel(reason: number): string {
  if (reason === CloseReason.ClientDisconnect) return "client_disconnect";
  if (reason === CloseReason.SocketClosed) return "socket_closed";
  return REASON_NAMES.get(reason) ?? `reason_code_0x${reason.toString(16).padStart(2, "0")}`;
}
