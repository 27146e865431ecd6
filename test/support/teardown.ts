/**
 * Process-wide teardown for test resources that outlive one test file (the private
 * RabbitMQ node, stray AMQP connections).
 *
 * Why a registry: `bun test` runs every file in one process, and the only hook that runs
 * once after ALL files is an `afterAll` registered by the preload. Helpers start things
 * lazily from inside test files, so they register their cleanup here and
 * `test/preload.ts` runs it. (`process.on("exit")` is not emitted by `bun test` 1.4.5,
 * so it cannot be the mechanism; the private node also has a watchdog for hard kills.)
 */

type Teardown = { label: string; run: () => Promise<void> | void };

/** Cleanups to run once, newest first (a connection closes before its broker stops). */
export class TeardownRegistry {
  readonly #teardowns: Teardown[] = [];

  /** Registers `run` to be called once by {@link runAll}; `label` names it in error messages. */
  register(label: string, run: () => Promise<void> | void): void {
    this.#teardowns.push({ label, run });
  }

  /**
   * Runs and forgets every registered teardown, newest first, even when some fail; then
   * throws one error listing all failures, so they are reported rather than leaving
   * processes behind silently.
   */
  async runAll(): Promise<void> {
    const failures: string[] = [];
    while (this.#teardowns.length > 0) {
      const teardown = this.#teardowns.pop()!;
      try {
        await teardown.run();
      } catch (error) {
        failures.push(`${teardown.label}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (failures.length > 0) {
      throw new Error(`test teardown failed:\n  ${failures.join("\n  ")}`);
    }
  }
}

/** The process's registry; the preload runs it after the last test file. */
export const processTeardowns = new TeardownRegistry();

/** Registers a cleanup to run once after all test files (see {@link TeardownRegistry.register}). */
export function registerTeardown(label: string, run: () => Promise<void> | void): void {
  processTeardowns.register(label, run);
}
