import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { howToStart, servicesOf, unreachable } from '../../src/services.js';

/** A port something listens on, and one nothing does (a listener opened and closed again). */
let answering: net.Server;
let livePort: number;
let deadPort: number;

beforeAll(async () => {
  answering = net.createServer((socket) => socket.destroy()).listen(0, '127.0.0.1');
  await once(answering, 'listening');
  livePort = (answering.address() as AddressInfo).port;
  const closed = net.createServer().listen(0, '127.0.0.1');
  await once(closed, 'listening');
  deadPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
});

afterAll(() => new Promise((resolve) => answering.close(resolve)));

const withRabbit = (AMQP_URL: string) =>
  servicesOf({ DATABASE_URL: 'postgres://p@127.0.0.1:5432/x', REDIS_URL: 'redis://127.0.0.1:6379', AMQP_URL }).find((s) => s.name === 'RabbitMQ')!;

describe('RabbitMQ reachability with AMQP_URL naming a cluster', () => {
  it('when AMQP_URL names one broker, then that is the one address checked', () => {
    expect(withRabbit('amqp://u:p@broker:5673/vh')).toEqual({ name: 'RabbitMQ', composeService: 'rabbitmq', host: 'broker', port: 5673 });
  });

  it('when AMQP_URL names three nodes, then the first is checked and the others are its alternatives', () => {
    expect(withRabbit('amqp://u:p@r1:5672,amqp://u:p@r2,amqp://u:p@r3:5675')).toMatchObject({
      host: 'r1',
      port: 5672,
      others: [{ host: 'r2', port: 5672 }, { host: 'r3', port: 5675 }],
    });
  });

  it('when only one node answers, then RabbitMQ counts as reachable', async () => {
    const rabbit = withRabbit(`amqp://127.0.0.1:${deadPort},amqp://127.0.0.1:${livePort}`);
    expect(await unreachable([rabbit])).toEqual([]);
  });

  it('when no node answers, then RabbitMQ is unreachable and the one line names every node', async () => {
    const rabbit = withRabbit(`amqp://127.0.0.1:${deadPort},amqp://localhost:${deadPort}`);
    expect(await unreachable([rabbit])).toEqual([rabbit]);
    expect(howToStart(rabbit)).toMatch(new RegExp(`^RabbitMQ is not answering at 127\\.0\\.0\\.1:${deadPort}, localhost:${deadPort}: start it`));
  });
});
