/**
 * The map between our packet shape and mqtt-packet's (npm, 9.0.2: the codec inside MQTT.js), for
 * the oracle test (oracle.test.ts) and the benchmark (bench/codec). Imported only by those, never
 * by the codec. Pure data: binary fields stay Uint8Array here; mqtt-packet's generate() needs
 * Buffers, which its callers wrap (see withBuffers in oracle.test.ts).
 *
 * The shapes differ in names (messageId / packetId, granted / reasonCodes, unit suffixes on our
 * property names), in types (0/1 byte properties are booleans there; a lone Subscription
 * Identifier is a number there) and in User Properties (an object of name -> value | values
 * there, wire-ordered pairs here). `comparable` gives either side a form in which equal packets
 * are equal values.
 */
import { PacketType, type ProtocolVersion } from "./constants.ts";
import type { Packet, Properties } from "./packets.ts";
import { toHex } from "./test-helpers.ts";

/** mqtt-packet's packets, loosely typed: the shape is what this file maps. */
export type Shape = Record<string, any>;

/** Our Properties field -> mqtt-packet's property name, and whether mqtt-packet holds it as a boolean. */
export const PROPERTY_NAMES: Record<string, { name: string; boolean?: true }> = {
  payloadFormatIndicator: { name: "payloadFormatIndicator", boolean: true },
  messageExpiryIntervalSeconds: { name: "messageExpiryInterval" },
  contentType: { name: "contentType" },
  responseTopic: { name: "responseTopic" },
  correlationData: { name: "correlationData" },
  subscriptionIdentifiers: { name: "subscriptionIdentifier" },
  sessionExpiryIntervalSeconds: { name: "sessionExpiryInterval" },
  assignedClientIdentifier: { name: "assignedClientIdentifier" },
  serverKeepAliveSeconds: { name: "serverKeepAlive" },
  authenticationMethod: { name: "authenticationMethod" },
  authenticationData: { name: "authenticationData" },
  requestProblemInformation: { name: "requestProblemInformation", boolean: true },
  willDelayIntervalSeconds: { name: "willDelayInterval" },
  requestResponseInformation: { name: "requestResponseInformation", boolean: true },
  responseInformation: { name: "responseInformation" },
  serverReference: { name: "serverReference" },
  reasonString: { name: "reasonString" },
  receiveMaximum: { name: "receiveMaximum" },
  topicAliasMaximum: { name: "topicAliasMaximum" },
  topicAlias: { name: "topicAlias" },
  maximumQoS: { name: "maximumQoS" },
  retainAvailable: { name: "retainAvailable", boolean: true },
  userProperties: { name: "userProperties" },
  maximumPacketSizeBytes: { name: "maximumPacketSize" },
  wildcardSubscriptionAvailable: { name: "wildcardSubscriptionAvailable", boolean: true },
  subscriptionIdentifierAvailable: { name: "subscriptionIdentifiersAvailable", boolean: true },
  sharedSubscriptionAvailable: { name: "sharedSubscriptionAvailable", boolean: true },
};
const FIELD_BY_NAME = new Map(Object.entries(PROPERTY_NAMES).map(([field, { name }]) => [name, field]));

function toMqttProperties(props: Properties | undefined): Shape | undefined {
  if (props === undefined) return undefined;
  const out: Shape = {};
  for (const [field, value] of Object.entries(props)) {
    if (value === undefined) continue;
    const { name, boolean } = PROPERTY_NAMES[field]!;
    if (field === "userProperties") {
      const object: Record<string, string | string[]> = Object.create(null);
      for (const [k, v] of value as Array<[string, string]>) {
        const had = object[k];
        object[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
      }
      out[name] = object;
    } else if (field === "subscriptionIdentifiers") {
      const ids = value as number[];
      out[name] = ids.length === 1 ? ids[0] : ids;
    } else {
      out[name] = boolean ? value === 1 : value;
    }
  }
  return out;
}

function fromMqttProperties(props: Shape | undefined): Properties | undefined {
  if (props === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(props)) {
    const field = FIELD_BY_NAME.get(name);
    if (field === undefined) throw new Error(`mqtt-packet property ${name} has no counterpart`);
    if (field === "userProperties") {
      const pairs: Array<[string, string]> = [];
      for (const [k, v] of Object.entries(value as Record<string, string | string[]>)) {
        for (const one of Array.isArray(v) ? v : [v]) pairs.push([k, one]);
      }
      out[field] = pairs;
    } else if (field === "subscriptionIdentifiers") {
      out[field] = Array.isArray(value) ? value : [value];
    } else {
      out[field] = typeof value === "boolean" ? (value ? 1 : 0) : value;
    }
  }
  return Object.keys(out).length === 0 ? undefined : (out as Properties);
}

export const CMD = ["", "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "subscribe", "suback", "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth"];

/** Our packet -> the object mqtt-packet's generate() takes for a connection speaking `version`. */
export function toMqttPacket(packet: Packet, version: ProtocolVersion): Shape {
  const out: Shape = { cmd: CMD[packet.type] };
  const properties = "properties" in packet ? toMqttProperties(packet.properties) : undefined;
  if (properties !== undefined) out.properties = properties;
  switch (packet.type) {
    case PacketType.Connect:
      Object.assign(out, { protocolId: packet.protocolName, protocolVersion: packet.protocolVersion, clean: packet.cleanSession, keepalive: packet.keepaliveSeconds, clientId: packet.clientId });
      if (packet.will !== undefined) {
        const w = packet.will;
        out.will = { topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain };
        const wp = toMqttProperties(w.properties);
        if (wp !== undefined) out.will.properties = wp;
      }
      if (packet.username !== undefined) out.username = packet.username;
      if (packet.password !== undefined) out.password = packet.password;
      break;
    case PacketType.Connack:
      out.sessionPresent = packet.sessionPresent;
      out[version === 5 ? "reasonCode" : "returnCode"] = packet.reasonCode;
      break;
    case PacketType.Publish:
      Object.assign(out, { topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, dup: packet.dup });
      if (packet.packetId !== undefined) out.messageId = packet.packetId;
      break;
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      out.messageId = packet.packetId;
      if (packet.reasonCode !== undefined) out.reasonCode = packet.reasonCode;
      break;
    case PacketType.Subscribe:
      out.messageId = packet.packetId;
      out.subscriptions = packet.subscriptions.map((s) =>
        version === 5 ? { topic: s.topicFilter, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling } : { topic: s.topicFilter, qos: s.qos },
      );
      break;
    case PacketType.Suback:
      out.messageId = packet.packetId;
      out.granted = packet.reasonCodes;
      break;
    case PacketType.Unsubscribe:
      out.messageId = packet.packetId;
      out.unsubscriptions = packet.topicFilters;
      break;
    case PacketType.Unsuback:
      out.messageId = packet.packetId;
      if (packet.reasonCodes !== undefined) out.granted = packet.reasonCodes;
      break;
    case PacketType.Disconnect:
    case PacketType.Auth:
      if (packet.reasonCode !== undefined) out.reasonCode = packet.reasonCode;
      break;
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      break;
  }
  return out;
}

/** What mqtt-packet's parser emitted for a connection speaking `version` -> our packet shape. */
export function fromMqttPacket(p: Shape, version: ProtocolVersion): Packet {
  const type = CMD.indexOf(p.cmd) as PacketType;
  const properties = fromMqttProperties(p.properties);
  const withProps = <T extends object>(packet: T): T => (properties === undefined ? packet : { ...packet, properties });
  switch (type) {
    case PacketType.Connect: {
      const packet: Packet = { type, protocolName: p.protocolId, protocolVersion: p.protocolVersion, cleanSession: p.clean, keepaliveSeconds: p.keepalive, clientId: p.clientId };
      if (p.will) {
        packet.will = { topic: p.will.topic, payload: p.will.payload, qos: p.will.qos, retain: p.will.retain };
        const wp = fromMqttProperties(p.will.properties);
        if (wp !== undefined) packet.will.properties = wp;
      }
      if (p.username !== undefined) packet.username = p.username;
      if (p.password !== undefined) packet.password = p.password;
      return withProps(packet);
    }
    case PacketType.Connack:
      return withProps({ type, sessionPresent: p.sessionPresent, reasonCode: version === 5 ? p.reasonCode : p.returnCode });
    case PacketType.Publish: {
      const packet: Packet = { type, topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup };
      if (p.qos > 0) packet.packetId = p.messageId;
      return withProps(packet);
    }
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      return withProps(version === 5 ? { type, packetId: p.messageId, reasonCode: p.reasonCode } : { type, packetId: p.messageId }) as Packet;
    case PacketType.Subscribe:
      return withProps({
        type,
        packetId: p.messageId,
        subscriptions: p.subscriptions.map((s: Shape) => ({ topicFilter: s.topic, qos: s.qos, noLocal: s.nl ?? false, retainAsPublished: s.rap ?? false, retainHandling: s.rh ?? 0 })),
      });
    case PacketType.Suback:
      return withProps({ type, packetId: p.messageId, reasonCodes: p.granted });
    case PacketType.Unsubscribe:
      return withProps({ type, packetId: p.messageId, topicFilters: p.unsubscriptions });
    case PacketType.Unsuback:
      return withProps(version === 5 ? { type, packetId: p.messageId, reasonCodes: p.granted } : { type, packetId: p.messageId });
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return { type };
    case PacketType.Disconnect:
      return withProps(version === 5 ? { type, reasonCode: p.reasonCode } : { type });
    case PacketType.Auth:
      return withProps({ type, reasonCode: p.reasonCode });
  }
  throw new Error(`mqtt-packet emitted an unknown cmd ${p.cmd}`);
}

/**
 * A packet as plain data that is equal for equal packets from either side: bytes as hex, object
 * keys sorted (differences 2 and 3), User Properties stably sorted by name (difference 1).
 */
export function comparable(value: unknown, key = ""): unknown {
  if (value instanceof Uint8Array) return { hex: toHex(value) };
  if (Array.isArray(value)) {
    const items = value.map((v) => comparable(v));
    if (key === "userProperties") return items.map((pair, i) => ({ pair, i })).sort((a, b) => cmp(String((a.pair as string[])[0]), String((b.pair as string[])[0])) || a.i - b.i).map((x) => x.pair);
    return items;
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = comparable(v, k);
    }
    return out;
  }
  return value;
}
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Difference 9: mqtt-packet's parser collects User Properties with `if (result[name])`, so when a
 * name repeats after an empty value, the empty value is overwritten and lost. This is that merge,
 * replayed on our pairs: what mqtt-packet's parser will report for them.
 */
export function userPropertiesAsMqttPacketParses(pairs: Array<[string, string]>): Array<[string, string]> {
  const merged: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of pairs) {
    const had = merged[name];
    if (had) merged[name] = Array.isArray(had) ? [...had, value] : [had, value];
    else merged[name] = value;
  }
  return Object.entries(merged).flatMap(([name, v]) => (Array.isArray(v) ? v : [v]).map((one): [string, string] => [name, one]));
}
