import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAmqpConnection, type AmqpConnection } from '../../../src/queues/amqp-connection.js';
import { createVhost } from '../../../scripts/lib/isolation.js';
import { silentLogger } from '../../support/amqp-test-helpers.js';

/**
 * AMQP_URL naming a cluster's nodes. One broker runs here, so a second "node"
 * is a TCP forwarder to it: closing the forwarder and its sockets is that node
 * going away, as a killed broker's connections do.
 */
let vhost: Awaited<ReturnType<typeof createVhost>>;

beforeAll(async () => {
  vhost = await createVhost(`urls${Date.now().toString(36)}`);
});

afterAll(async () => {
  await vhost?.drop();
});

async function startForwarder(to: URL): Promise<{ port: number; stop(): void }> {
  const sockets = new Set<Socket>();
  const server = net.createServer((client) => {
    const broker = net.connect({ host: to.hostname, port: Number(to.port) || 5672 });
    for (const s of [client, broker]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(broker).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    stop() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

const atPort = (url: string, port: number) => url.replace(/@[^/]+/, `@127.0.0.1:${port}`);

/** Resolves with the URL of the next connection the manager makes. */
const nextConnect = (amqp: AmqpConnection) => once(amqp.manager, 'connect').then(([{ url }]) => String(url));

describe('AMQP_URL naming several nodes', () => {
  it('when the first node listed does not answer, then it connects to the next one', async () => {
    const dead = atPort(vhost.url, 1);
    const amqp = createAmqpConnection({ url: `${dead},${vhost.url}`, firstNode: 0, logger: silentLogger(), reconnectS: 0.1 });
    try {
      const connected = nextConnect(amqp);
      await amqp.waitUntilUp(10_000);
      expect(await connected).toBe(vhost.url);
    } finally {
      await amqp.close();
    }
  });

  it('when the node it is connected to goes away, then it reconnects to another node and its channels publish again', async () => {
    const node = await startForwarder(new URL(vhost.url));
    const viaForwarder = atPort(vhost.url, node.port);
    const amqp = createAmqpConnection({ url: `${viaForwarder},${vhost.url}`, firstNode: 0, logger: silentLogger(), reconnectS: 0.1 });
    const queue = 'amqp-cluster-urls.test';
    const channel = amqp.createChannel({ name: 'test', confirm: true, setup: async (ch) => void (await ch.assertQueue(queue, { durable: true })) });
    try {
      expect(await nextConnect(amqp)).toBe(viaForwarder);
      await channel.waitForConnect();
      await channel.sendToQueue(queue, Buffer.from('before'), { persistent: true });

      const reconnected = nextConnect(amqp);
      node.stop();
      expect(await reconnected).toBe(vhost.url);
      await channel.sendToQueue(queue, Buffer.from('after'), { persistent: true });
      expect(await channel.checkQueue(queue)).toMatchObject({ messageCount: 2 });
    } finally {
      node.stop();
      await channel.close();
      await amqp.close();
    }
  });
});
