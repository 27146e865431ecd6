/**
 * Real traffic captured from mosquitto_pub / mosquitto_sub 2.0.11 and MQTT.js 5.16 talking to
 * mosquitto 2.0.11 (test/fixtures/captures/capture.ts made the files; each names its producer).
 */
import { describe, expect, test } from "bun:test";
import { PacketType, type ProtocolVersion } from "./constants.ts";
import { decodePacket } from "./decode.ts";
import { Decoder } from "./decoder.ts";
import { encodePacket } from "./encode.ts";
import type { Packet } from "./packets.ts";
import { h, snapshot, toHex } from "./test-helpers.ts";

interface Capture {
  description: string;
  producedBy: string;
  protocolVersion: ProtocolVersion;
  connections: Array<Array<{ direction: "client->server" | "server->client"; hex: string }>>;
}

// Read with Bun's own APIs so the codec folder has no import from outside it, tests included.
const DIR = `${import.meta.dir}/../../test/fixtures/captures`;
const captures = await Promise.all(
  [...new Bun.Glob("*.json").scanSync(DIR)].sort().map(async (file) => ({ file, capture: (await Bun.file(`${DIR}/${file}`).json()) as Capture })),
);

/** Packets of one capture, decoded: client->server through a server's Decoder, server->client one by one. */
function decodeCapture(capture: Capture): Array<{ direction: string; hex: string; packet: Packet }> {
  const out: Array<{ direction: string; hex: string; packet: Packet }> = [];
  for (const connection of capture.connections) {
    const decoder = new Decoder({ maxPacketSizeBytes: 1 << 20, maxPacketSizeBeforeConnectBytes: 65536 });
    for (const { direction, hex } of connection) {
      let result;
      if (direction === "client->server") {
        decoder.feed(h(hex));
        result = decoder.next();
        expect(decoder.next().kind).toBe("more");
      } else {
        result = decodePacket(h(hex), capture.protocolVersion);
      }
      if (result.kind !== "packet") throw new Error(`${direction} ${hex}: ${JSON.stringify(result)}`);
      expect(result.size).toBe(hex.length / 2);
      if (result.packet.type === PacketType.Connect) decoder.protocolVersion = result.packet.protocolVersion;
      out.push({ direction, hex, packet: result.packet });
    }
  }
  return out;
}

/**
 * MQTT 5 lets a sender spell "Success, no properties" as a Reason Code and an empty Property
 * Length (MQTT.js does); our encoder writes the shortest form, so those differ in bytes only.
 */
function isLongFormOfShortAck(packet: Packet, version: ProtocolVersion, hex: string): boolean {
  if (version !== 5) return false;
  const shortable = [PacketType.Puback, PacketType.Pubrec, PacketType.Pubrel, PacketType.Pubcomp, PacketType.Disconnect];
  return shortable.includes(packet.type) && !("properties" in packet) && (hex.endsWith("0000") || hex.endsWith("00"));
}

test("the capture fixtures are present", () => {
  expect(captures.map((c) => c.file)).toEqual([
    "mosquitto-pub-mqttv31.json", "mosquitto-pub-mqttv311.json", "mosquitto-pub-mqttv5.json",
    "mosquitto-sub-mqttv31.json", "mosquitto-sub-mqttv311.json", "mosquitto-sub-mqttv5.json",
    "mqttjs-v3.json", "mqttjs-v4.json", "mqttjs-v5.json",
  ]);
});

describe("captured real traffic decodes and re-encodes", () => {
  for (const { file, capture } of captures) {
    test(`${file} (${capture.producedBy.slice(0, 60)}…)`, () => {
      const decoded = decodeCapture(capture);
      expect(decoded.length).toBeGreaterThan(10);
      for (const { hex, packet } of decoded) {
        const version = packet.type === PacketType.Connect ? packet.protocolVersion : capture.protocolVersion;
        const again = toHex(encodePacket(packet, version));
        if (again !== hex) {
          expect({ hex, longForm: isLongFormOfShortAck(packet, version, hex) }).toEqual({ hex, longForm: true });
          const redecoded = decodePacket(h(again), version);
          expect(redecoded.kind === "packet" && snapshot(redecoded.packet)).toEqual(snapshot(packet));
        }
      }
    });
  }
});

describe("captured packets carry what their producers sent", () => {
  const find = (file: string, predicate: (p: Packet) => boolean): Packet => {
    const capture = captures.find((c) => c.file === file)!.capture;
    const hit = decodeCapture(capture).find((d) => predicate(d.packet));
    if (hit === undefined) throw new Error(`no matching packet in ${file}`);
    return hit.packet;
  };

  test("mosquitto_pub 3.1 sends MQIsdp level 3 with its will, user name and password", () => {
    const connect = find("mosquitto-pub-mqttv31.json", (p) => p.type === PacketType.Connect && p.will !== undefined);
    expect(snapshot(connect)).toMatchObject({
      protocolName: "MQIsdp", protocolVersion: 3, clientId: "cap-pub1-3", username: "bob", password: { hex: "7077" },
      will: { topic: "cap/will", payload: { hex: "676f6e65" }, qos: 1, retain: true },
    });
  });

  test("mosquitto_pub 5.0 sends every PUBLISH property it was given", () => {
    const publish = find("mosquitto-pub-mqttv5.json", (p) => p.type === PacketType.Publish && p.qos === 2);
    expect(snapshot(publish)).toMatchObject({
      topic: "cap/q2/ünï", retain: true,
      properties: {
        userProperties: [["k", "v"]], contentType: "text/plain", messageExpiryIntervalSeconds: 30,
        responseTopic: "cap/reply", correlationData: { hex: "633066666565" }, payloadFormatIndicator: 1,
      },
    });
  });

  test("mosquitto 5.0 delivers with the subscriber's Subscription Identifier", () => {
    const publish = find("mosquitto-sub-mqttv5.json", (p) => p.type === PacketType.Publish && p.qos === 1);
    expect(snapshot(publish)).toMatchObject({ topic: "cap/q1", properties: { subscriptionIdentifiers: [7] } });
  });

  test("MQTT.js 5.0 CONNECT carries its properties and will properties", () => {
    const connect = find("mqttjs-v5.json", (p) => p.type === PacketType.Connect);
    expect(snapshot(connect)).toMatchObject({
      protocolVersion: 5, username: "carol",
      properties: { receiveMaximum: 100, topicAliasMaximum: 10, userProperties: [["app", "capture"]] },
      will: { topic: "cap/js/will", properties: { willDelayIntervalSeconds: 10 } },
    });
  });

  test("MQTT.js 5.0 SUBSCRIBE carries Retain As Published and Retain Handling 1", () => {
    const subscribe = find("mqttjs-v5.json", (p) => p.type === PacketType.Subscribe);
    expect(snapshot(subscribe)).toMatchObject({
      subscriptions: [{ topicFilter: "cap/js/+", qos: 2, noLocal: false, retainAsPublished: true, retainHandling: 1 }],
    });
  });
});
