import { describe, expect, test } from "bun:test";
import { PROPERTY_BY_ID, PROPERTY_CONTEXT_WILL, PROPERTY_DEFINITIONS, PacketType, PropertyId, isPropertyAllowed, type PropertyContext } from "./constants.ts";

/**
 * MQTT 5 §2.2.2.2, transcribed again by hand from the spec's table (independently of
 * constants.ts): which packets each property may appear in.
 */
const SPEC_TABLE: Record<string, string[]> = {
  "Payload Format Indicator": ["PUBLISH", "Will"],
  "Message Expiry Interval": ["PUBLISH", "Will"],
  "Content Type": ["PUBLISH", "Will"],
  "Response Topic": ["PUBLISH", "Will"],
  "Correlation Data": ["PUBLISH", "Will"],
  "Subscription Identifier": ["PUBLISH", "SUBSCRIBE"],
  "Session Expiry Interval": ["CONNECT", "CONNACK", "DISCONNECT"],
  "Assigned Client Identifier": ["CONNACK"],
  "Server Keep Alive": ["CONNACK"],
  "Authentication Method": ["CONNECT", "CONNACK", "AUTH"],
  "Authentication Data": ["CONNECT", "CONNACK", "AUTH"],
  "Request Problem Information": ["CONNECT"],
  "Will Delay Interval": ["Will"],
  "Request Response Information": ["CONNECT"],
  "Response Information": ["CONNACK"],
  "Server Reference": ["CONNACK", "DISCONNECT"],
  "Reason String": ["CONNACK", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBACK", "UNSUBACK", "DISCONNECT", "AUTH"],
  "Receive Maximum": ["CONNECT", "CONNACK"],
  "Topic Alias Maximum": ["CONNECT", "CONNACK"],
  "Topic Alias": ["PUBLISH"],
  "Maximum QoS": ["CONNACK"],
  "Retain Available": ["CONNACK"],
  "User Property": ["CONNECT", "CONNACK", "PUBLISH", "Will", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "DISCONNECT", "AUTH"],
  "Maximum Packet Size": ["CONNECT", "CONNACK"],
  "Wildcard Subscription Available": ["CONNACK"],
  "Subscription Identifier Available": ["CONNACK"],
  "Shared Subscription Available": ["CONNACK"],
};

const CONTEXTS: Array<[string, PropertyContext]> = [
  ["Will", PROPERTY_CONTEXT_WILL],
  ...["CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"]
    .map((name, i): [string, PropertyContext] => [name, (i + 1) as PacketType]),
];

describe("MQTT 5 property table", () => {
  test("defines all 27 properties with distinct ids and fields", () => {
    expect(PROPERTY_DEFINITIONS.length).toBe(27);
    expect(new Set(PROPERTY_DEFINITIONS.map((d) => d.id)).size).toBe(27);
    expect(new Set(PROPERTY_DEFINITIONS.map((d) => d.field)).size).toBe(27);
    expect(Object.keys(SPEC_TABLE).sort()).toEqual(PROPERTY_DEFINITIONS.map((d) => d.name).sort());
  });

  for (const def of PROPERTY_DEFINITIONS) {
    test(`${def.name} (0x${def.id.toString(16)}) is allowed exactly where §2.2.2.2 says`, () => {
      const allowed = CONTEXTS.filter(([, c]) => isPropertyAllowed(def.id, c)).map(([name]) => name);
      expect(allowed.sort()).toEqual([...SPEC_TABLE[def.name]!].sort());
      expect(PROPERTY_BY_ID[def.id]).toBe(def);
    });
  }

  test("unknown identifiers have no definition", () => {
    for (const id of [0, 4, 5, 6, 7, 0x0a, 0x0c, 0x10, 0x14, 0x1b, 0x1d, 0x1e, 0x20, 0x2b, 0xff]) {
      expect(PROPERTY_BY_ID[id]).toBeUndefined();
      expect(isPropertyAllowed(id as PropertyId, PacketType.Publish)).toBe(false);
    }
  });
});
