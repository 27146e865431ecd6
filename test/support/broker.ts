/**
 * Test helpers for a real RabbitMQ: where it is, how to administer it, how to talk AMQP to it.
 *
 * Which broker (decided once per `bun test` process, on the first call of any helper here):
 * - `RABBITMQ_URL` set: that broker. It must answer an AMQP handshake, else every test
 *   that asks for it fails with the reason. `rabbitmqctl()` then needs `RABBITMQ_NODENAME`
 *   (e.g. `rabbit@myhost`), plus whatever that node needs from a CLI: the Erlang cookie in
 *   `$HOME/.erlang.cookie` (or `RABBITMQ_ERLANG_COOKIE`), `ERL_EPMD_PORT` if not 4369;
 *   `RABBITMQCTL` names the rabbitmqctl to run (default: `rabbitmqctl` on PATH, which on
 *   Debian is the wrapper that reads the system node's cookie when run as root).
 * - otherwise: a private node started from Debian's rabbitmq-server (see private-node.ts),
 *   stopped after the last test file. `RABBITMQ_TEST_START_TIMEOUT_MS` bounds its boot
 *   (default 90000). Once it is up, `RABBITMQ_URL` and `RABBITMQ_NODENAME` are exported to
 *   process.env, so child processes (the adapter under test) can find it too.
 *
 * Why lazily and not from the preload: a unit-only run (`bun test src`) must not pay for an
 * Erlang VM, and `bun test` does not tell a preload which files it will run (process.argv
 * there names only the first file). Starting on first use is exact: a node starts if and
 * only if some test needs one. Call `await ensureRabbitmq()` at the top level of an
 * integration test file (top-level await has no test timeout; boot takes seconds).
 *
 * There is no "skip when no broker": a missing broker fails the run, loudly, with the reason.
 */
import amqp from "amqplib";
import type { Channel, ChannelModel, ConfirmChannel } from "amqplib";
import { probeAmqp, redactUrl } from "./amqp-probe.ts";
import { startPrivateNode } from "./private-node.ts";
import { registerTeardown } from "./teardown.ts";

/** The broker the tests use. `nodeName` is undefined for an external broker without RABBITMQ_NODENAME. */
export type RabbitmqInfo = {
  url: string;
  nodeName: string | undefined;
  /** True when this process started the node (and will stop it). */
  isPrivate: boolean;
};

type CtlTarget = { path: string; env: Record<string, string>; extraArgs: string[] };

let brokerPromise: Promise<{ info: RabbitmqInfo; ctl: CtlTarget | undefined }> | undefined;

/**
 * Finds or starts the broker; memoised, so every caller in the process shares one node.
 * Rejects (every time, with the same reason) when no broker can be had.
 */
export async function ensureRabbitmq(): Promise<RabbitmqInfo> {
  return (await broker()).info;
}

/** AMQP URL of the test broker as guest, e.g. `amqp://guest:guest@127.0.0.1:24561`. */
export async function rabbitmqUrl(): Promise<string> {
  return (await broker()).info.url;
}

/** The test broker's URL with other credentials and/or vhost (for users made with {@link rabbitmqctl}). */
export async function rabbitmqUrlFor(login: { username: string; password: string; vhost?: string }): Promise<string> {
  const url = new URL(await rabbitmqUrl());
  url.username = encodeURIComponent(login.username);
  url.password = encodeURIComponent(login.password);
  // amqplib takes the vhost from the path; "/" (the default vhost) must be sent as %2F.
  url.pathname = login.vhost === undefined ? "" : `/${encodeURIComponent(login.vhost)}`;
  return url.toString();
}

/** A failed rabbitmqctl run, with its exit code and output kept for assertions. */
export class RabbitmqctlError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = "RabbitmqctlError";
  }
}

/**
 * Runs `rabbitmqctl -n <node> -q <args...>` against the test broker and returns stdout.
 * Quiet mode drops the "Listing queues ..." banners so the output is just the data.
 * Rejects with a {@link RabbitmqctlError} on a non-zero exit or after 60 s.
 * Example: `await rabbitmqctl("add_vhost", vhost)`.
 */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { ctl, info } = await broker();
  if (ctl === undefined) {
    throw new Error(
      `rabbitmqctl needs RABBITMQ_NODENAME when RABBITMQ_URL points at an external broker (${redactUrl(info.url)})`,
    );
  }
  const argv = [ctl.path, "-n", info.nodeName!, "-q", ...ctl.extraArgs, ...args];
  const child = Bun.spawn(argv, { env: ctl.env, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (exitCode !== 0) {
    const output = (stderr.trim() || stdout.trim()).split("\n").slice(0, 15).join("\n");
    const how = child.signalCode !== null ? `killed by ${child.signalCode}` : `exit ${exitCode}`;
    throw new RabbitmqctlError(`rabbitmqctl ${args.join(" ")} failed (${how}):\n${output}`, exitCode, stdout, stderr);
  }
  return stdout;
}

/**
 * Runs a rabbitmqctl list command with `--formatter json` and parses it, e.g.
 * `await rabbitmqctlJson<{ name: string }[]>("list_queues", "-p", vhost, "name")`.
 */
export async function rabbitmqctlJson<T>(...args: string[]): Promise<T> {
  const stdout = await rabbitmqctl("--formatter", "json", ...args);
  try {
    return JSON.parse(stdout) as T;
  } catch {
    throw new Error(`rabbitmqctl ${args.join(" ")} did not print JSON: ${stdout.slice(0, 200)}`);
  }
}

let nameCounter = 0;
const runId = `${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`;

/**
 * A name no other test (in this or a concurrent run) uses: `<prefix>-<run id><counter>`.
 * Lowercase letters, digits and `-` only, so it is safe as a queue name, vhost, user,
 * topic level or routing-key word; short (prefix + ~9 chars) so that with a short prefix it
 * also fits MQTT 3.1's 23-character client id limit.
 */
export function uniqueName(prefix: string): string {
  nameCounter += 1;
  return `${prefix}-${runId}${nameCounter.toString(36)}`;
}

/** An open AMQP connection and one channel. Errors the broker raises are collected in `errors`, not thrown as events. */
export type AmqpSession<C extends Channel = Channel> = {
  connection: ChannelModel;
  channel: C;
  /** 'error' events from the connection and channel, in order (e.g. a 403 that closed the channel). */
  errors: Error[];
  /** Closes the connection (and so the channel); safe to call twice or after the broker closed it. */
  close(): Promise<void>;
};

/** Options for {@link openAmqp}: `url` defaults to the test broker as guest; `confirm` makes a confirm-mode channel. */
export type OpenAmqpOptions = { url?: string; confirm?: boolean };

const openSessions = new Set<AmqpSession<Channel>>();

/**
 * Opens a connection and a channel to the test broker; the test must `close()` it (a
 * forgotten one is closed after the last test file). Connection/channel 'error' events are
 * recorded in `errors` because amqplib also rejects the failing operation's promise, and an
 * 'error' event without a listener would crash the test process.
 */
export async function openAmqp(options: OpenAmqpOptions & { confirm: true }): Promise<AmqpSession<ConfirmChannel>>;
export async function openAmqp(options?: OpenAmqpOptions): Promise<AmqpSession<Channel>>;
export async function openAmqp(options: OpenAmqpOptions = {}): Promise<AmqpSession<Channel>> {
  const url = options.url ?? (await rabbitmqUrl());
  const errors: Error[] = [];
  const connection = await amqp.connect(url);
  connection.on("error", (error: Error) => errors.push(error));
  let channel: Channel;
  try {
    channel = options.confirm === true ? await connection.createConfirmChannel() : await connection.createChannel();
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
  channel.on("error", (error: Error) => errors.push(error));
  let closed: Promise<void> | undefined;
  const session: AmqpSession<Channel> = {
    connection,
    channel,
    errors,
    close: () =>
      (closed ??= (async () => {
        openSessions.delete(session);
        // Rejects with "Connection closed" when the broker already closed it: nothing left to do.
        await connection.close().catch(() => {});
      })()),
  };
  openSessions.add(session);
  return session;
}

function broker(): Promise<{ info: RabbitmqInfo; ctl: CtlTarget | undefined }> {
  brokerPromise ??= findOrStartBroker().then((found) => {
    // Registered after the node's own teardown, so it runs before it (newest first):
    // connections close while the broker is still there to answer.
    registerTeardown("close AMQP sessions left open by tests", async () => {
      await Promise.all([...openSessions].map((session) => session.close()));
    });
    return found;
  });
  return brokerPromise;
}

async function findOrStartBroker(): Promise<{ info: RabbitmqInfo; ctl: CtlTarget | undefined }> {
  const externalUrl = process.env.RABBITMQ_URL;
  if (externalUrl !== undefined && externalUrl !== "") return useExternalBroker(externalUrl);

  const startTimeoutMs = Number(process.env.RABBITMQ_TEST_START_TIMEOUT_MS ?? 90_000);
  if (!Number.isFinite(startTimeoutMs) || startTimeoutMs <= 0) {
    throw new Error(`RABBITMQ_TEST_START_TIMEOUT_MS must be a positive number of milliseconds, got "${process.env.RABBITMQ_TEST_START_TIMEOUT_MS}"`);
  }
  try {
    const node = await startPrivateNode({ startTimeoutMs, log: (line) => console.error(line) });
    registerTeardown(`stop private RabbitMQ ${node.nodeName}`, () => node.stop());
    process.env.RABBITMQ_URL = node.amqpUrl;
    process.env.RABBITMQ_NODENAME = node.nodeName;
    return {
      info: { url: node.amqpUrl, nodeName: node.nodeName, isPrivate: true },
      ctl: { path: node.rabbitmqctlPath, env: { ...process.env, ...node.ctlEnv } as Record<string, string>, extraArgs: [] },
    };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`no RabbitMQ for integration tests (RABBITMQ_URL is not set, so this run tried to start a private node): ${reason}`);
  }
}

async function useExternalBroker(url: string): Promise<{ info: RabbitmqInfo; ctl: CtlTarget | undefined }> {
  const probe = await probeAmqp(url, 10_000);
  if (!probe.ok) {
    throw new Error(`RABBITMQ_URL=${redactUrl(url)} does not answer AMQP: ${probe.reason}`);
  }
  const nodeName = process.env.RABBITMQ_NODENAME || undefined;
  const cookie = process.env.RABBITMQ_ERLANG_COOKIE;
  const ctl: CtlTarget | undefined =
    nodeName === undefined
      ? undefined
      : {
          path: process.env.RABBITMQCTL || "rabbitmqctl",
          env: { ...process.env } as Record<string, string>,
          extraArgs: cookie ? ["--erlang-cookie", cookie] : [],
        };
  return { info: { url, nodeName, isPrivate: false }, ctl };
}
