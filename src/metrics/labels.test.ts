import { describe, expect, test } from "bun:test";
import { PacketType, ReasonCode } from "../codec/index.ts";
import { CloseReason } from "../protocol/index.ts";
import { closeReasonLabel, packetTypeLabel, protocolLabel } from "./labels.ts";

describe("metric labels", () => {
  test.each<[number, string]>([
    [CloseReason.ClientDisconnect, "client_disconnect"],
    [CloseReason.SocketClosed, "socket_closed"],
    [ReasonCode.KeepAliveTimeout, "keep_alive_timeout"],
    [ReasonCode.BadUserNameOrPassword, "bad_user_name_or_password"],
    [ReasonCode.NotAuthorized, "not_authorized"],
    [ReasonCode.ServerUnavailable, "server_unavailable"],
    [ReasonCode.MalformedPacket, "malformed_packet"],
    [ReasonCode.SessionTakenOver, "session_taken_over"],
    [ReasonCode.ServerShuttingDown, "server_shutting_down"],
    [ReasonCode.QoSNotSupported, "qos_not_supported"],
    [0x7f, "reason_code_0x7f"],
  ])("close reason %p is labelled %p", (reason, label) => {
    expect(closeReasonLabel(reason)).toBe(label);
  });

  test.each<[3 | 4 | 5 | undefined, string]>([
    [3, "mqtt310"],
    [4, "mqtt311"],
    [5, "mqtt50"],
    [undefined, "pending"],
  ])("protocol version %p is labelled %p (RabbitMQ's protocol label values)", (version, label) => {
    expect(protocolLabel(version)).toBe(label);
  });

  test("packet types use the spec's names in lower case", () => {
    expect(packetTypeLabel(PacketType.Publish)).toBe("publish");
    expect(packetTypeLabel(PacketType.Pingresp)).toBe("pingresp");
  });
});
