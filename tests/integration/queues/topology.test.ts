import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAmqpConnection } from '../../../src/queues/amqp-connection.js';
import { startInventoryConsumer } from '../../../src/queues/inventory.consumer.js';
import {
  DEAD_LETTER_QUEUE,
  INPUT_DELIVERY_LIMIT,
  INPUT_QUEUE,
  INVENTORY_EXCHANGE,
  INVENTORY_RESERVED_KEY,
  ORDER_CANCELLED_KEY,
  ORDER_EVENTS_QUEUE,
  ORDER_EXCHANGE,
  PAYMENT_CANCELLED_KEY,
  PAYMENT_DISPUTED_KEY,
  PAYMENT_EXCHANGE,
  PAYMENT_REFUNDED_KEY,
  REFUND_FAILED_KEY,
  REFUND_REQUESTED_KEY,
  declareTopology,
} from '../../../src/queues/topology.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { drainQueue, openTestChannel, publishConfirmed, rabbitmqctl, waitFor } from '../../support/amqp-test-helpers.js';

let iso: Isolated;
let test: Awaited<ReturnType<typeof openTestChannel>>;

beforeAll(async () => {
  iso = await isolate();
  test = await openTestChannel(iso.amqpUrl);
});

afterAll(async () => {
  await test?.connection.close().catch(() => undefined);
  await iso?.cleanup();
});

interface QueueInfo {
  name: string;
  type: string;
  durable: boolean;
  /** rabbitmqctl lists each argument as [name, AMQP type, value]. */
  arguments: Array<[string, string, unknown]>;
}

async function listQueues(): Promise<Map<string, QueueInfo>> {
  const out = await rabbitmqctl('list_queues', '-p', iso.vhost, 'name', 'type', 'durable', 'arguments', '--formatter', 'json');
  const queues = JSON.parse(out) as QueueInfo[];
  return new Map(queues.map((q) => [q.name, q]));
}

describe('RabbitMQ topology', () => {
  it('when declared twice, then the second declaration succeeds and changes nothing', async () => {
    await declareTopology(test.channel);
    await declareTopology(test.channel);
    await test.channel.checkExchange(INVENTORY_EXCHANGE);
    await test.channel.checkExchange(PAYMENT_EXCHANGE);
    await test.channel.checkExchange(ORDER_EXCHANGE);
    expect([...(await listQueues()).keys()].sort()).toEqual([DEAD_LETTER_QUEUE, INPUT_QUEUE, ORDER_EVENTS_QUEUE].sort());
  });

  it.each([INPUT_QUEUE, ORDER_EVENTS_QUEUE])('then the input %s is a durable quorum queue with a delivery limit and at-least-once dead-lettering', async (queue) => {
    const input = (await listQueues()).get(queue)!;
    expect(input.type).toBe('quorum');
    expect(input.durable).toBe(true);
    const args = Object.fromEntries(input.arguments.map(([name, , value]) => [name, value]));
    expect(args).toEqual({
      'x-queue-type': 'quorum',
      'x-delivery-limit': INPUT_DELIVERY_LIMIT,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': DEAD_LETTER_QUEUE,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
  });

  it('then order.events is a durable topic exchange bound to the compensation input by its two routing keys only', async () => {
    const exchanges = JSON.parse(await rabbitmqctl('list_exchanges', '-p', iso.vhost, 'name', 'type', 'durable', '--formatter', 'json')) as Array<{ name: string; type: string; durable: boolean }>;
    expect(exchanges.find((e) => e.name === ORDER_EXCHANGE)).toEqual({ name: ORDER_EXCHANGE, type: 'topic', durable: true });
    const bindings = JSON.parse(
      await rabbitmqctl('list_bindings', '-p', iso.vhost, 'source_name', 'destination_name', 'routing_key', '--formatter', 'json'),
    ) as Array<{ source_name: string; destination_name: string; routing_key: string }>;
    const fromOrders = bindings.filter((b) => b.source_name === ORDER_EXCHANGE);
    expect(fromOrders.map((b) => [b.destination_name, b.routing_key]).sort()).toEqual([
      [ORDER_EVENTS_QUEUE, ORDER_CANCELLED_KEY],
      [ORDER_EVENTS_QUEUE, REFUND_REQUESTED_KEY],
    ]);
  });

  it('when order events are published, then cancellations and refund requests reach the compensation input, and nothing else does', async () => {
    for (const [key, id] of [[ORDER_CANCELLED_KEY, 'c-1'], [REFUND_REQUESTED_KEY, 'r-1'], ['order.shipped', 's-1']] as const) {
      await publishConfirmed(test.channel, ORDER_EXCHANGE, key, '{}', { messageId: id });
    }
    const got = await drainQueue(test.channel, ORDER_EVENTS_QUEUE);
    expect(got.map((m) => m.properties.messageId).sort()).toEqual(['c-1', 'r-1']);
  });

  it('then the payment.events routing keys are the contract\'s', () => {
    expect([PAYMENT_REFUNDED_KEY, REFUND_FAILED_KEY, PAYMENT_CANCELLED_KEY, PAYMENT_DISPUTED_KEY]).toEqual([
      'payment.refunded',
      'payment.refund_failed',
      'payment.cancelled',
      'payment.disputed',
    ]);
  });

  it('then the dead-letter queue is durable', async () => {
    expect((await listQueues()).get(DEAD_LETTER_QUEUE)!.durable).toBe(true);
  });

  it('when a message is nacked past the delivery limit, then the broker moves it whole to the dead-letter queue, and its last delivery says so', async () => {
    await publishConfirmed(test.channel, INVENTORY_EXCHANGE, INVENTORY_RESERVED_KEY, 'poison', { messageId: 'poison-1' });
    const counts: number[] = [];
    for (;;) {
      const m = await test.channel.get(INPUT_QUEUE, { noAck: false });
      if (!m) break;
      counts.push(Number(m.properties.headers?.['x-delivery-count'] ?? 0));
      test.channel.nack(m, false, true);
    }
    // The consumer treats x-delivery-count >= limit as the last delivery (isLastDelivery).
    expect(counts.length).toBe(INPUT_DELIVERY_LIMIT + 1);
    expect(counts.at(-1)).toBe(INPUT_DELIVERY_LIMIT);
    // Quorum queues dead-letter at-least-once through an internal process: the copy arrives shortly after.
    const parked = await waitFor(async () => {
      const got = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
      return got.length > 0 ? got : undefined;
    }, 'the poison message in the dead-letter queue');
    expect(parked.map((m) => [m.content.toString(), m.properties.messageId])).toEqual([['poison', 'poison-1']]);
  });
});

describe('a channel whose setup fails', () => {
  /** A vhost of its own, a probe channel on it and the service's connection, all closed afterwards. */
  async function inOwnVhost(logger: pino.Logger, body: (v: { amqpUrl: string; probe: Awaited<ReturnType<typeof openTestChannel>>; amqp: ReturnType<typeof createAmqpConnection> }) => Promise<void>) {
    const other = await isolate();
    const probe = await openTestChannel(other.amqpUrl);
    const amqp = createAmqpConnection({ url: other.amqpUrl, logger, reconnectS: 0.2 });
    try {
      await body({ amqpUrl: other.amqpUrl, probe, amqp });
    } finally {
      await amqp.close();
      await probe.connection.close().catch(() => undefined);
      await other.cleanup();
    }
  }

  it('when the input queue was declared elsewhere with other arguments, then the consumer comes up by itself once that is fixed', async () => {
    let reportFailure: () => void = () => undefined;
    const setupFailed = new Promise<void>((resolve) => (reportFailure = resolve));
    const logger = pino({ level: 'error' }, {
      write: (line: string) => void (line.includes('channel setup failed') && reportFailure()),
    });
    await inOwnVhost(logger, async ({ amqpUrl, probe, amqp }) => {
      await probe.channel.assertQueue(INPUT_QUEUE, { durable: true });
      const consumer = startInventoryConsumer({ connection: amqp, prefetch: 1, logger, handler: async () => 'ack' });
      await setupFailed;
      await probe.channel.deleteQueue(INPUT_QUEUE);
      // The failed setup makes the connection reconnect after a pause; then the setup runs again.
      const consumers = await waitFor(() => inputConsumers(amqpUrl), 'the consumer to come up');
      expect(consumers).toBe(1);
      await consumer.stop();
    });
  });

  it('when the dead-letter queue cannot be declared (its cluster node is down), then the consumer still takes the input', async () => {
    await inOwnVhost(pino({ level: 'silent' }), async ({ amqpUrl, probe, amqp }) => {
      // Declared elsewhere with other arguments, the queue refuses the service's declaration, as a lost node would.
      await probe.channel.assertQueue(DEAD_LETTER_QUEUE, { durable: true, arguments: { 'x-max-length': 1 } });
      const consumer = startInventoryConsumer({ connection: amqp, prefetch: 1, logger: pino({ level: 'silent' }), handler: async () => 'ack' });
      const consumers = await waitFor(() => inputConsumers(amqpUrl), 'the consumer to come up');
      expect(consumers).toBe(1);
      await consumer.stop();
    });
  });
});

/** The input queue's consumer count once it has one (undefined while it has none or is not there). */
async function inputConsumers(amqpUrl: string): Promise<number | undefined> {
  const check = await openTestChannel(amqpUrl);
  try {
    return (await check.channel.checkQueue(INPUT_QUEUE)).consumerCount || undefined;
  } catch {
    return undefined;
  } finally {
    await check.connection.close().catch(() => undefined);
  }
}
