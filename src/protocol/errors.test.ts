import { describe, expect, test } from "bun:test";
import { ReasonCode, type ProtocolVersion } from "../codec/index.ts";
import { ProtocolError, encodeCloseBytes, fromBackendConnectError } from "./errors.ts";

const hex = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString("hex");

describe("encodeCloseBytes: one place turns a ProtocolError into bytes per version", () => {
  const cases: Array<[name: string, reason: ReasonCode, version: ProtocolVersion | undefined, connackSent: boolean, expected: string | undefined]> = [
    ["unknown level gets CONNACK 1 [MQTT-3.1.2-2]", ReasonCode.UnsupportedProtocolVersion, undefined, false, "20020001"],
    ["client id refused gets CONNACK 2 [MQTT-3.1.3-9]", ReasonCode.ClientIdentifierNotValid, 4, false, "20020002"],
    ["broker unavailable gets CONNACK 3", ReasonCode.ServerUnavailable, 4, false, "20020003"],
    ["bad credentials get CONNACK 4", ReasonCode.BadUserNameOrPassword, 3, false, "20020004"],
    ["not authorised gets CONNACK 5", ReasonCode.NotAuthorized, 4, false, "20020005"],
    ["a malformed CONNECT is closed without CONNACK [MQTT-3.1.4-1]", ReasonCode.MalformedPacket, 4, false, undefined],
    ["3.1.1 after CONNACK: plain close", ReasonCode.ProtocolError, 4, true, undefined],
    ["3.1 after CONNACK: plain close", ReasonCode.KeepAliveTimeout, 3, true, undefined],
    ["5.0 before CONNACK: CONNACK with the reason code", ReasonCode.UnsupportedProtocolVersion, 5, false, "2003008400"],
    ["5.0 after CONNACK: DISCONNECT with the reason code", ReasonCode.KeepAliveTimeout, 5, true, "e0018d"],
    ["5.0 DISCONNECT cannot carry 0x84: Unspecified error", ReasonCode.UnsupportedProtocolVersion, 5, true, "e00180"],
  ];
  for (const [name, reason, version, connackSent, expected] of cases) {
    test(name, () => {
      expect(hex(encodeCloseBytes(new ProtocolError(reason, "x"), version, connackSent))).toBe(expected);
    });
  }
});

describe("fromBackendConnectError maps broker refusals as the native plugin does", () => {
  const cases: Array<[kind: Parameters<typeof fromBackendConnectError>[0]["kind"], code: number]> = [
    ["bad-credentials", 4],
    ["not-authorised", 5],
    ["unavailable", 3],
    ["not-found", 5],
    ["failed", 3],
  ];
  for (const [kind, code] of cases) {
    test(`${kind} -> CONNACK ${code}`, () => {
      const error = fromBackendConnectError({ kind, message: "m" });
      expect(encodeCloseBytes(error, 4, false)?.[3]).toBe(code);
      expect(error.publishWill).toBe(false);
    });
  }
});
