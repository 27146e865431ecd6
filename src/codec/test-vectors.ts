/**
 * Known bytes <-> packet pairs, per protocol version, shared by the codec's unit tests
 * (decode/encode tables, fragmentation, fuzz seeds). Bytes are written by hand from the spec's
 * field layouts and examples (3.1.1 §3.1.2.10 / MQTT 5 §3.1.2.12 CONNECT variable header
 * examples, 3.1.1 §3.3.2.3 PUBLISH example); captured real traffic is in test/fixtures/captures.
 * Every vector is canonical: encoding the packet gives exactly these bytes.
 */
import { PacketType, type ProtocolVersion } from "./constants.ts";
import type { Packet } from "./packets.ts";
import { h, utf8 } from "./test-helpers.ts";

export interface Vector {
  name: string;
  version: ProtocolVersion;
  bytes: Uint8Array;
  packet: Packet;
}

const v = (version: ProtocolVersion, name: string, hex: string, packet: Packet): Vector => ({ name, version, bytes: h(hex), packet });

export const VECTORS: readonly Vector[] = [
  // ---- MQTT 3.1.1 (level 4)
  v(4, "CONNECT, empty client id, clean session", "10 0c 0004 4d515454 04 02 003c 0000", {
    type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 4, cleanSession: true, keepaliveSeconds: 60, clientId: "",
  }),
  v(4, "CONNECT with will QoS 1, user name and password (spec flags 0xCE)",
    "10 19 0004 4d515454 04 ce 000a 0001 63 0001 77 0001 78 0001 75 0001 70", {
      type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 4, cleanSession: true, keepaliveSeconds: 10, clientId: "c",
      will: { topic: "w", payload: utf8("x"), qos: 1, retain: false }, username: "u", password: utf8("p"),
    }),
  v(4, "CONNECT with retained will QoS 2, no clean session", "10 11 0004 4d515454 04 34 ffff 0000 0001 77 0000", {
    type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 4, cleanSession: false, keepaliveSeconds: 65535, clientId: "",
    will: { topic: "w", payload: new Uint8Array(0), qos: 2, retain: true },
  }),
  v(4, "CONNACK session present, accepted", "20 02 01 00", { type: PacketType.Connack, sessionPresent: true, reasonCode: 0 }),
  v(4, "CONNACK not authorized", "20 02 00 05", { type: PacketType.Connack, sessionPresent: false, reasonCode: 5 }),
  v(4, "PUBLISH QoS 0", "30 0a 0003 612f62 68656c6c6f", {
    type: PacketType.Publish, topic: "a/b", payload: utf8("hello"), qos: 0, retain: false, dup: false,
  }),
  v(4, "PUBLISH QoS 1 DUP RETAIN (spec example packet id 10)", "3b 09 0003 612f62 000a 6869", {
    type: PacketType.Publish, topic: "a/b", payload: utf8("hi"), qos: 1, retain: true, dup: true, packetId: 10,
  }),
  v(4, "PUBLISH QoS 2 empty payload, UTF-8 topic", "34 0c 0008 c3bc2f e282ac2f78 ffff", {
    type: PacketType.Publish, topic: "ü/€/x", payload: new Uint8Array(0), qos: 2, retain: false, dup: false, packetId: 65535,
  }),
  v(4, "PUBACK", "40 02 000a", { type: PacketType.Puback, packetId: 10 }),
  v(4, "PUBREC", "50 02 000a", { type: PacketType.Pubrec, packetId: 10 }),
  v(4, "PUBREL", "62 02 000a", { type: PacketType.Pubrel, packetId: 10 }),
  v(4, "PUBCOMP", "70 02 000a", { type: PacketType.Pubcomp, packetId: 10 }),
  v(4, "SUBSCRIBE two filters", "82 0e 0001 0003 612f62 01 0003 632f23 02", {
    type: PacketType.Subscribe, packetId: 1, subscriptions: [
      { topicFilter: "a/b", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      { topicFilter: "c/#", qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
    ],
  }),
  v(4, "SUBACK granted QoS 1 and failure", "90 04 0001 01 80", { type: PacketType.Suback, packetId: 1, reasonCodes: [1, 0x80] }),
  v(4, "UNSUBSCRIBE", "a2 07 0002 0003 612f62", { type: PacketType.Unsubscribe, packetId: 2, topicFilters: ["a/b"] }),
  v(4, "UNSUBACK", "b0 02 0002", { type: PacketType.Unsuback, packetId: 2 }),
  v(4, "PINGREQ", "c0 00", { type: PacketType.Pingreq }),
  v(4, "PINGRESP", "d0 00", { type: PacketType.Pingresp }),
  v(4, "DISCONNECT", "e0 00", { type: PacketType.Disconnect }),

  // ---- MQTT 3.1 (level 3, "MQIsdp")
  v(3, "CONNECT MQIsdp", "10 11 0006 4d5149736470 03 02 003c 0003 616263", {
    type: PacketType.Connect, protocolName: "MQIsdp", protocolVersion: 3, cleanSession: true, keepaliveSeconds: 60, clientId: "abc",
  }),
  v(3, "CONNECT MQIsdp with a password and no user name (decoded: the protocol layer answers CONNACK 4)",
    "10 14 0006 4d5149736470 03 40 003c 0001 61 0003 707721", {
      type: PacketType.Connect, protocolName: "MQIsdp", protocolVersion: 3, cleanSession: false, keepaliveSeconds: 60, clientId: "a",
      password: utf8("pw!"),
    }),
  v(3, "CONNACK (no session present in 3.1)", "20 02 00 00", { type: PacketType.Connack, sessionPresent: false, reasonCode: 0 }),
  v(3, "PUBLISH QoS 1", "32 08 0003 612f62 0001 7a", {
    type: PacketType.Publish, topic: "a/b", payload: utf8("z"), qos: 1, retain: false, dup: false, packetId: 1,
  }),
  v(3, "SUBSCRIBE", "82 08 0003 0003 612f2b 00", {
    type: PacketType.Subscribe, packetId: 3, subscriptions: [{ topicFilter: "a/+", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  }),
  v(3, "PUBREL", "62 02 0001", { type: PacketType.Pubrel, packetId: 1 }),
  v(3, "DISCONNECT", "e0 00", { type: PacketType.Disconnect }),

  // ---- MQTT 5.0 (level 5)
  v(5, "CONNECT (spec variable header example: Session Expiry Interval 10)",
    "10 19 0004 4d515454 05 c2 000a 05 11 0000000a 0001 63 0001 75 0001 70", {
      type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 5, cleanSession: true, keepaliveSeconds: 10, clientId: "c",
      username: "u", password: utf8("p"), properties: { sessionExpiryIntervalSeconds: 10 },
    }),
  v(5, "CONNECT with a password and no user name (allowed in 5.0)", "10 12 0004 4d515454 05 40 0000 00 0001 63 0002 0102", {
    type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 5, cleanSession: false, keepaliveSeconds: 0, clientId: "c",
    password: h("0102"),
  }),
  v(5, "CONNECT with will properties", "10 1b 0004 4d515454 05 0e 003c 00 0000 07 18 00000005 01 01 0001 77 0001 78", {
    type: PacketType.Connect, protocolName: "MQTT", protocolVersion: 5, cleanSession: true, keepaliveSeconds: 60, clientId: "",
    will: { topic: "w", payload: utf8("x"), qos: 1, retain: false, properties: { willDelayIntervalSeconds: 5, payloadFormatIndicator: 1 } },
  }),
  v(5, "CONNACK with Topic Alias Maximum and Receive Maximum (as mosquitto sends)", "20 09 00 00 06 22 000a 21 0014", {
    type: PacketType.Connack, sessionPresent: false, reasonCode: 0, properties: { topicAliasMaximum: 10, receiveMaximum: 20 },
  }),
  v(5, "CONNACK Unsupported Protocol Version", "20 03 00 84 00", { type: PacketType.Connack, sessionPresent: false, reasonCode: 0x84 }),
  v(5, "PUBLISH with Topic Alias and empty topic", "30 08 0000 03 23 0005 6869", {
    type: PacketType.Publish, topic: "", payload: utf8("hi"), qos: 0, retain: false, dup: false, properties: { topicAlias: 5 },
  }),
  v(5, "PUBLISH QoS 1 with two Subscription Identifiers and Correlation Data", "32 11 0001 61 0007 0a 0b 01 0b ac02 09 0002 6364 7a", {
    type: PacketType.Publish, topic: "a", payload: utf8("z"), qos: 1, retain: false, dup: false, packetId: 7,
    properties: { subscriptionIdentifiers: [1, 300], correlationData: utf8("cd") },
  }),
  v(5, "PUBACK short form (Success implied)", "40 02 000a", { type: PacketType.Puback, packetId: 10, reasonCode: 0 }),
  v(5, "PUBACK No matching subscribers, no properties", "40 03 000a 10", { type: PacketType.Puback, packetId: 10, reasonCode: 0x10 }),
  v(5, "PUBREC with Reason String", "50 08 000a 80 04 1f 0001 78", {
    type: PacketType.Pubrec, packetId: 10, reasonCode: 0x80, properties: { reasonString: "x" },
  }),
  v(5, "PUBREL Packet Identifier not found", "62 03 000a 92", { type: PacketType.Pubrel, packetId: 10, reasonCode: 0x92 }),
  v(5, "PUBCOMP with a User Property", "70 0b 000a 00 07 26 0001 6b 0001 76", {
    type: PacketType.Pubcomp, packetId: 10, reasonCode: 0, properties: { userProperties: [["k", "v"]] },
  }),
  v(5, "SUBSCRIBE with options and a Subscription Identifier", "82 0b 0001 02 0b 07 0003 612f2b 2d", {
    type: PacketType.Subscribe, packetId: 1, properties: { subscriptionIdentifiers: [7] },
    subscriptions: [{ topicFilter: "a/+", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 }],
  }),
  v(5, "SUBSCRIBE to a Shared Subscription", "82 10 0001 00 000a 2473686172652f672f74 01", {
    type: PacketType.Subscribe, packetId: 1,
    subscriptions: [{ topicFilter: "$share/g/t", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  }),
  v(5, "SUBACK QoS 2 and Topic Filter invalid", "90 05 0001 00 02 8f", { type: PacketType.Suback, packetId: 1, reasonCodes: [2, 0x8f] }),
  v(5, "UNSUBSCRIBE", "a2 08 0002 00 0003 612f62", { type: PacketType.Unsubscribe, packetId: 2, topicFilters: ["a/b"] }),
  v(5, "UNSUBACK Success and No subscription existed", "b0 05 0002 00 00 11", {
    type: PacketType.Unsuback, packetId: 2, reasonCodes: [0, 0x11],
  }),
  v(5, "DISCONNECT short form (Normal disconnection implied)", "e0 00", { type: PacketType.Disconnect, reasonCode: 0 }),
  v(5, "DISCONNECT with will message and Session Expiry Interval", "e0 07 04 05 11 00000000", {
    type: PacketType.Disconnect, reasonCode: 4, properties: { sessionExpiryIntervalSeconds: 0 },
  }),
  v(5, "DISCONNECT Session taken over, no properties", "e0 01 8e", { type: PacketType.Disconnect, reasonCode: 0x8e }),
  v(5, "AUTH continue with method and data", "f0 0f 18 0d 15 0005 5343524d4d 16 0002 0102", {
    type: PacketType.Auth, reasonCode: 0x18, properties: { authenticationMethod: "SCRMM", authenticationData: h("0102") },
  }),
  v(5, "AUTH short form (Success implied)", "f0 00", { type: PacketType.Auth, reasonCode: 0 }),
  v(5, "PINGREQ", "c0 00", { type: PacketType.Pingreq }),
  v(5, "PINGRESP", "d0 00", { type: PacketType.Pingresp }),
];
