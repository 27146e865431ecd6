/**
 * Client-certificate identity (mqtt.ssl_cert_login): the RabbitMQ user name a verified TLS
 * client certificate stands for, and the adapter CA that lets such a client log in to RabbitMQ
 * with the EXTERNAL mechanism. No sockets, no amqplib: listeners call `certificateUserName`,
 * server.ts builds the `AdapterCa` and hands `credentialsFor` to the AMQP backend.
 *
 *   certificateUserName(der, { from: "common_name" })          // "device-1" | { message }
 *   const ca = new AdapterCa({ caCertPem, caKeyPem, certificateLifetimeMs: 600_000 });
 *   ca.credentialsFor(der)                                     // { cert, key, notAfterMs } | DerError
 */
/** The user name of a client certificate, as RabbitMQ's ssl_cert_login_from computes it. */
export { certificateUserName, formatDistinguishedName, type CertLoginFrom, type CertNameOptions, type CertNameError, type SanType } from "./cert-name.ts";
/** Short-lived certificates for RabbitMQ's EXTERNAL mechanism, signed by the adapter CA. */
export { AdapterCa, loadAdapterCa, type AdapterCaConfig, type AdapterCaOptions, type MintedCredentials } from "./adapter-ca.ts";
/** adapter.amqp_ssl_options.* as amqplib socket options (amqps://). */
export { amqpTlsSocketOptions } from "./amqp-tls.ts";
/** DER/PEM helpers for certificates. */
export { parseCertificate, pemBlocks, toPem, type ParsedCertificate } from "./certificate.ts";
export { DerError } from "./der.ts";
