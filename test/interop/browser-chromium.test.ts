/**
 * A real browser against the compiled executable: headless Chromium loads a page that uses
 * MQTT.js's browser bundle (node_modules/mqtt/dist/mqtt.min.js) to connect over WebSocket
 * (web_mqtt.tcp.port, path /ws), subscribe, publish and receive its own message through
 * RabbitMQ. A Node MQTT.js client on the plain TCP port sees the same message.
 *
 * Chromium is Debian's `chromium` package; when it is missing and we are root with apt-get, the
 * test setup installs it (like the private RabbitMQ node's setup does for rabbitmq-server).
 *
 * How the result comes out: `chromium --headless --dump-dom` prints the DOM after the load
 * event. The page writes its outcome into the DOM and POSTs it to the little page server; an
 * iframe whose response the server holds back until that POST arrives keeps the load event
 * (and so the dump) waiting for the MQTT exchange, without any fixed sleep.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { rabbitmqUrl, uniqueName } from "../support/broker.ts";
import { freePort, startBinary, type BinaryAdapter } from "../support/binary.ts";
import { withTimeout } from "./interop-helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const MQTT_BUNDLE = join(import.meta.dir, "..", "..", "node_modules", "mqtt", "dist", "mqtt.min.js");

/** Installs Debian's chromium when missing (root + apt-get), else explains what to do. */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const howTo = "install it (`sudo apt-get install chromium`) to run the browser interop test";
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) {
    throw new Error(`chromium is not installed (no ${CHROMIUM}) and we are not root with apt-get: ${howTo}`);
  }
  console.error("browser test: chromium is missing; installing it with apt-get (as root)");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", "chromium"]]) {
    const result = spawnSync("apt-get", args, { env, stdio: ["ignore", "inherit", "inherit"], timeout: 600_000 });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed (exit ${result.status ?? result.signal}); ${howTo}`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium but ${CHROMIUM} is missing`);
}

// Top level (no hook timeout): installing chromium and booting RabbitMQ take a while the first time.
ensureChromium();
await rabbitmqUrl();
setDefaultTimeout(60_000);

let adapter: BinaryAdapter;
let wsPort: number;
beforeAll(async () => {
  wsPort = freePort();
  adapter = await startBinary({ extraConfig: `web_mqtt.tcp.ip = 127.0.0.1\nweb_mqtt.tcp.port = ${wsPort}` });
  await adapter.waitForLine(`started MQTT WebSocket Listener on 127.0.0.1:${wsPort}`);
}, 60_000);
afterAll(async () => {
  const stopped = await adapter?.stop();
  expect(stopped?.exitCode).toBe(0);
});

/** The page: MQTT.js from the bundle, over ws://, to a topic of its own; its outcome goes into #result. */
function page(options: { url: string; topic: string; clientId: string }): string {
  const config = JSON.stringify(options);
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>MQTT over WebSocket</title></head>
<body>
<div id="result">pending</div>
<script src="/mqtt.min.js"></script>
<script>
  const { url, topic, clientId } = ${config};
  const report = (text) => {
    document.getElementById("result").textContent = text;
    fetch("/result", { method: "POST", body: text });
  };
  try {
    const client = mqtt.connect(url, { clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10000 });
    client.on("connect", () => {
      client.subscribe(topic, { qos: 1 }, (error) => {
        if (error) return report("error: subscribe failed: " + error.message);
        client.publish(topic, "hello from chromium", { qos: 1 });
      });
    });
    client.on("message", (t, payload) => {
      report("received " + t + ": " + new TextDecoder().decode(payload));
      client.end();
    });
    client.on("error", (error) => report("error: " + error.message));
  } catch (error) {
    report("error: " + error.message);
  }
</script>
<iframe src="/hold" style="display:none"></iframe>
</body></html>`;
}

describe("a browser speaks MQTT over WebSocket", () => {
  test("headless Chromium with MQTT.js's browser bundle connects over ws://, publishes and receives its message", async () => {
    const topic = `${uniqueName("browser")}/hello`;
    const clientId = uniqueName("chromium");
    let reportResult: (text: string) => void = () => {};
    const result = new Promise<string>((resolve) => (reportResult = resolve));
    const pageServer = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        const path = new URL(request.url).pathname;
        if (path === "/") return new Response(page({ url: `ws://127.0.0.1:${wsPort}/ws`, topic, clientId }), { headers: { "content-type": "text/html" } });
        if (path === "/mqtt.min.js") return new Response(Bun.file(MQTT_BUNDLE), { headers: { "content-type": "text/javascript" } });
        if (path === "/result") {
          reportResult(await request.text());
          return new Response("ok");
        }
        if (path === "/hold") {
          await withTimeout(result, 30_000, "the page's result").catch(() => {});
          return new Response("done");
        }
        return new Response("not found", { status: 404 });
      },
    });
    // A Node client on the plain MQTT port: the browser's message reaches it through RabbitMQ too.
    const watcher = await mqtt.connectAsync(adapter.url, { clientId: uniqueName("watch"), reconnectPeriod: 0 });
    const profile = mkdtempSync(join(tmpdir(), "rmqmqtt-chromium-"));
    try {
      await watcher.subscribeAsync(topic, { qos: 1 });
      const seenByWatcher = new Promise<string>((resolve) => watcher.once("message", (_t, payload) => resolve(payload.toString())));
      const chromium = Bun.spawn(
        [
          CHROMIUM,
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--no-first-run",
          `--user-data-dir=${profile}`,
          "--dump-dom",
          `http://127.0.0.1:${pageServer.port}/`,
        ],
        { stdout: "pipe", stderr: "pipe", timeout: 45_000 },
      );
      const [dom, stderr, exitCode] = await Promise.all([new Response(chromium.stdout).text(), new Response(chromium.stderr).text(), chromium.exited]);
      const reported = await withTimeout(result, 5_000, `the page's result (chromium exit ${exitCode}: ${stderr.slice(-500)})`);
      expect(reported).toBe(`received ${topic}: hello from chromium`);
      expect(dom).toContain(`<div id="result">received ${topic}: hello from chromium</div>`);
      expect(await withTimeout(seenByWatcher, 5_000, "the watcher's copy")).toBe("hello from chromium");
      expect(adapter.lines).toContainEqual(expect.stringMatching(new RegExp(`<conn \\d+ client ${clientId}> accepted MQTT 3\\.1\\.1 connection from 127\\.0\\.0\\.1:\\d+`)));
    } finally {
      await watcher.endAsync(true).catch(() => {});
      pageServer.stop(true);
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
