/**
 * Client-certificate login (mqtt.ssl_cert_login) end to end, and AMQP over TLS: a second
 * private RabbitMQ node with an AMQPS listener that trusts only the adapter CA and offers
 * EXTERNAL (tls-support.ts). The adapter logs certificate clients in with certificates it mints
 * for them; RabbitMQ derives the user name itself, checks the user exists and applies its
 * permissions. Certificates are made by openssl at test time.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import amqp from "amqplib";
import { buildDefaults, type AdapterConfig } from "../../src/config/index.ts";
import { startAdapter } from "../support/adapter.ts";
import { uniqueName } from "../support/broker.ts";
import { connackOf, connectMqttJs, endAll, HOOK_TIMEOUT_MS, Inbox, TEST_TIMEOUT_MS, waitUntil, withTimeout } from "./mqtt-support.ts";
import { mosquittoPubTls, mosquittoTlsArgs, releaseTlsNode, startTlsAdapter, testPki, tlsNode, type TlsAdapter, type TlsNode } from "./tls-support.ts";

setDefaultTimeout(TEST_TIMEOUT_MS);

const pki = testPki();
let node: TlsNode;
/** ssl_cert_login_from = distinguished_name (RabbitMQ's default), auth cache off. */
let dnAdapter: TlsAdapter;
const users: string[] = [];

function certLoginConfig(more: Partial<AdapterConfig> = {}): Partial<AdapterConfig> {
  return {
    amqpUrl: node.amqpsUrl,
    // RabbitMQ's server certificate is signed by the test CA.
    amqpTls: { ...buildDefaults().amqpTls, cacertfile: pki.ca.certFile, serverNameIndication: "localhost" },
    sslCertLogin: true,
    sslCertLoginFrom: "distinguished_name",
    certLoginCa: { certfile: node.adapterCa.certFile, keyfile: node.adapterCa.keyFile, password: null, certificateLifetimeMs: 600_000 },
    authCacheTtlMs: 0,
    ...more,
  };
}

/** A RabbitMQ user on the TLS node with these permissions in "/" (configure, write, read). */
async function addUser(name: string, permissions: [string, string, string] | null = [".*", ".*", ".*"]): Promise<void> {
  users.push(name);
  await node.ctl("add_user", name, `unused-${crypto.randomUUID()}`);
  if (permissions !== null) await node.ctl("set_permissions", "-p", "/", name, ...permissions);
}

beforeAll(async () => {
  node = await tlsNode();
  dnAdapter = await startTlsAdapter({ verify: "verify_peer", failIfNoPeerCert: true }, certLoginConfig());
}, 120_000);

afterAll(async () => {
  await dnAdapter?.adapter.stop();
  for (const name of users) await node.ctl("delete_user", name).catch(() => {});
  await releaseTlsNode();
}, HOOK_TIMEOUT_MS);

const tlsClient = (cert: { cert: string; key: string }) => ({ ca: pki.ca.cert, cert: cert.cert, key: cert.key });

describe("mqtt.ssl_cert_login through RabbitMQ's EXTERNAL mechanism", () => {
  test("a certificate without user name logs in as its DN, RabbitMQ's way (escapes, multi-valued RDN, UTF-8), over EXTERNAL", async () => {
    const id = uniqueName("dn");
    const certificate = pki.issue({ subject: `/C=US/O=Acme, Inc./OU=dev+CN=${id}/CN=bob é` });
    // What RabbitMQ's rabbit_cert_info makes of that subject: the adapter must agree byte for byte.
    const dn = `CN=bob \\C3\\A9,OU=dev+CN=${id},O=Acme\\, Inc.,C=US`;
    await addUser(dn);
    const client = await connectMqttJs(dnAdapter.url, { ...tlsClient(certificate), clientId: uniqueName("c") });
    try {
      expect(dnAdapter.adapter.logLines).toContainEqual(expect.stringContaining(`user "${dn}" (client certificate)`));
      const connections = await node.ctl("list_connections", "user", "auth_mechanism");
      expect(connections).toContain(`${dn}\tEXTERNAL`);
      const topic = `${uniqueName("cert")}/echo`;
      const inbox = new Inbox(client);
      await client.subscribeAsync(topic, { qos: 1 });
      await client.publishAsync(topic, "as the certificate's user", { qos: 1 });
      expect((await inbox.next("the echo")).payload).toBe("as the certificate's user");
    } finally {
      await endAll(client);
    }
  });

  test("RabbitMQ applies the certificate user's permissions: no read permission means SUBACK failure (0x80)", async () => {
    const id = uniqueName("ro");
    const certificate = pki.issue({ subject: `/O=Acme/CN=${id}` });
    await addUser(`CN=${id},O=Acme`, [".*", ".*", "^$"]);
    const client = await connectMqttJs(dnAdapter.url, { ...tlsClient(certificate), clientId: uniqueName("c") });
    try {
      // MQTT.js rejects a SUBACK with 0x80 and keeps the packet on the error.
      const granted = await withTimeout(
        client.subscribeAsync(`${uniqueName("cert")}/denied`, { qos: 1 }).then(
          (grants) => grants.map((g) => g.qos),
          (error: { packet?: { granted?: number[] } }) => error.packet?.granted,
        ),
        10_000,
        "the SUBACK",
      );
      expect(granted).toEqual([0x80]);
      // Publishing (write permission) still works: RabbitMQ refused exactly what the user may not do.
      await withTimeout(client.publishAsync(`${uniqueName("cert")}/allowed`, "ok", { qos: 1 }), 10_000, "the PUBACK");
    } finally {
      await endAll(client);
    }
  });

  test("a certificate whose user RabbitMQ does not know gets CONNACK 4; a user without access to the vhost CONNACK 5", async () => {
    const unknown = pki.issue({ subject: `/O=Acme/CN=${uniqueName("nobody")}` });
    expect((await connackOf(dnAdapter.url, { ...tlsClient(unknown), clientId: uniqueName("c") })).returnCode).toBe(4);
    const id = uniqueName("noperm");
    const noAccess = pki.issue({ subject: `/O=Acme/CN=${id}` });
    await addUser(`CN=${id},O=Acme`, null);
    expect((await connackOf(dnAdapter.url, { ...tlsClient(noAccess), clientId: uniqueName("c") })).returnCode).toBe(5);
  });

  test("a user deleted in RabbitMQ cannot log in again with the same certificate (RabbitMQ decides each login)", async () => {
    const id = uniqueName("gone");
    const certificate = pki.issue({ subject: `/CN=${id}` });
    await addUser(`CN=${id}`);
    const first = await connectMqttJs(dnAdapter.url, { ...tlsClient(certificate), clientId: uniqueName("c") });
    await endAll(first);
    await node.ctl("delete_user", `CN=${id}`);
    expect((await connackOf(dnAdapter.url, { ...tlsClient(certificate), clientId: uniqueName("c") })).returnCode).toBe(4);
  });

  test("mosquitto_pub with --cert/--key and no -u publishes as the certificate's user into RabbitMQ", async () => {
    const id = uniqueName("mosq");
    const certificate = pki.issue({ subject: `/O=Acme/CN=${id}` });
    await addUser(`CN=${id},O=Acme`);
    const amqpConnection = await amqp.connect(node.node.amqpUrl);
    try {
      const channel = await amqpConnection.createChannel();
      const { queue } = await channel.assertQueue("", { exclusive: true });
      const topic = `${uniqueName("cert")}/mosquitto`;
      await channel.bindQueue(queue, "amq.topic", topic.replaceAll("/", "."));
      const result = await mosquittoPubTls(dnAdapter.tlsPort, uniqueName("mp"), topic, "from mosquitto with a certificate", mosquittoTlsArgs(certificate));
      expect(result.exitCode, result.stderr).toBe(0);
      const message = await waitUntil(async () => (await channel.get(queue, { noAck: true })) || undefined, "the message in RabbitMQ");
      expect(message.content.toString()).toBe("from mosquitto with a certificate");
    } finally {
      await amqpConnection.close();
    }
  });

  test("two certificates the adapter names alike (common_name) never share one RabbitMQ login", async () => {
    // The adapter names both "twin"; RabbitMQ (ssl_cert_login_from = distinguished_name) does not.
    const cnAdapter = await startTlsAdapter(
      { verify: "verify_peer", failIfNoPeerCert: true },
      certLoginConfig({ sslCertLoginFrom: "common_name", authCacheTtlMs: 60_000 }),
    );
    try {
      const twin = uniqueName("twin");
      const known = pki.issue({ subject: `/O=Known/CN=${twin}` });
      const other = pki.issue({ subject: `/O=Other/CN=${twin}` });
      await addUser(`CN=${twin},O=Known`);
      const first = await connectMqttJs(cnAdapter.url, { ...tlsClient(known), clientId: uniqueName("c") });
      try {
        expect(cnAdapter.adapter.logLines).toContainEqual(expect.stringContaining(`user "${twin}" (client certificate)`));
        // Same adapter-side name, vhost and a warm auth cache: still refused, by RabbitMQ.
        expect((await connackOf(cnAdapter.url, { ...tlsClient(other), clientId: uniqueName("c") })).returnCode).toBe(4);
      } finally {
        await endAll(first);
      }
    } finally {
      await cnAdapter.adapter.stop();
    }
  });

  test("certificate login without the adapter CA is a startup error naming the key", async () => {
    const attempt = startAdapter({
      sslListeners: [{ host: "127.0.0.1", port: 0 }],
      ...certLoginConfig({ certLoginCa: { certfile: null, keyfile: null, password: null, certificateLifetimeMs: 600_000 } }),
    });
    expect(attempt).rejects.toThrow("mqtt.ssl_cert_login = true needs adapter.ssl_cert_login.ca_certfile");
  });
});

describe("AMQP over TLS (adapter.amqp_url = amqps://, adapter.amqp_ssl_options.*)", () => {
  test("password logins travel over TLS to RabbitMQ's AMQPS listener", async () => {
    const adapter = await startAdapter({ amqpUrl: node.amqpsUrl, amqpTls: { ...buildDefaults().amqpTls, cacertfile: pki.ca.certFile, serverNameIndication: "localhost" } });
    try {
      const client = await connectMqttJs(adapter.url, { username: "guest", password: "guest", clientId: uniqueName("pw") });
      try {
        const inbox = new Inbox(client);
        const topic = `${uniqueName("amqps")}/echo`;
        await client.subscribeAsync(topic, { qos: 1 });
        await client.publishAsync(topic, "via amqps", { qos: 1 });
        expect((await inbox.next("the echo over AMQPS")).payload).toBe("via amqps");
        const listing = await node.ctl("list_connections", "user", "ssl", "auth_mechanism");
        expect(listing).toContain("guest\ttrue\tPLAIN");
      } finally {
        await endAll(client);
      }
      await waitUntil(() => adapter.logLines.some((line) => line.includes(`RabbitMQ answers at ${new URL(node.amqpsUrl).protocol}`)), "the broker watch to reach RabbitMQ over TLS");
    } finally {
      await adapter.stop();
    }
  });

  test("verify_peer with a CA that did not sign RabbitMQ's certificate: CONNACK 3 and a line naming the certificate problem; verify_none connects", async () => {
    const wrongCa = await startAdapter({ amqpUrl: node.amqpsUrl, amqpTls: { ...buildDefaults().amqpTls, cacertfile: pki.otherCa.certFile, serverNameIndication: "localhost" } });
    try {
      expect((await connackOf(wrongCa.url, { username: "guest", password: "guest", clientId: uniqueName("c") })).returnCode).toBe(3);
      const line = await waitUntil(() => wrongCa.logLines.find((l) => l.includes("closing MQTT connection") && /certificate/i.test(l)), "a line naming the certificate");
      expect(line).toContain(`amqps://${new URL(node.amqpsUrl).host}`);
    } finally {
      await wrongCa.stop();
    }
    const unchecked = await startAdapter({ amqpUrl: node.amqpsUrl, amqpTls: { ...buildDefaults().amqpTls, verify: "verify_none", serverNameIndication: "localhost" } });
    try {
      expect((await connackOf(unchecked.url, { username: "guest", password: "guest", clientId: uniqueName("c") })).returnCode).toBe(0);
      expect(unchecked.logLines).toContainEqual(expect.stringContaining("adapter.amqp_ssl_options.verify = verify_none: RabbitMQ's certificate is not checked"));
    } finally {
      await unchecked.stop();
    }
  });
});
