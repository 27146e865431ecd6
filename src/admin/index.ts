/**
 * Operating a running adapter: the admin socket (`status`, `list_connections`), what it reports,
 * how the CLI prints it, whether the adapter is installed, and SIGHUP reloads.
 *
 *   server.ts:  operator = await startOperatorEndpoints({ config, log, metrics, state })
 *               reload:   const plan = planReload(inForce, next); applyToConnectionOptions(options, plan.inForce)
 *   cli:        const reply = await askAdmin<StatusReport>(socketPath, "status")
 */

/** Starts the metrics endpoint and the admin socket from the live server state. */
export { startOperatorEndpoints } from "./operator.ts";
export type { OperatorEndpoints } from "./operator.ts";
/** The admin socket server (one JSON request and answer per line). */
export { startAdminSocket } from "./admin-socket.ts";
export type { AdminHandlers, RunningAdminSocket } from "./admin-socket.ts";
/** The CLI side: one request, one answer; failures are values with a message. */
export { askAdmin } from "./admin-client.ts";
export type { AdminReply } from "./admin-client.ts";
/** The wire format and the objects `--format json` prints. */
export { ADMIN_COMMANDS, MAX_REQUEST_LINE_BYTES, parseAdminRequest } from "./wire.ts";
export type { AdminCommand, AdminRequest, AdminResponse, AmqpConnectionRow, ConnectionRow, ListenerRow, StatusReport } from "./wire.ts";
/** Reports made from the live server state. */
export { buildStatus, listConnectionRows, countConnectionsByProtocol, redactUrl } from "./snapshot.ts";
export type { ServerState } from "./snapshot.ts";
/** Text for people: rabbitmqctl-shaped status, tab-separated connection listing. */
export { formatStatus, formatListener, formatConnectionsTable, escapeCell, CONNECTION_COLUMNS } from "./format.ts";
export type { RuntimeAnswer } from "./format.ts";
/** Whether unit, binary and links are installed (the `--root` prefix rule of enable/disable). */
export { inspectInstallation } from "./installation.ts";
export type { Installation, InstalledFile } from "./installation.ts";
/** SIGHUP: what a new, valid configuration changes now, and what needs a restart. */
export { planReload, describeReload, applyToConnectionOptions, RELOADABLE_KEYS } from "./reload.ts";
export type { ReloadPlan, AppliedChange } from "./reload.ts";
/** Which admin socket the CLI asks (--socket, else adapter.admin_socket of the configuration). */
export { resolveAdminTarget } from "./target.ts";
export type { AdminTarget } from "./target.ts";
