/**
 * Helpers for the TLS and certificate-login tests (`tls-*.test.ts`): the test PKI (openssl, at
 * test time), an in-process adapter with a TLS listener, mosquitto with TLS flags, a raw TLS
 * client, and a second private RabbitMQ node with an AMQPS listener that accepts EXTERNAL logins
 * from certificates of an adapter CA.
 */
import { connect as connectTls, type ConnectionOptions } from "node:tls";
import { connect as connectTcp } from "node:net";
import { buildDefaults, type AdapterConfig, type TlsOptions } from "../../src/config/index.ts";
import { startAdapter, type TestAdapter } from "../support/adapter.ts";
import { createTestCa, createTestPki, type TestCa, type TestPki } from "../support/certs.ts";
import { startPrivateNode, type PrivateNode } from "../support/private-node.ts";
import { registerTeardown } from "../support/teardown.ts";
import { runProcess, type ProcessResult } from "./mqtt-cli-clients.ts";

let pkiInstance: TestPki | undefined;

/** The process's test PKI (made once): CA, server certificate for localhost/127.0.0.1, a second CA. */
export function testPki(): TestPki {
  pkiInstance ??= createTestPki();
  return pkiInstance;
}

/** ssl_options for the TLS listener: the test server certificate, the test CA for clients, and `overrides`. */
export function sslOptions(overrides: Partial<TlsOptions> = {}): TlsOptions {
  const pki = testPki();
  return {
    ...buildDefaults().tls,
    certfile: pki.server.certFile,
    keyfile: pki.server.keyFile,
    cacertfile: pki.ca.certFile,
    ...overrides,
  };
}

/** An in-process adapter (TCP on a free port too) with one TLS listener on 127.0.0.1 (or `host`). */
export interface TlsAdapter {
  adapter: TestAdapter;
  tlsPort: number;
  /** `mqtts://localhost:PORT` (the server certificate names localhost). */
  url: string;
}

export async function startTlsAdapter(tls: Partial<TlsOptions> = {}, more: Partial<AdapterConfig> = {}, host = "127.0.0.1"): Promise<TlsAdapter> {
  const adapter = await startAdapter({ sslListeners: [{ host, port: 0 }], tls: sslOptions(tls), ...more });
  const tlsPort = adapter.server.listeners[1]!.port;
  return { adapter, tlsPort, url: `mqtts://localhost:${tlsPort}` };
}

/** mosquitto_pub/_sub TLS arguments: --cafile (server check) and optionally a client certificate. */
export function mosquittoTlsArgs(client?: { certFile: string; keyFile: string }, cafile = testPki().ca.certFile): string[] {
  return ["--cafile", cafile, ...(client === undefined ? [] : ["--cert", client.certFile, "--key", client.keyFile])];
}

/** One mosquitto_pub run against `port` on localhost with `args` (TLS flags, -u/-P …). */
export function mosquittoPubTls(port: number, clientId: string, topic: string, message: string, args: string[]): Promise<ProcessResult> {
  return runProcess(["mosquitto_pub", "-h", "localhost", "-p", String(port), "-V", "mqttv311", "-i", clientId, "-t", topic, "-m", message, "-q", "1", ...args]);
}

/**
 * A TLS connection attempt: resolves with "connected" once the handshake completed and the
 * server kept the connection for `holdMs`, or with how it ended (client error, or "closed").
 */
export function tlsAttempt(port: number, options: ConnectionOptions, holdMs = 300): Promise<string> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (outcome: string) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(outcome);
    };
    const socket = connectTls({ host: "127.0.0.1", port, servername: "localhost", ca: testPki().ca.cert, ...options }, () => {
      setTimeout(() => done("connected"), holdMs);
    });
    socket.on("error", (error) => done(`error: ${error.message}`));
    socket.on("close", () => done("closed"));
  });
}

/** Sends `bytes` over plain TCP and resolves with everything the server answered until it closed (bounded). */
export function plainExchange(port: number, bytes: Uint8Array | string, timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connectTcp({ host: "127.0.0.1", port }, () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

// --- a RabbitMQ node with AMQPS and EXTERNAL ------------------------------------------------------

/** The second private node: plain AMQP for administration, AMQPS trusting only the adapter CA. */
export interface TlsNode {
  node: PrivateNode;
  /** `amqps://127.0.0.1:PORT` (no credentials: clients bring their own). */
  amqpsUrl: string;
  /** The CA RabbitMQ trusts for client certificates (ssl_options.cacertfile): the adapter CA. */
  adapterCa: TestCa;
  /** rabbitmqctl against this node; throws with its output on failure. */
  ctl(...args: string[]): Promise<string>;
}

let tlsNodePromise: Promise<TlsNode> | undefined;
let tlsNodeUsers = 0;

/**
 * Lets go of the node taken with {@link tlsNode}; the last user stops it, so a second Erlang VM
 * does not keep eating CPU while the rest of the test run goes on (a later file starts a new one).
 */
export async function releaseTlsNode(): Promise<void> {
  tlsNodeUsers--;
  if (tlsNodeUsers > 0 || tlsNodePromise === undefined) return;
  const starting = tlsNodePromise;
  tlsNodePromise = undefined;
  await (await starting.catch(() => undefined))?.node.stop();
}

/**
 * Starts (unless running) a private node with `listeners.ssl.1`, `ssl_options.verify =
 * verify_peer` (needed by rabbit_auth_mechanism_ssl: it refuses EXTERNAL unless peers are
 * verified), no `fail_if_no_peer_cert` (password logins over TLS need no client certificate),
 * `ssl_options.cacertfile` = the adapter CA only, and EXTERNAL next to PLAIN/AMQPLAIN.
 */
export function tlsNode(): Promise<TlsNode> {
  tlsNodeUsers++;
  tlsNodePromise ??= (async () => {
    const pki = testPki();
    const adapterCa = createTestCa("/O=rabbitmq-mqtt tests/CN=Adapter CA");
    const node = await startPrivateNode({
      startTimeoutMs: Number(process.env.RABBITMQ_TEST_START_TIMEOUT_MS ?? 90_000),
      log: (line) => console.error(line),
      nameSuffix: "tls",
      extraPortCount: 1,
      plugins: ["rabbitmq_auth_mechanism_ssl"],
      extraConfig: ([port]) => [
        `listeners.ssl.1 = 127.0.0.1:${port}`,
        `ssl_options.cacertfile = ${adapterCa.certFile}`,
        `ssl_options.certfile = ${pki.server.certFile}`,
        `ssl_options.keyfile = ${pki.server.keyFile}`,
        "ssl_options.verify = verify_peer",
        "ssl_options.fail_if_no_peer_cert = false",
        "auth_mechanisms.1 = PLAIN",
        "auth_mechanisms.2 = AMQPLAIN",
        "auth_mechanisms.3 = EXTERNAL",
      ],
    });
    registerTeardown(`stop private RabbitMQ ${node.nodeName}`, () => node.stop());
    return { node, amqpsUrl: `amqps://127.0.0.1:${node.extraPorts[0]}`, adapterCa, ctl: ctlFor(node) };
  })();
  return tlsNodePromise;
}

/** rabbitmqctl for `node`, run with its environment (HOME for the cookie, the private epmd port). */
function ctlFor(node: PrivateNode): (...args: string[]) => Promise<string> {
  return async (...args: string[]) => {
    const child = Bun.spawn([node.rabbitmqctlPath, "-n", node.nodeName, "-q", ...args], {
      env: { ...process.env, ...node.ctlEnv } as Record<string, string>,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: 60_000,
    });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    if (exitCode !== 0) throw new Error(`rabbitmqctl ${args.join(" ")} failed (exit ${exitCode}): ${stderr || stdout}`);
    return stdout;
  };
}
