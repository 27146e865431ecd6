/**
 * The decoded form of every MQTT control packet: the `Packet` union.
 *
 * One shape serves all three protocol versions; fields that only exist in MQTT 5 are optional
 * (`properties`, most `reasonCode`s). Binary fields are `Uint8Array` views into the bytes the
 * packet was decoded from: valid until the next `Decoder.feed()` / `next()`; copy before keeping.
 */
import type { PacketType, ProtocolVersion, QoS } from "./constants.ts";
import type { DecodeError } from "./errors.ts";

/**
 * MQTT 5 properties (§2.2.2.2), every one, spec names in camelCase with units where they have one.
 * Absent in 3.1 / 3.1.1. A decoded packet whose Property Length is 0 has `properties` undefined.
 */
export interface Properties {
  /** 0 = unspecified bytes, 1 = UTF-8 (PUBLISH, will). */
  payloadFormatIndicator?: number;
  messageExpiryIntervalSeconds?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array;
  /** PUBLISH may carry several; SUBSCRIBE at most one. Each 1..268,435,455. */
  subscriptionIdentifiers?: number[];
  sessionExpiryIntervalSeconds?: number;
  assignedClientIdentifier?: string;
  serverKeepAliveSeconds?: number;
  authenticationMethod?: string;
  authenticationData?: Uint8Array;
  requestProblemInformation?: number;
  willDelayIntervalSeconds?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: number;
  /** In wire order; a name may repeat ("The same name is allowed to appear more than once"). */
  userProperties?: Array<[string, string]>;
  maximumPacketSizeBytes?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifierAvailable?: number;
  sharedSubscriptionAvailable?: number;
}

/** The Will Message a CONNECT carries (Will Flag set). */
export interface Will {
  topic: string;
  /** View into the CONNECT bytes. */
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 Will Properties. */
  properties?: Properties;
}

export interface ConnectPacket {
  type: PacketType.Connect;
  /** As it arrived: "MQTT", or "MQIsdp" for 3.1. The encoder writes the one `protocolVersion` implies. */
  protocolName: string;
  protocolVersion: ProtocolVersion;
  /** "Clean Session" in 3.1 / 3.1.1, "Clean Start" in 5.0 (same bit). */
  cleanSession: boolean;
  keepaliveSeconds: number;
  /** May be "" (the server then assigns one, or refuses it in 3.1). */
  clientId: string;
  will?: Will;
  username?: string;
  /** View into the CONNECT bytes. */
  password?: Uint8Array;
  properties?: Properties;
}

export interface ConnackPacket {
  type: PacketType.Connack;
  /** Always false in 3.1 (the byte is reserved there). */
  sessionPresent: boolean;
  /** ConnectReturnCode in 3.1 / 3.1.1, ReasonCode in 5.0. */
  reasonCode: number;
  properties?: Properties;
}

export interface PublishPacket {
  type: PacketType.Publish;
  /** "" only in MQTT 5 with a Topic Alias property. */
  topic: string;
  /** View into the received bytes. */
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present iff qos > 0; never 0. */
  packetId?: number;
  properties?: Properties;
}

/**
 * PUBACK / PUBREC / PUBREL / PUBCOMP. `reasonCode` is MQTT 5 only: the decoder always sets it
 * for v5 (0 when the short form omitted it) and never for 3.1 / 3.1.1. The encoder writes the
 * 2-byte short form when it is 0 (or absent) and there are no properties.
 */
export interface PacketIdAck<T extends PacketType> {
  type: T;
  packetId: number;
  reasonCode?: number;
  properties?: Properties;
}
export type PubackPacket = PacketIdAck<PacketType.Puback>;
export type PubrecPacket = PacketIdAck<PacketType.Pubrec>;
export type PubrelPacket = PacketIdAck<PacketType.Pubrel>;
export type PubcompPacket = PacketIdAck<PacketType.Pubcomp>;

/** One entry of a SUBSCRIBE payload. The last three fields are MQTT 5 options; false/0 in 3.x. */
export interface Subscription {
  topicFilter: string;
  /** Maximum QoS requested. */
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  /** 0 = send retained on subscribe, 1 = only if the subscription is new, 2 = never. */
  retainHandling: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: PacketType.Subscribe;
  packetId: number;
  /** At least one [MQTT-3.8.3-3]. */
  subscriptions: Subscription[];
  properties?: Properties;
}

export interface SubackPacket {
  type: PacketType.Suback;
  packetId: number;
  /** One per subscription, in order: granted QoS, or 0x80 (3.x) / a v5 error ReasonCode. */
  reasonCodes: number[];
  properties?: Properties;
}

export interface UnsubscribePacket {
  type: PacketType.Unsubscribe;
  packetId: number;
  /** At least one [MQTT-3.10.3-2]. */
  topicFilters: string[];
  properties?: Properties;
}

export interface UnsubackPacket {
  type: PacketType.Unsuback;
  packetId: number;
  /** MQTT 5 only: one per topic filter. */
  reasonCodes?: number[];
  properties?: Properties;
}

export interface PingreqPacket {
  type: PacketType.Pingreq;
}

export interface PingrespPacket {
  type: PacketType.Pingresp;
}

export interface DisconnectPacket {
  type: PacketType.Disconnect;
  /** MQTT 5 only; the decoder sets 0 (Normal disconnection) when the packet omitted it. */
  reasonCode?: number;
  properties?: Properties;
}

/** MQTT 5 only. */
export interface AuthPacket {
  type: PacketType.Auth;
  /** 0x00 Success, 0x18 Continue authentication, 0x19 Re-authenticate. */
  reasonCode: number;
  properties?: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/**
 * Outcome of one decode step: a whole packet and the bytes it used (fixed header included),
 * "need more bytes", or an error after which the stream is dead.
 */
export type DecodeResult =
  | { kind: "packet"; packet: Packet; size: number }
  | { kind: "more" }
  | { kind: "error"; error: DecodeError };
