/**
 * MQTT 5 properties (§2.2.2): Property Length, then (identifier, value) pairs.
 * Decoding validates where each property may appear, duplicates, and the values the spec
 * forbids; encoding sizes then writes, driven by the same table (constants.ts).
 */
import {
  PACKET_TYPE_NAMES,
  PROPERTY_BY_ID,
  PROPERTY_CONTEXT_WILL,
  PROPERTY_DEFINITIONS,
  PacketType,
  PropertyDataType,
  PropertyId,
  ReasonCode,
  type PropertyContext,
  type PropertyDefinition,
} from "./constants.ts";
import type { Properties } from "./packets.ts";
import type { Reader } from "./reader.ts";
import { type Writer, binaryLength, stringLength, varintLength } from "./writer.ts";

/** "PUBLISH", or "CONNECT Will Properties": where a property was found, for messages. */
function contextName(context: PropertyContext): string {
  return context === PROPERTY_CONTEXT_WILL ? "CONNECT Will Properties" : PACKET_TYPE_NAMES[context]!;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(2, "0")}`;

/** Properties is a bag keyed by the table's `field` names; this is how the table reaches it. */
type PropertyBag = Record<string, unknown>;

/**
 * Reads a Property Length and the properties after it. Returns undefined when there are none,
 * or when reading failed: callers check `r.error`.
 */
export function readProperties(r: Reader, context: PropertyContext): Properties | undefined {
  const where = contextName(context);
  const length = r.varint(`${where} Property Length`);
  if (length <= 0) return undefined;
  if (length > r.remaining()) {
    r.fail(
      ReasonCode.MalformedPacket,
      `${where} Property Length`,
      `is ${length} but only ${r.remaining()} byte(s) of the packet are left`,
    );
    return undefined;
  }
  const end = r.pos + length;
  const bag: PropertyBag = {};
  while (r.pos < end) {
    const id = r.varint(`${where} property identifier`);
    if (id < 0) return undefined;
    const def = id < PROPERTY_BY_ID.length ? PROPERTY_BY_ID[id] : undefined;
    if (def === undefined) {
      r.fail(ReasonCode.MalformedPacket, `${where} property identifier`, `${hex(id)} is not an MQTT 5 property identifier (§2.2.2.2)`);
      return undefined;
    }
    const field = `${where} ${def.name}`;
    if ((def.allowedIn & (1 << context)) === 0) {
      r.fail(
        ReasonCode.MalformedPacket,
        field,
        `property ${def.name} (${hex(id)}) is not allowed in ${where}; a property not valid for its packet type makes it malformed (§2.2.2.2)`,
      );
      return undefined;
    }
    const repeatable = def.id === PropertyId.UserProperty || (def.id === PropertyId.SubscriptionIdentifier && context === PacketType.Publish);
    if (!repeatable && bag[def.field] !== undefined) {
      r.fail(ReasonCode.ProtocolError, field, `appears more than once; it is a Protocol Error to include ${def.name} more than once`);
      return undefined;
    }
    if (!readValue(r, def, field, bag)) return undefined;
    if (r.pos > end) {
      r.fail(ReasonCode.MalformedPacket, field, `runs ${r.pos - end} byte(s) past the end of the properties (Property Length ${length})`);
      return undefined;
    }
  }
  return bag as Properties;
}

/** Reads one value into `bag`; false when it failed (r.error is set). */
function readValue(r: Reader, def: PropertyDefinition, field: string, bag: PropertyBag): boolean {
  switch (def.dataType) {
    case PropertyDataType.Byte:
    case PropertyDataType.TwoByteInteger:
    case PropertyDataType.FourByteInteger: {
      const value =
        def.dataType === PropertyDataType.Byte ? r.u8(field) : def.dataType === PropertyDataType.TwoByteInteger ? r.u16(field) : r.u32(field);
      if (value < 0) return false;
      if (def.booleanValue && value > 1) {
        r.fail(ReasonCode.ProtocolError, field, `is ${value}; it is a Protocol Error for ${def.name} to be other than 0 or 1`);
        return false;
      }
      if (def.nonZero && value === 0) {
        if (def.id === PropertyId.TopicAlias) {
          r.fail(ReasonCode.TopicAliasInvalid, field, "is 0; a Topic Alias of 0 is not permitted [MQTT-3.3.2-8]");
        } else {
          r.fail(ReasonCode.ProtocolError, field, `is 0; it is a Protocol Error for ${def.name} to be 0`);
        }
        return false;
      }
      bag[def.field] = value;
      return true;
    }
    case PropertyDataType.VariableByteInteger: {
      // Only Subscription Identifier has this type.
      const value = r.varint(field);
      if (value < 0) return false;
      if (value === 0) {
        r.fail(ReasonCode.ProtocolError, field, "is 0; it is a Protocol Error for the Subscription Identifier to be 0 (§3.8.2.1.2)");
        return false;
      }
      const list = bag[def.field] as number[] | undefined;
      if (list === undefined) bag[def.field] = [value];
      else list.push(value);
      return true;
    }
    case PropertyDataType.Utf8String: {
      const value = r.utf8(field);
      if (value === undefined) return false;
      bag[def.field] = value;
      return true;
    }
    case PropertyDataType.BinaryData: {
      const value = r.binary(field);
      if (value === undefined) return false;
      bag[def.field] = value;
      return true;
    }
    case PropertyDataType.Utf8StringPair: {
      const name = r.utf8(`${field} name`);
      if (name === undefined) return false;
      const value = r.utf8(`${field} value`);
      if (value === undefined) return false;
      const list = bag[def.field] as Array<[string, string]> | undefined;
      if (list === undefined) bag[def.field] = [[name, value]];
      else list.push([name, value]);
      return true;
    }
  }
}

const DEFINITION_BY_FIELD: ReadonlyMap<string, PropertyDefinition> = new Map(PROPERTY_DEFINITIONS.map((d) => [d.field, d]));

/**
 * Bytes the properties take after the Property Length varint. Throws (a bug in the caller, not
 * bad input) for a property not allowed in `context`, or a value that cannot be encoded.
 */
export function propertiesLength(props: Properties | undefined, context: PropertyContext): number {
  if (props === undefined) return 0;
  const bag = props as PropertyBag;
  let length = 0;
  for (const key in bag) {
    const value = bag[key];
    if (value === undefined) continue;
    const def = DEFINITION_BY_FIELD.get(key);
    if (def === undefined) throw new RangeError(`unknown MQTT 5 property field "${key}"`);
    if ((def.allowedIn & (1 << context)) === 0) {
      throw new RangeError(`property ${def.name} may not be sent in ${contextName(context)}`);
    }
    switch (def.dataType) {
      case PropertyDataType.Byte:
        length += 2;
        break;
      case PropertyDataType.TwoByteInteger:
        length += 3;
        break;
      case PropertyDataType.FourByteInteger:
        length += 5;
        break;
      case PropertyDataType.VariableByteInteger:
        for (const id of value as number[]) length += 1 + varintLength(id);
        break;
      case PropertyDataType.Utf8String:
        length += 3 + stringLength(value as string, def.name);
        break;
      case PropertyDataType.BinaryData: {
        length += 3 + binaryLength(value as Uint8Array, def.name);
        break;
      }
      case PropertyDataType.Utf8StringPair:
        for (const [name, v] of value as Array<[string, string]>) {
          length += 5 + stringLength(name, "User Property name") + stringLength(v, "User Property value");
        }
        break;
    }
  }
  return length;
}

/** Writes the Property Length and the properties; `length` is what propertiesLength returned. */
export function writeProperties(w: Writer, props: Properties | undefined, length: number): void {
  w.varint(length);
  if (props === undefined || length === 0) return;
  const bag = props as PropertyBag;
  for (const key in bag) {
    const value = bag[key];
    if (value === undefined) continue;
    const def = DEFINITION_BY_FIELD.get(key)!;
    switch (def.dataType) {
      case PropertyDataType.Byte:
        w.u8(def.id);
        w.u8(value as number);
        break;
      case PropertyDataType.TwoByteInteger:
        w.u8(def.id);
        w.u16(value as number);
        break;
      case PropertyDataType.FourByteInteger:
        w.u8(def.id);
        w.u32(value as number);
        break;
      case PropertyDataType.VariableByteInteger:
        for (const id of value as number[]) {
          w.u8(def.id);
          w.varint(id);
        }
        break;
      case PropertyDataType.Utf8String:
        w.u8(def.id);
        w.utf8(value as string);
        break;
      case PropertyDataType.BinaryData:
        w.u8(def.id);
        w.binary(value as Uint8Array);
        break;
      case PropertyDataType.Utf8StringPair:
        for (const [name, v] of value as Array<[string, string]>) {
          w.u8(def.id);
          w.utf8(name);
          w.utf8(v);
        }
        break;
    }
  }
}
