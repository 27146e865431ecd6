/**
 * Everything of issue 6 switched on the way an operator does it: one rabbitmq.conf-style file
 * with the plugin's keys (mqtt.listeners.ssl, ssl_options.*, mqtt.ssl_cert_login,
 * web_mqtt.tcp/ssl.*) and ours (adapter.amqp_url = amqps://, adapter.amqp_ssl_options.*,
 * adapter.ssl_cert_login.*), run by the compiled executable against the TLS RabbitMQ node.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { freePort, runBinary, startBinary, type BinaryAdapter } from "../support/binary.ts";
import { uniqueName } from "../support/broker.ts";
import { runProcess } from "./mqtt-cli-clients.ts";
import { connectMqttJs, endAll, Inbox, waitUntil } from "./mqtt-support.ts";
import { mosquittoPubTls, mosquittoTlsArgs, releaseTlsNode, testPki, tlsNode, type TlsNode } from "./tls-support.ts";

setDefaultTimeout(60_000);

const pki = testPki();
let node: TlsNode;
let adapter: BinaryAdapter;
const ports = { ssl: freePort(), ws: freePort(), wss: freePort() };
let config = "";
const device = uniqueName("device");
const deviceDn = `CN=${device},O=Acme`;
const deviceCert = pki.issue({ subject: `/O=Acme/CN=${device}` });

beforeAll(async () => {
  node = await tlsNode();
  await node.ctl("add_user", deviceDn, `unused-${crypto.randomUUID()}`);
  await node.ctl("set_permissions", "-p", "/", deviceDn, ".*", ".*", ".*");
  config = [
    `mqtt.listeners.ssl.default = ${ports.ssl}`,
    `ssl_options.cacertfile = ${pki.ca.certFile}`,
    `ssl_options.certfile = ${pki.server.certFile}`,
    `ssl_options.keyfile = ${pki.server.keyFile}`,
    "ssl_options.verify = verify_peer",
    "ssl_options.fail_if_no_peer_cert = true",
    "ssl_options.versions.1 = tlsv1.3",
    "ssl_options.versions.2 = tlsv1.2",
    "mqtt.ssl_cert_login = true",
    "ssl_cert_login_from = distinguished_name",
    "web_mqtt.tcp.ip = 127.0.0.1",
    `web_mqtt.tcp.port = ${ports.ws}`,
    "web_mqtt.ssl.ip = 127.0.0.1",
    `web_mqtt.ssl.port = ${ports.wss}`,
    `web_mqtt.ssl.certfile = ${pki.server.certFile}`,
    `web_mqtt.ssl.keyfile = ${pki.server.keyFile}`,
    `adapter.amqp_ssl_options.cacertfile = ${pki.ca.certFile}`,
    "adapter.amqp_ssl_options.server_name_indication = localhost",
    `adapter.ssl_cert_login.ca_certfile = ${node.adapterCa.certFile}`,
    `adapter.ssl_cert_login.ca_keyfile = ${node.adapterCa.keyFile}`,
  ].join("\n");
  adapter = await startBinary({ amqpUrl: node.amqpsUrl, extraConfig: config });
}, 120_000);

afterAll(async () => {
  const stopped = await adapter?.stop();
  await node?.ctl("delete_user", deviceDn).catch(() => {});
  await releaseTlsNode();
  expect(stopped?.exitCode).toBe(0);
}, 60_000);

describe("the compiled adapter with TLS, certificate login and WebSocket from its config file", () => {
  test("check-config accepts the file", async () => {
    const run = await runBinary(["check-config", "--config", adapter.configFile]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
  });

  test("logs every listener the way the plugin family words them", async () => {
    await adapter.waitForLine(`started MQTT SSL Listener on [::]:${ports.ssl}`);
    await adapter.waitForLine(`started MQTT WebSocket Listener on 127.0.0.1:${ports.ws}`);
    await adapter.waitForLine(`started MQTT WebSocket SSL Listener on 127.0.0.1:${ports.wss}`);
    await adapter.waitForLine(/RabbitMQ answers at amqps:\/\//);
  });

  test("mosquitto logs in with its certificate alone; MQTT.js over wss:// with a password receives what it published", async () => {
    const topic = `${uniqueName("cfg")}/cert`;
    const subscriber = await connectMqttJs(`wss://localhost:${ports.wss}/ws`, { ca: pki.ca.cert, username: "guest", password: "guest", clientId: uniqueName("wss") });
    try {
      const inbox = new Inbox(subscriber);
      await subscriber.subscribeAsync(topic, { qos: 1 });
      const result = await mosquittoPubTls(ports.ssl, uniqueName("mp"), topic, "device reading", mosquittoTlsArgs(deviceCert));
      expect(result.exitCode, result.stderr).toBe(0);
      expect((await inbox.next("the device's message over wss://")).payload).toBe("device reading");
      await waitUntil(() => adapter.lines.some((line) => line.includes(`user "${deviceDn}" (client certificate)`)), "the certificate login line");
      expect(await node.ctl("list_connections", "user", "auth_mechanism")).toContain(`${deviceDn}\tEXTERNAL`);
    } finally {
      await endAll(subscriber);
    }
  });

  test("mosquitto_sub over the TLS port without a certificate is refused by the TLS handshake", async () => {
    const result = await runProcess(["mosquitto_sub", "-h", "localhost", "-p", String(ports.ssl), "-t", "x/y", "-C", "1", "-W", "3", "--cafile", pki.ca.certFile], 10_000);
    expect(result.exitCode).not.toBe(0);
    await adapter.waitForLine(/TLS connection from 127\.0\.0\.1:\d+ refused: the client sent no certificate, and ssl_options\.fail_if_no_peer_cert = true requires one/);
  });
});
