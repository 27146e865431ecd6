/**
 * Real-client helpers for the issue 7 tests (qos2-*, retained-*, topics-*): mosquitto_pub and
 * mosquitto_sub at any QoS with the retain flag (and their `-d` packet log, which shows the QoS 2
 * handshake from the client's side), and the paho fixture qos2-flow.py. Every run is bounded and
 * killed in the end (runProcess), so a hung client fails the test with its output.
 */
import { runPaho, runProcess, type ProcessResult } from "./mqtt-cli-clients.ts";
import { withTimeout } from "./mqtt-support.ts";

export interface CliLogin {
  port: number;
  clientId: string;
  /** Default mqttv311. */
  version?: "mqttv31" | "mqttv311";
  username?: string;
  password?: string;
  /** -c: persistent session. */
  persistent?: boolean;
}

function loginArgs(login: CliLogin): string[] {
  const args = ["-h", "127.0.0.1", "-p", String(login.port), "-V", login.version ?? "mqttv311", "-i", login.clientId, "-d"];
  if (login.username !== undefined) args.push("-u", login.username);
  if (login.password !== undefined) args.push("-P", login.password);
  if (login.persistent === true) args.push("-c");
  return args;
}

/**
 * mosquitto_pub of one message (`message` undefined: `-n`, the empty payload that deletes a
 * retained message). Exit 0 means the QoS flow completed (PUBACK, or PUBCOMP at QoS 2).
 */
export async function pub(
  login: CliLogin & { topic: string; message: string | undefined; qos: 0 | 1 | 2; retain?: boolean },
): Promise<ProcessResult> {
  const argv = ["mosquitto_pub", ...loginArgs(login), "-t", login.topic, "-q", String(login.qos)];
  argv.push(...(login.message === undefined ? ["-n"] : ["-m", login.message]));
  if (login.retain === true) argv.push("-r");
  const result = await runProcess(argv);
  if (result.exitCode !== 0) throw new Error(`mosquitto_pub exited ${result.exitCode}:\n${result.stdout}${result.stderr}`);
  return result;
}

/** A message as mosquitto_sub printed it, retain flag included. */
export interface CliMessage {
  topic: string;
  qos: number;
  retain: boolean;
  payload: string;
}

export interface RunningSub {
  /** Resolves once its SUBACK arrived (from the `-d` log). */
  started: Promise<void>;
  /** Resolves when it exits (after `count` messages or its `-W` timeout). */
  done: Promise<{ messages: CliMessage[]; packets: string[]; result: ProcessResult }>;
}

const MESSAGE_PREFIX = "MSG\t";

/**
 * mosquitto_sub on `filters` at `qos` until `count` messages (or `timeoutSeconds`). `packets` are
 * its `-d` lines about packets ("received PUBLISH (d0, q2, r1, m1, ...", "sending PUBREC (m1)").
 */
export function sub(login: CliLogin & { filters: string[]; qos: 0 | 1 | 2; count: number; timeoutSeconds?: number }): RunningSub {
  const argv = ["stdbuf", "-oL", "mosquitto_sub", ...loginArgs(login), ...login.filters.flatMap((f) => ["-t", f])];
  argv.push("-q", String(login.qos), "-C", String(login.count), "-W", String(login.timeoutSeconds ?? 10));
  argv.push("-F", `${MESSAGE_PREFIX}%t\t%q\t%r\t%p`);
  const child = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  let sawSuback = (): void => {};
  let exitedEarly = (_: Error): void => {};
  const started = new Promise<void>((resolve, reject) => {
    sawSuback = resolve;
    exitedEarly = reject;
  });
  const done = (async () => {
    let stdout = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      stdout += decoder.decode(chunk, { stream: true });
      if (stdout.includes("received SUBACK")) sawSuback();
    }
    const [stderr, exitCode] = await Promise.all([new Response(child.stderr).text(), child.exited]);
    exitedEarly(new Error(`mosquitto_sub exited (code ${exitCode}) before its SUBACK:\n${stdout}\n${stderr}`));
    const lines = stdout.split("\n");
    const messages = lines
      .filter((line) => line.startsWith(MESSAGE_PREFIX))
      .map((line) => {
        const [, topic, qos, retain, payload] = line.split("\t");
        return { topic: topic!, qos: Number(qos), retain: retain === "1", payload: payload ?? "" };
      });
    const packets = lines.filter((line) => /(received|sending) (PUBLISH|PUBACK|PUBREC|PUBREL|PUBCOMP|SUBACK)/.test(line));
    return { messages, packets, result: { exitCode, stdout, stderr } };
  })();
  const bounded = withTimeout(started, 8_000, `mosquitto_sub ${login.clientId} to get its SUBACK`);
  bounded.catch(() => {}); // a run that only awaits `done` must not leave an unhandled rejection
  return { started: bounded, done };
}

/** What qos2-flow.py reports. */
export interface PahoFlow {
  granted: number[] | null;
  messages: Array<{ topic: string; payload: string; qos: number; retain: boolean; dup: boolean }>;
  /** paho's own log of the packets it sent and received, e.g. "Received PUBREC (Mid: 1)". */
  flow: string[];
}

/** Runs test/fixtures/paho/qos2-flow.py (see its docstring for the fields). */
export function pahoFlow(args: {
  port: number;
  client_id: string;
  version?: "3.1" | "3.1.1";
  clean?: boolean;
  username?: string;
  password?: string;
  subscribe?: Array<[string, number]>;
  publish?: Array<[topic: string, payload: string, qos: number, retain: boolean]>;
  expect?: number;
}): Promise<PahoFlow> {
  return runPaho<PahoFlow>("qos2-flow.py", args);
}
