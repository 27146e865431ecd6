/**
 * Users, vhosts and permissions of the memory broker, modelled on RabbitMQ's internal auth
 * backend so the fake refuses exactly what RabbitMQ would, with RabbitMQ's reply codes and texts:
 * - login: unknown user or wrong password → 403 ACCESS_REFUSED (bad-credentials);
 * - no permissions in the vhost (or no such vhost) → 530 NOT_ALLOWED (not-authorised);
 * - configure / write / read are regular expressions over resource names (the empty string
 *   matches nothing, as in RabbitMQ); a refusal is 403 ACCESS_REFUSED (not-authorised);
 * - topic permissions (per exchange) are regular expressions over routing keys, checked on
 *   publish (write) and on queue.bind / unbind to a topic exchange (read); a user with no topic
 *   permission on an exchange may use every routing key. `{username}` and `{vhost}` are expanded
 *   as RabbitMQ does for AMQP 0-9-1 connections.
 */
import type { BackendError } from "../backend.ts";

/** RabbitMQ's `set_permissions` triple: regular expressions over resource names. */
export interface Permissions {
  configure: string;
  write: string;
  read: string;
}

/** RabbitMQ's `set_topic_permissions` pair: regular expressions over routing keys. */
export interface TopicPermissions {
  write: string;
  read: string;
}

/** Which of the three resource permissions an operation needs (RabbitMQ's names). */
export type PermissionKind = keyof Permissions;

interface User {
  password: string;
  /** vhost → permissions; a vhost absent here refuses the user (530). */
  permissions: Map<string, Permissions>;
  /** `${vhost}\0${exchange}` → topic permissions. */
  topicPermissions: Map<string, TopicPermissions>;
}

export const FULL_PERMISSIONS: Permissions = { configure: ".*", write: ".*", read: ".*" };

/** Users, their passwords and permissions. Vhost existence is checked by the broker. */
export class UserTable {
  private readonly users = new Map<string, User>();

  addUser(username: string, password: string): void {
    this.users.set(username, { password, permissions: new Map(), topicPermissions: new Map() });
  }

  deleteUser(username: string): void {
    this.users.delete(username);
  }

  changePassword(username: string, password: string): void {
    this.requireUser(username).password = password;
  }

  setPermissions(username: string, vhost: string, permissions: Permissions): void {
    this.requireUser(username).permissions.set(vhost, { ...permissions });
  }

  clearPermissions(username: string, vhost: string): void {
    this.requireUser(username).permissions.delete(vhost);
  }

  setTopicPermissions(username: string, vhost: string, exchange: string, permissions: TopicPermissions): void {
    this.requireUser(username).topicPermissions.set(`${vhost}\0${exchange}`, { ...permissions });
  }

  /** Login to `vhost` (which the caller knows exists): a refusal as RabbitMQ words it, or undefined. */
  /** `password` null: a certificate login (EXTERNAL), where RabbitMQ only checks that the user exists. */
  login(username: string, password: string | null, vhost: string): BackendError | undefined {
    const user = this.users.get(username);
    if (user === undefined || (password !== null && user.password !== password)) {
      return {
        kind: "bad-credentials",
        amqpReplyCode: 403,
        message: `ACCESS_REFUSED - Login was refused using authentication mechanism ${password === null ? "EXTERNAL" : "PLAIN"}. For details see the broker logfile.`,
      };
    }
    if (!user.permissions.has(vhost)) return vhostRefused(username, vhost);
    return undefined;
  }

  /** Checks `kind` permission on a queue or exchange, as RabbitMQ's check_resource_access. */
  checkResource(
    username: string,
    vhost: string,
    kind: PermissionKind,
    resource: "queue" | "exchange",
    name: string,
  ): BackendError | undefined {
    const pattern = this.users.get(username)?.permissions.get(vhost)?.[kind];
    if (pattern !== undefined && matches(pattern, name)) return undefined;
    return {
      kind: "not-authorised",
      amqpReplyCode: 403,
      message: `ACCESS_REFUSED - access to ${resource} '${name}' in vhost '${vhost}' refused for user '${username}'`,
    };
  }

  /** Checks a topic permission (publish: write, bind/unbind: read) on a topic exchange. */
  checkTopic(
    username: string,
    vhost: string,
    exchange: string,
    kind: "write" | "read",
    routingKey: string,
  ): BackendError | undefined {
    const topic = this.users.get(username)?.topicPermissions.get(`${vhost}\0${exchange}`);
    if (topic === undefined) return undefined;
    const pattern = topic[kind].replaceAll("{username}", username).replaceAll("{vhost}", vhost);
    if (matches(pattern, routingKey)) return undefined;
    return {
      kind: "not-authorised",
      amqpReplyCode: 403,
      message: `ACCESS_REFUSED - access to topic '${routingKey}' in exchange '${exchange}' in vhost '${vhost}' refused for user '${username}'`,
    };
  }

  private requireUser(username: string): User {
    const user = this.users.get(username);
    // A test set-up mistake, not network input: say so loudly.
    if (user === undefined) throw new Error(`memory broker: no user '${username}' (call addUser first)`);
    return user;
  }
}

/** RabbitMQ's refusal of a vhost the user has no permissions in (or that does not exist). */
export function vhostRefused(username: string, vhost: string): BackendError {
  return {
    kind: "not-authorised",
    amqpReplyCode: 530,
    message: `NOT_ALLOWED - access to vhost '${vhost}' refused for user '${username}'`,
  };
}

const compiled = new Map<string, RegExp>();

/** RabbitMQ semantics: an empty pattern grants nothing; otherwise an unanchored regex search. */
function matches(pattern: string, name: string): boolean {
  if (pattern === "") return false;
  let regex = compiled.get(pattern);
  if (regex === undefined) {
    regex = new RegExp(pattern);
    compiled.set(pattern, regex);
  }
  return regex.test(name);
}
