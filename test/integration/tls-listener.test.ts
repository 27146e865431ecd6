/**
 * The MQTT TLS listener with real clients (MQTT.js over mqtts://, mosquitto_pub/_sub with
 * --cafile/--cert/--key, node:tls) and certificates made by openssl at test time: ssl_options.*
 * as RabbitMQ spells them, client certificates refused for the right reason with one log line,
 * operator mistakes on either port named in one line, and nothing of it disturbing other clients.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import mqtt from "mqtt";
import { startAdapter } from "../support/adapter.ts";
import { ensureRabbitmq, uniqueName } from "../support/broker.ts";
import { connectMqttJs, endAll, HOOK_TIMEOUT_MS, Inbox, TEST_TIMEOUT_MS, waitUntil, withTimeout } from "./mqtt-support.ts";
import { mosquittoPubTls, mosquittoTlsArgs, plainExchange, sslOptions, startTlsAdapter, testPki, tlsAttempt, type TlsAdapter } from "./tls-support.ts";

await ensureRabbitmq();
setDefaultTimeout(TEST_TIMEOUT_MS);

const pki = testPki();
const alice = pki.issue({ subject: "/O=Acme/CN=alice" });
const stranger = pki.otherCa.issue({ subject: "/O=Acme/CN=alice" });
const expired = pki.issue({ subject: "/O=Acme/CN=old-device", expired: true });

/** verify_peer + fail_if_no_peer_cert: every client needs a certificate of the test CA. */
let strict: TlsAdapter;
/** verify_peer only: a certificate is optional, but one that does not verify is refused. */
let optional: TlsAdapter;

beforeAll(async () => {
  [strict, optional] = await Promise.all([
    startTlsAdapter({ verify: "verify_peer", failIfNoPeerCert: true }),
    startTlsAdapter({ verify: "verify_peer", failIfNoPeerCert: false }),
  ]);
}, HOOK_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all([strict?.adapter.stop(), optional?.adapter.stop()]);
}, HOOK_TIMEOUT_MS);

/** Lines of `adapter` mentioning TLS refusals since `from`. */
function refusals(lines: readonly string[], from: number): string[] {
  return lines.slice(from).filter((line) => line.includes("TLS connection from") && line.includes("refused"));
}

describe("TLS listener (mqtt.listeners.ssl, ssl_options.*)", () => {
  test("logs `started MQTT SSL Listener on [::]:PORT` and serves MQTT.js over mqtts:// on IPv4 and IPv6", async () => {
    const dual = await startTlsAdapter({}, {}, "::");
    try {
      expect(dual.adapter.logLines).toContainEqual(expect.stringContaining(`started MQTT SSL Listener on [::]:${dual.tlsPort}`));
      const topic = `${uniqueName("tls")}/hello`;
      const options = { ca: pki.ca.cert, servername: "localhost" };
      const subscriber = await connectMqttJs(`mqtts://[::1]:${dual.tlsPort}`, { ...options, clientId: uniqueName("sub") });
      const publisher = await connectMqttJs(`mqtts://127.0.0.1:${dual.tlsPort}`, { ...options, clientId: uniqueName("pub") });
      try {
        const inbox = new Inbox(subscriber);
        await subscriber.subscribeAsync(topic, { qos: 1 });
        await publisher.publishAsync(topic, "over TLS", { qos: 1 });
        expect((await inbox.next("the message sent over TLS")).payload).toBe("over TLS");
      } finally {
        await endAll(publisher, subscriber);
      }
    } finally {
      await dual.adapter.stop();
    }
  });

  test("mosquitto_pub/_sub with --cafile, --cert and --key exchange a message under verify_peer", async () => {
    const topic = `${uniqueName("tls")}/mosquitto`;
    const sub = Bun.spawn(
      ["stdbuf", "-oL", "mosquitto_sub", "-h", "localhost", "-p", String(strict.tlsPort), "-V", "mqttv311", "-i", uniqueName("msub"), "-t", topic, "-q", "1", "-C", "1", "-W", "10", "-d", ...mosquittoTlsArgs(alice)],
      { stdout: "pipe", stderr: "pipe" },
    );
    let output = "";
    const decoder = new TextDecoder();
    const reader = (async () => {
      for await (const chunk of sub.stdout) output += decoder.decode(chunk, { stream: true });
    })();
    await waitUntil(() => output.includes("received SUBACK"), "mosquitto_sub's SUBACK over TLS");
    const pub = await mosquittoPubTls(strict.tlsPort, uniqueName("mpub"), topic, "from mosquitto over TLS", mosquittoTlsArgs(alice));
    expect(pub.exitCode, pub.stderr).toBe(0);
    expect(await withTimeout(sub.exited, 12_000, "mosquitto_sub to exit")).toBe(0);
    await reader;
    expect(output).toContain("from mosquitto over TLS");
  });

  test("ssl_options.password opens an encrypted key file; a wrong password is a startup error naming it", async () => {
    const encrypted = pki.issue({ subject: "/CN=localhost", san: ["DNS:localhost", "IP:127.0.0.1"], passphrase: "s3cret" });
    const good = await startTlsAdapter({ certfile: encrypted.certFile, keyfile: encrypted.keyFile, password: "s3cret" });
    try {
      expect(await tlsAttempt(good.tlsPort, {})).toBe("connected");
    } finally {
      await good.adapter.stop();
    }
    const wrong = startAdapter({ sslListeners: [{ host: "127.0.0.1", port: 0 }], tls: sslOptions({ certfile: encrypted.certFile, keyfile: encrypted.keyFile, password: "nope" }) });
    expect(wrong).rejects.toThrow(/cannot start the MQTT SSL listener on 127\.0\.0\.1:0: .*(BAD_DECRYPT|decrypt)/i);
  });

  test("ssl_options.versions: a client limited to TLS 1.2 is refused when only tlsv1.3 is allowed, with one line naming the key", async () => {
    const only13 = await startTlsAdapter({ versions: ["tlsv1.3"] });
    try {
      expect(await tlsAttempt(only13.tlsPort, { maxVersion: "TLSv1.2" })).toMatch(/^error: .*(PROTOCOL_VERSION|protocol version)/i);
      expect(await tlsAttempt(only13.tlsPort, { minVersion: "TLSv1.3" })).toBe("connected");
      const lines = await waitUntil(() => refusals(only13.adapter.logLines, 0).length > 0 && refusals(only13.adapter.logLines, 0), "the refusal line");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain("ssl_options.versions");
    } finally {
      await only13.adapter.stop();
    }
  });

  test("ssl_options.ciphers (TLS 1.2): only the listed suite is negotiated; a client without it is refused", async () => {
    const cipher = "ECDHE-ECDSA-AES256-GCM-SHA384";
    const restricted = await startTlsAdapter({ versions: ["tlsv1.2"], ciphers: [cipher], honorCipherOrder: true });
    try {
      expect(await tlsAttempt(restricted.tlsPort, { ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" })).toMatch(/^error: .*(HANDSHAKE_FAILURE|handshake failure)/i);
      expect(await tlsAttempt(restricted.tlsPort, {})).toBe("connected");
      const refused = await waitUntil(() => refusals(restricted.adapter.logLines, 0)[0], "the refusal line");
      expect(refused).toContain("no cipher suite in common with the client (ssl_options.ciphers)");
    } finally {
      await restricted.adapter.stop();
    }
  });
});

describe("client certificates (ssl_options.verify = verify_peer)", () => {
  const cases: Array<[name: string, options: () => object, reason: RegExp]> = [
    ["no certificate (fail_if_no_peer_cert = true): a TLS alert", () => ({}), /sent no certificate, and ssl_options\.fail_if_no_peer_cert = true requires one/],
    ["a certificate of another CA", () => ({ cert: stranger.cert, key: stranger.key }), /client certificate "O=Acme, CN=alice" \(issuer "O=Someone Else, CN=Untrusted CA"\) refused: it is not signed by a CA in ssl_options\.cacertfile/],
    ["an expired certificate", () => ({ cert: expired.cert, key: expired.key }), /client certificate "O=Acme, CN=old-device" .* refused: it expired on Jan  2 00:00:00 2020 GMT/],
  ];
  for (const [name, options, reason] of cases) {
    test(`refuses ${name}, with one log line naming it, while a connected client keeps working`, async () => {
      const topic = `${uniqueName("tls")}/bystander`;
      const bystander = await connectMqttJs(strict.url, { ca: pki.ca.cert, cert: alice.cert, key: alice.key, clientId: uniqueName("ok") });
      try {
        const inbox = new Inbox(bystander);
        await bystander.subscribeAsync(topic, { qos: 1 });
        const from = strict.adapter.logLines.length;
        const outcome = await tlsAttempt(strict.tlsPort, options());
        expect(outcome).not.toBe("connected");
        const lines = await waitUntil(() => refusals(strict.adapter.logLines, from).length > 0 && refusals(strict.adapter.logLines, from), "the refusal line");
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(reason);
        expect(lines[0]).toContain("[warning]");
        // Nothing else was served for that socket, and the bystander is unaffected.
        expect(strict.adapter.logLines.slice(from).filter((line) => line.includes("accepted MQTT"))).toEqual([]);
        await bystander.publishAsync(topic, "still here", { qos: 1 });
        expect((await inbox.next("the bystander's own message")).payload).toBe("still here");
      } finally {
        await endAll(bystander);
      }
    });
  }

  test("mosquitto with a certificate of another CA is refused", async () => {
    const result = await mosquittoPubTls(strict.tlsPort, uniqueName("bad"), "t/x", "m", mosquittoTlsArgs(stranger));
    expect(result.exitCode).not.toBe(0);
  });

  test("with fail_if_no_peer_cert = false a client without a certificate is served, one with a bad certificate is not", async () => {
    const anonymous = await connectMqttJs(optional.url, { ca: pki.ca.cert, clientId: uniqueName("nocert") });
    await endAll(anonymous);
    const from = optional.adapter.logLines.length;
    expect(await tlsAttempt(optional.tlsPort, { cert: expired.cert, key: expired.key })).not.toBe("connected");
    const lines = await waitUntil(() => refusals(optional.adapter.logLines, from)[0], "the refusal line");
    expect(lines).toMatch(/expired/);
  });
});

describe("operator mistakes on the TLS and plain ports: one line each, nothing else disturbed", () => {
  test("plain MQTT on the TLS port is named as such; the client gets a TLS alert and is closed", async () => {
    const from = strict.adapter.logLines.length;
    const client = mqtt.connect(`mqtt://127.0.0.1:${strict.tlsPort}`, { clientId: uniqueName("plain"), reconnectPeriod: 0, connectTimeout: 3_000 });
    await withTimeout(new Promise<void>((resolve) => client.once("close", () => resolve())), 8_000, "the plain client to be closed");
    client.end(true);
    const line = await waitUntil(() => refusals(strict.adapter.logLines, from)[0], "the refusal line");
    expect(line).toContain("did not start a TLS handshake: plain (unencrypted) bytes on the TLS port, most likely an MQTT client without TLS");
    expect(refusals(strict.adapter.logLines, from)).toHaveLength(1);
  });

  test("an HTTP request on the TLS port is named as such", async () => {
    const from = strict.adapter.logLines.length;
    // BoringSSL closes without an answer: an HTTP client sees the connection end.
    await plainExchange(strict.tlsPort, "GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const line = await waitUntil(() => refusals(strict.adapter.logLines, from)[0], "the refusal line");
    expect(line).toContain("an HTTP request arrived on the MQTT TLS port");
  });

  test("a TLS client on the plain port and an HTTP request on the plain port are each named in one line", async () => {
    const plainPort = strict.adapter.port;
    const from = strict.adapter.logLines.length;
    expect(await tlsAttempt(plainPort, {})).not.toBe("connected");
    await plainExchange(plainPort, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const closing = await waitUntil(() => {
      const lines = strict.adapter.logLines.slice(from).filter((line) => line.includes("closing MQTT connection from"));
      return lines.length >= 2 && lines;
    }, "two closing lines");
    expect(closing).toHaveLength(2);
    expect(closing.some((line) => line.includes("looks like a TLS ClientHello"))).toBe(true);
    expect(closing.some((line) => line.includes("looks like an HTTP request"))).toBe(true);
  });

  test("a client that never starts the handshake is dropped after mqtt.login_timeout with one line", async () => {
    const quick = await startTlsAdapter({}, { loginTimeoutMs: 1_000 });
    try {
      const started = Date.now();
      const answer = await plainExchange(quick.tlsPort, new Uint8Array(0), 8_000);
      expect(answer.length).toBe(0);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      const line = await waitUntil(() => refusals(quick.adapter.logLines, 0)[0], "the refusal line");
      expect(line).toContain("no TLS handshake within 1 s");
    } finally {
      await quick.adapter.stop();
    }
  });

  test("the adapter process keeps serving after all of it", async () => {
    const client = await connectMqttJs(strict.url, { ca: pki.ca.cert, cert: alice.cert, key: alice.key, clientId: uniqueName("after") });
    expect(client.connected).toBe(true);
    await endAll(client);
  });
});
