/**
 * `bun test` preload (bunfig.toml): process-wide teardown for the real-broker test harness.
 *
 * It deliberately starts nothing. Integration tests ask for RabbitMQ through
 * test/support/broker.ts, which starts a private node (or checks RABBITMQ_URL) on first use,
 * once per process; a unit-only run (`bun test src`) never pays for an Erlang VM. This file
 * only guarantees that whatever those helpers started is stopped after the LAST test file:
 * an `afterAll` registered in a preload runs once, after all files.
 */
import { afterAll } from "bun:test";
import { processTeardowns } from "./support/teardown.ts";

// Stopping a node is graceful (a few seconds) with a 30 s fallback to SIGKILL: give it room.
afterAll(() => processTeardowns.runAll(), { timeout: 60_000 });
