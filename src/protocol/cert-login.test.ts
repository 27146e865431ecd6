import { describe, expect, test } from "bun:test";
import { PacketType, type Packet } from "../codec/index.ts";
import { FULL_PERMISSIONS } from "../backend/memory/users.ts";
import { TEST_OPTIONS, TestWorld, type TestClient } from "./test-support.ts";
import type { CertificateIdentity } from "./transport.ts";

/** What the TLS listener puts on the transport for a verified client certificate. */
function identity(username: string): CertificateIdentity {
  return { username, certificateDer: Uint8Array.of(0x30, 0x00) };
}

function withCertificate(world: TestWorld, certificate: CertificateIdentity | undefined): TestClient {
  const client = world.client();
  // The listener sets it before any byte is read; the Connection reads it at CONNECT.
  Object.assign(client.transport, { certificateIdentity: certificate });
  return client;
}

function connackCode(packet: Packet): number {
  if (packet.type !== PacketType.Connack) throw new Error(`expected CONNACK, got ${JSON.stringify(packet)}`);
  return packet.reasonCode;
}

describe("mqtt.ssl_cert_login: CONNECT of a client with a verified certificate", () => {
  test("no user name and no password: logs in as the certificate's user, whose password is never asked", async () => {
    const world = new TestWorld();
    world.broker.users.addUser("CN=alice,O=Acme", "a password nobody sent");
    world.broker.users.setPermissions("CN=alice,O=Acme", "/", FULL_PERMISSIONS);
    const client = withCertificate(world, identity("CN=alice,O=Acme"));
    client.connect({ clientId: "cert-1" });
    expect(connackCode(await client.nextPacket())).toBe(0);
    expect(client.connection.info.username).toBe("CN=alice,O=Acme");
    expect(world.logLines('user "CN=alice,O=Acme" (client certificate)')).toHaveLength(1);
  });

  test("comes before anonymous login: mqtt.allow_anonymous = false does not refuse it", async () => {
    const world = new TestWorld({ ...TEST_OPTIONS, allowAnonymous: false });
    world.broker.users.addUser("device-7", "x");
    world.broker.users.setPermissions("device-7", "/", FULL_PERMISSIONS);
    const client = withCertificate(world, identity("device-7"));
    client.connect({ clientId: "cert-2" });
    expect(connackCode(await client.nextPacket())).toBe(0);
  });

  test("a certificate user RabbitMQ does not know is refused with CONNACK 4, like a wrong password", async () => {
    const world = new TestWorld();
    const client = withCertificate(world, identity("CN=stranger"));
    client.connect({ clientId: "cert-3" });
    expect(connackCode(await client.nextPacket())).toBe(4);
    expect(world.logLines("EXTERNAL")).not.toHaveLength(0);
  });

  test("a known certificate user without access to the vhost gets CONNACK 5", async () => {
    const world = new TestWorld();
    world.broker.users.addUser("CN=no-perms", "x");
    const client = withCertificate(world, identity("CN=no-perms"));
    client.connect({ clientId: "cert-4" });
    expect(connackCode(await client.nextPacket())).toBe(5);
  });

  test("user name and password in CONNECT win over the certificate (as the plugin's creds/3)", async () => {
    const world = new TestWorld();
    const client = withCertificate(world, identity("CN=alice"));
    client.connect({ clientId: "cert-5", username: "guest", password: new TextEncoder().encode("guest") });
    expect(connackCode(await client.nextPacket())).toBe(0);
    expect(client.connection.info.username).toBe("guest");
  });

  test("a certificate name with a colon is not split into vhost and user (unlike the plugin)", async () => {
    const world = new TestWorld();
    world.broker.addVhost("vh");
    world.broker.users.addUser("admin", "secret");
    world.broker.users.setPermissions("admin", "vh", FULL_PERMISSIONS);
    const client = withCertificate(world, identity("vh:admin"));
    client.connect({ clientId: "cert-6" });
    // "vh:admin" is not a user: refused, never logged in as admin.
    expect(connackCode(await client.nextPacket())).toBe(4);
  });

  test("without a certificate identity nothing changes: no credentials and no anonymous logins is CONNACK 4", async () => {
    const world = new TestWorld({ ...TEST_OPTIONS, allowAnonymous: false });
    const client = withCertificate(world, undefined);
    client.connect({ clientId: "cert-7" });
    expect(connackCode(await client.nextPacket())).toBe(4);
  });
});
