/**
 * Logging in RabbitMQ's style, so an operator reading `journalctl -u rabbitmq-mqtt` next to
 * RabbitMQ's own log sees the same shape:
 *
 *   2026-11-25 10:31:02.123456+00:00 [info] <conn 12 client sensor-1> started MQTT TCP Listener on [::]:1883
 *
 * Lower layers take a `Logger` (an interface), never this module's globals, so tests can
 * capture lines. `child()` adds the context prefix (connection id, client id) once.
 */

export type LogLevel = "debug" | "info" | "warning" | "error";

const LEVEL_RANK: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3 };

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  /** True when debug lines are written: guard expensive debug formatting with it. */
  readonly debugEnabled: boolean;
  /** A logger whose lines carry `context` (e.g. "conn 12 client sensor-1") in angle brackets. */
  child(context: string): Logger;
}

/** Where finished lines go: stdout for debug/info, stderr for warning/error by default. */
export type LogSink = (level: LogLevel, line: string) => void;

const defaultSink: LogSink = (level, line) => {
  if (LEVEL_RANK[level] >= LEVEL_RANK.warning) process.stderr.write(line + "\n");
  else process.stdout.write(line + "\n");
};

/** `2026-11-25 10:31:02.123000+00:00`: RabbitMQ's timestamp shape (UTC, microsecond field). */
function timestamp(now: Date): string {
  const iso = now.toISOString(); // 2026-11-25T10:31:02.123Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000+00:00`;
}

/** The level shared by a root logger and all its children, so a reload changes every one. */
interface LevelState {
  minimum: LogLevel;
  debugEnabled: boolean;
}

class LevelLogger implements Logger {
  constructor(
    protected readonly state: LevelState,
    private readonly sink: LogSink,
    private readonly context: string | undefined,
  ) {}

  get debugEnabled(): boolean {
    return this.state.debugEnabled;
  }

  private write(level: LogLevel, message: string): void {
    if (LEVEL_RANK[level] < LEVEL_RANK[this.state.minimum]) return;
    const context = this.context === undefined ? "" : `<${this.context}> `;
    this.sink(level, `${timestamp(new Date())} [${level}] ${context}${message}`);
  }

  debug(message: string): void {
    this.write("debug", message);
  }
  info(message: string): void {
    this.write("info", message);
  }
  warning(message: string): void {
    this.write("warning", message);
  }
  error(message: string): void {
    this.write("error", message);
  }
  child(context: string): Logger {
    const joined = this.context === undefined ? context : `${this.context} ${context}`;
    return new LevelLogger(this.state, this.sink, joined);
  }
}

/** The process's logger: its level can change while running (SIGHUP reload), children included. */
export interface RootLogger extends Logger {
  readonly level: LogLevel;
  setLevel(level: LogLevel): void;
}

class RootLevelLogger extends LevelLogger implements RootLogger {
  get level(): LogLevel {
    return this.state.minimum;
  }
  setLevel(level: LogLevel): void {
    this.state.minimum = level;
    this.state.debugEnabled = LEVEL_RANK[level] <= LEVEL_RANK.debug;
  }
}

/** A logger writing lines at `minimum` and above to `sink` (stdout/stderr by default). */
export function createLogger(minimum: LogLevel = "info", sink: LogSink = defaultSink): RootLogger {
  return new RootLevelLogger({ minimum, debugEnabled: LEVEL_RANK[minimum] <= LEVEL_RANK.debug }, sink, undefined);
}

/** A logger that keeps its lines in memory: for tests that assert what was logged. */
export function createMemoryLogger(minimum: LogLevel = "debug"): RootLogger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger(minimum, (_level, line) => lines.push(line));
  return Object.assign(logger, { lines });
}

/** Payload bytes for a debug line: at most `maxBytes`, hex, marked when truncated. */
export function formatPayloadForDebug(payload: Uint8Array, maxBytes = 64): string {
  const shown = payload.subarray(0, maxBytes);
  const hex = Array.from(shown, (b) => b.toString(16).padStart(2, "0")).join("");
  return payload.length > maxBytes ? `${hex}… (${payload.length} bytes)` : hex;
}
