/**
 * TLS towards RabbitMQ (`adapter.amqp_url = amqps://…`): `adapter.amqp_ssl_options.*` mapped onto
 * the socket options amqplib hands to `tls.connect`. Same key names as RabbitMQ's own
 * `ssl_options.*`, under the adapter's prefix:
 *
 * | adapter.amqp_ssl_options.   | tls.connect                                                    |
 * |-----------------------------|----------------------------------------------------------------|
 * | cacertfile                  | ca (default: the public CAs Bun trusts)                        |
 * | certfile / keyfile / password | cert / key / passphrase: the adapter's own client certificate, |
 * |                             | for password logins over a listener that asks for one          |
 * | verify (default verify_peer) | rejectUnauthorized: RabbitMQ's certificate and host name are   |
 * |                             | checked; verify_none checks nothing (say so in the log)        |
 * | server_name_indication      | servername (default: the URL's host)                           |
 *
 * amqplib always sends a server name (the URL's host when none is given), and Bun's TLS refuses
 * an IP address as server name: an amqps:// URL with an IP address therefore needs
 * server_name_indication = a host name RabbitMQ's certificate holds (checked against it), and
 * `disable` cannot be honoured (a startup error says so instead of silently sending one).
 *
 * Certificate logins add their own minted `cert`/`key` per connection (backend/amqp/pool.ts).
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { AmqpTlsOptions } from "../config/index.ts";

function read(path: string, key: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`${key} = ${path}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/**
 * amqplib socket options for `url`; empty for amqp://. Throws (a startup error) when a file
 * cannot be read. `warnings` lists what an operator should know (verification off).
 */
export function amqpTlsSocketOptions(tls: AmqpTlsOptions, url: string): { options: Record<string, unknown>; warnings: string[] } {
  if (!url.startsWith("amqps:")) return { options: {}, warnings: [] };
  const prefix = "adapter.amqp_ssl_options";
  const options: Record<string, unknown> = { rejectUnauthorized: tls.verify === "verify_peer" };
  const warnings: string[] = [];
  if (tls.cacertfile !== null) options.ca = read(tls.cacertfile, `${prefix}.cacertfile`);
  if ((tls.certfile === null) !== (tls.keyfile === null)) {
    throw new Error(`${prefix}.certfile and ${prefix}.keyfile go together: set both or neither`);
  }
  if (tls.certfile !== null && tls.keyfile !== null) {
    options.cert = read(tls.certfile, `${prefix}.certfile`);
    options.key = read(tls.keyfile, `${prefix}.keyfile`);
    if (tls.password !== null) options.passphrase = tls.password;
  }
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  if (tls.serverNameIndication === "disable") {
    throw new Error(
      `${prefix}.server_name_indication = disable is not supported: the AMQP client always sends a server name (the host of adapter.amqp_url)`,
    );
  }
  if (tls.serverNameIndication !== null) {
    options.servername = tls.serverNameIndication;
  } else if (isIP(host) !== 0) {
    throw new Error(
      `adapter.amqp_url = amqps://${host}:…: TLS cannot use an IP address as server name (Bun refuses it); ` +
        `set ${prefix}.server_name_indication to a host name in RabbitMQ's certificate, or use that host name in the URL`,
    );
  }
  if (tls.verify === "verify_none") {
    warnings.push(`${prefix}.verify = verify_none: RabbitMQ's certificate is not checked, anyone on the path can read and change the AMQP traffic`);
  }
  return { options, warnings };
}
