/**
 * Session state kept between an MQTT client's connections (subscriptions' granted QoS, QoS 2
 * packet ids) and the store that keeps it. `protocol/` uses it; it imports nothing but codec types.
 */
export { createSessionState, hasPacketIdState } from "./session-state.ts";
export type { SessionState } from "./session-state.ts";
export { MemorySessionStore, resumeSession, resumeSessionState } from "./session-store.ts";
export type { SessionStore } from "./session-store.ts";
