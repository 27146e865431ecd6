/**
 * MQTT wire constants, named as the specs name them so a reader with the spec open can grep:
 * MQTT 3.1 (protocol name "MQIsdp", level 3), 3.1.1 ("MQTT", 4) and 5.0 ("MQTT", 5).
 */

/** 3 = MQTT 3.1 ("MQIsdp"), 4 = MQTT 3.1.1, 5 = MQTT 5.0: the CONNECT "Protocol Level" byte. */
export type ProtocolVersion = 3 | 4 | 5;

/** Quality of service levels. 3 never appears in a decoded packet: it is rejected as malformed. */
export type QoS = 0 | 1 | 2;

/** Control packet types: the high nibble of the fixed header's first byte (MQTT 5 §2.1.2). */
export enum PacketType {
  Connect = 1,
  Connack = 2,
  Publish = 3,
  Puback = 4,
  Pubrec = 5,
  Pubrel = 6,
  Pubcomp = 7,
  Subscribe = 8,
  Suback = 9,
  Unsubscribe = 10,
  Unsuback = 11,
  Pingreq = 12,
  Pingresp = 13,
  Disconnect = 14,
  /** MQTT 5 only. Type 15 is reserved in 3.1 / 3.1.1. */
  Auth = 15,
}

/** Spec names of packet types, for messages: PACKET_TYPE_NAMES[PacketType.Suback] === "SUBACK". */
export const PACKET_TYPE_NAMES: readonly string[] = [
  "reserved(0)", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
  "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
];

/**
 * MQTT 5 reason codes (§2.4), every one, with the spec's names. Several names share a value
 * (0x00 is Success, Normal disconnection and Granted QoS 0), as in the spec's table.
 */
export enum ReasonCode {
  Success = 0x00,
  NormalDisconnection = 0x00,
  GrantedQoS0 = 0x00,
  GrantedQoS1 = 0x01,
  GrantedQoS2 = 0x02,
  DisconnectWithWillMessage = 0x04,
  NoMatchingSubscribers = 0x10,
  NoSubscriptionExisted = 0x11,
  ContinueAuthentication = 0x18,
  ReAuthenticate = 0x19,
  UnspecifiedError = 0x80,
  MalformedPacket = 0x81,
  ProtocolError = 0x82,
  ImplementationSpecificError = 0x83,
  UnsupportedProtocolVersion = 0x84,
  ClientIdentifierNotValid = 0x85,
  BadUserNameOrPassword = 0x86,
  NotAuthorized = 0x87,
  ServerUnavailable = 0x88,
  ServerBusy = 0x89,
  Banned = 0x8a,
  ServerShuttingDown = 0x8b,
  BadAuthenticationMethod = 0x8c,
  KeepAliveTimeout = 0x8d,
  SessionTakenOver = 0x8e,
  TopicFilterInvalid = 0x8f,
  TopicNameInvalid = 0x90,
  PacketIdentifierInUse = 0x91,
  PacketIdentifierNotFound = 0x92,
  ReceiveMaximumExceeded = 0x93,
  TopicAliasInvalid = 0x94,
  PacketTooLarge = 0x95,
  MessageRateTooHigh = 0x96,
  QuotaExceeded = 0x97,
  AdministrativeAction = 0x98,
  PayloadFormatInvalid = 0x99,
  RetainNotSupported = 0x9a,
  QoSNotSupported = 0x9b,
  UseAnotherServer = 0x9c,
  ServerMoved = 0x9d,
  SharedSubscriptionsNotSupported = 0x9e,
  ConnectionRateExceeded = 0x9f,
  MaximumConnectTime = 0xa0,
  SubscriptionIdentifiersNotSupported = 0xa1,
  WildcardSubscriptionsNotSupported = 0xa2,
}

/** MQTT 3.1 / 3.1.1 CONNACK return codes (3.1.1 §3.2.2.3). */
export enum ConnectReturnCode {
  Accepted = 0,
  UnacceptableProtocolVersion = 1,
  IdentifierRejected = 2,
  ServerUnavailable = 3,
  BadUserNameOrPassword = 4,
  NotAuthorized = 5,
}

/** MQTT 3.1 / 3.1.1 SUBACK return code for a refused subscription (3.1.1 §3.9.3). */
export const SUBACK_FAILURE_V3 = 0x80;

/**
 * Reason codes each MQTT 5 packet may carry (§3.x.2.1 tables). The decoder rejects any other value
 * as a malformed packet; the encoder refuses to write one (that would be our bug).
 */
export const REASON_CODES_BY_PACKET: Readonly<Partial<Record<PacketType, ReadonlySet<number>>>> = {
  [PacketType.Connack]: new Set([
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97,
    0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f,
  ]),
  [PacketType.Puback]: new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  [PacketType.Pubrec]: new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  [PacketType.Pubrel]: new Set([0x00, 0x92]),
  [PacketType.Pubcomp]: new Set([0x00, 0x92]),
  [PacketType.Suback]: new Set([0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]),
  [PacketType.Unsuback]: new Set([0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91]),
  [PacketType.Disconnect]: new Set([
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
  ]),
  [PacketType.Auth]: new Set([0x00, 0x18, 0x19]),
};

/** MQTT 5 property identifiers (§2.2.2.2), spec names. */
export enum PropertyId {
  PayloadFormatIndicator = 0x01,
  MessageExpiryInterval = 0x02,
  ContentType = 0x03,
  ResponseTopic = 0x08,
  CorrelationData = 0x09,
  SubscriptionIdentifier = 0x0b,
  SessionExpiryInterval = 0x11,
  AssignedClientIdentifier = 0x12,
  ServerKeepAlive = 0x13,
  AuthenticationMethod = 0x15,
  AuthenticationData = 0x16,
  RequestProblemInformation = 0x17,
  WillDelayInterval = 0x18,
  RequestResponseInformation = 0x19,
  ResponseInformation = 0x1a,
  ServerReference = 0x1c,
  ReasonString = 0x1f,
  ReceiveMaximum = 0x21,
  TopicAliasMaximum = 0x22,
  TopicAlias = 0x23,
  MaximumQoS = 0x24,
  RetainAvailable = 0x25,
  UserProperty = 0x26,
  MaximumPacketSize = 0x27,
  WildcardSubscriptionAvailable = 0x28,
  SubscriptionIdentifierAvailable = 0x29,
  SharedSubscriptionAvailable = 0x2a,
}

/** Wire data types of property values (§1.5). */
export enum PropertyDataType {
  Byte = 1,
  TwoByteInteger = 2,
  FourByteInteger = 4,
  VariableByteInteger = 5,
  Utf8String = 6,
  BinaryData = 7,
  Utf8StringPair = 8,
}

/**
 * Where a property may appear. The packet types use their own bit; the Will Properties of a
 * CONNECT payload, which have a set of their own, use bit 0 (packet type 0 is reserved).
 */
export const PROPERTY_CONTEXT_WILL = 0;
/** A PacketType, or PROPERTY_CONTEXT_WILL for the CONNECT payload's Will Properties. */
export type PropertyContext = PacketType | typeof PROPERTY_CONTEXT_WILL;

const bit = (...contexts: PropertyContext[]): number => contexts.reduce((mask, c) => mask | (1 << c), 0);

/** How one property is carried: its field in `Properties`, its wire type, and where it is allowed. */
export interface PropertyDefinition {
  readonly id: PropertyId;
  /** Spec name, for messages: "Topic Alias". */
  readonly name: string;
  /** Field of `Properties` that holds it. */
  readonly field: string;
  readonly dataType: PropertyDataType;
  /** Bit (1 << PropertyContext) set for each packet (or the will) that may carry it. */
  readonly allowedIn: number;
  /** Byte / integer properties that only take 0 or 1 ("It is a Protocol Error to have a value other than 0 or 1"). */
  readonly booleanValue?: boolean;
  /** Integer properties for which 0 is a Protocol Error (Receive Maximum, Maximum Packet Size, ...). */
  readonly nonZero?: boolean;
}

const P = PacketType;
const W = PROPERTY_CONTEXT_WILL;

/** Every MQTT 5 property, in identifier order (§2.2.2.2 table). */
export const PROPERTY_DEFINITIONS: readonly PropertyDefinition[] = [
  { id: PropertyId.PayloadFormatIndicator, name: "Payload Format Indicator", field: "payloadFormatIndicator", dataType: PropertyDataType.Byte, allowedIn: bit(P.Publish, W), booleanValue: true },
  { id: PropertyId.MessageExpiryInterval, name: "Message Expiry Interval", field: "messageExpiryIntervalSeconds", dataType: PropertyDataType.FourByteInteger, allowedIn: bit(P.Publish, W) },
  { id: PropertyId.ContentType, name: "Content Type", field: "contentType", dataType: PropertyDataType.Utf8String, allowedIn: bit(P.Publish, W) },
  { id: PropertyId.ResponseTopic, name: "Response Topic", field: "responseTopic", dataType: PropertyDataType.Utf8String, allowedIn: bit(P.Publish, W) },
  { id: PropertyId.CorrelationData, name: "Correlation Data", field: "correlationData", dataType: PropertyDataType.BinaryData, allowedIn: bit(P.Publish, W) },
  { id: PropertyId.SubscriptionIdentifier, name: "Subscription Identifier", field: "subscriptionIdentifiers", dataType: PropertyDataType.VariableByteInteger, allowedIn: bit(P.Publish, P.Subscribe), nonZero: true },
  { id: PropertyId.SessionExpiryInterval, name: "Session Expiry Interval", field: "sessionExpiryIntervalSeconds", dataType: PropertyDataType.FourByteInteger, allowedIn: bit(P.Connect, P.Connack, P.Disconnect) },
  { id: PropertyId.AssignedClientIdentifier, name: "Assigned Client Identifier", field: "assignedClientIdentifier", dataType: PropertyDataType.Utf8String, allowedIn: bit(P.Connack) },
  { id: PropertyId.ServerKeepAlive, name: "Server Keep Alive", field: "serverKeepAliveSeconds", dataType: PropertyDataType.TwoByteInteger, allowedIn: bit(P.Connack) },
  { id: PropertyId.AuthenticationMethod, name: "Authentication Method", field: "authenticationMethod", dataType: PropertyDataType.Utf8String, allowedIn: bit(P.Connect, P.Connack, P.Auth) },
  { id: PropertyId.AuthenticationData, name: "Authentication Data", field: "authenticationData", dataType: PropertyDataType.BinaryData, allowedIn: bit(P.Connect, P.Connack, P.Auth) },
  { id: PropertyId.RequestProblemInformation, name: "Request Problem Information", field: "requestProblemInformation", dataType: PropertyDataType.Byte, allowedIn: bit(P.Connect), booleanValue: true },
  { id: PropertyId.WillDelayInterval, name: "Will Delay Interval", field: "willDelayIntervalSeconds", dataType: PropertyDataType.FourByteInteger, allowedIn: bit(W) },
  { id: PropertyId.RequestResponseInformation, name: "Request Response Information", field: "requestResponseInformation", dataType: PropertyDataType.Byte, allowedIn: bit(P.Connect), booleanValue: true },
  { id: PropertyId.ResponseInformation, name: "Response Information", field: "responseInformation", dataType: PropertyDataType.Utf8String, allowedIn: bit(P.Connack) },
  { id: PropertyId.ServerReference, name: "Server Reference", field: "serverReference", dataType: PropertyDataType.Utf8String, allowedIn: bit(P.Connack, P.Disconnect) },
  { id: PropertyId.ReasonString, name: "Reason String", field: "reasonString", dataType: PropertyDataType.Utf8String, allowedIn: bit(P.Connack, P.Puback, P.Pubrec, P.Pubrel, P.Pubcomp, P.Suback, P.Unsuback, P.Disconnect, P.Auth) },
  { id: PropertyId.ReceiveMaximum, name: "Receive Maximum", field: "receiveMaximum", dataType: PropertyDataType.TwoByteInteger, allowedIn: bit(P.Connect, P.Connack), nonZero: true },
  { id: PropertyId.TopicAliasMaximum, name: "Topic Alias Maximum", field: "topicAliasMaximum", dataType: PropertyDataType.TwoByteInteger, allowedIn: bit(P.Connect, P.Connack) },
  { id: PropertyId.TopicAlias, name: "Topic Alias", field: "topicAlias", dataType: PropertyDataType.TwoByteInteger, allowedIn: bit(P.Publish), nonZero: true },
  { id: PropertyId.MaximumQoS, name: "Maximum QoS", field: "maximumQoS", dataType: PropertyDataType.Byte, allowedIn: bit(P.Connack), booleanValue: true },
  { id: PropertyId.RetainAvailable, name: "Retain Available", field: "retainAvailable", dataType: PropertyDataType.Byte, allowedIn: bit(P.Connack), booleanValue: true },
  { id: PropertyId.UserProperty, name: "User Property", field: "userProperties", dataType: PropertyDataType.Utf8StringPair, allowedIn: bit(P.Connect, P.Connack, P.Publish, W, P.Puback, P.Pubrec, P.Pubrel, P.Pubcomp, P.Subscribe, P.Suback, P.Unsubscribe, P.Unsuback, P.Disconnect, P.Auth) },
  { id: PropertyId.MaximumPacketSize, name: "Maximum Packet Size", field: "maximumPacketSizeBytes", dataType: PropertyDataType.FourByteInteger, allowedIn: bit(P.Connect, P.Connack), nonZero: true },
  { id: PropertyId.WildcardSubscriptionAvailable, name: "Wildcard Subscription Available", field: "wildcardSubscriptionAvailable", dataType: PropertyDataType.Byte, allowedIn: bit(P.Connack), booleanValue: true },
  { id: PropertyId.SubscriptionIdentifierAvailable, name: "Subscription Identifier Available", field: "subscriptionIdentifierAvailable", dataType: PropertyDataType.Byte, allowedIn: bit(P.Connack), booleanValue: true },
  { id: PropertyId.SharedSubscriptionAvailable, name: "Shared Subscription Available", field: "sharedSubscriptionAvailable", dataType: PropertyDataType.Byte, allowedIn: bit(P.Connack), booleanValue: true },
];

/** PROPERTY_BY_ID[id] is the definition of property `id`, or undefined for an unknown identifier. */
export const PROPERTY_BY_ID: readonly (PropertyDefinition | undefined)[] = (() => {
  const table: (PropertyDefinition | undefined)[] = new Array(256).fill(undefined);
  for (const def of PROPERTY_DEFINITIONS) table[def.id] = def;
  return table;
})();

/** Whether property `id` may appear in `context` (a packet type, or the will). */
export function isPropertyAllowed(id: PropertyId, context: PropertyContext): boolean {
  const def = PROPERTY_BY_ID[id];
  return def !== undefined && (def.allowedIn & (1 << context)) !== 0;
}

/** Largest Remaining Length a 4-byte Variable Byte Integer can carry (268,435,455 = 256 MiB - 1). */
export const MAX_VARIABLE_BYTE_INTEGER = 268_435_455;

/** Protocol names carried in CONNECT. */
export const PROTOCOL_NAME_V3 = "MQIsdp";
export const PROTOCOL_NAME = "MQTT";
