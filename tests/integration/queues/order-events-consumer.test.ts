import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/observability/metrics.js';
import { createCompensationsRepository, type CompensationsRepository } from '../../../src/persistence/compensations.repository.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createPaymentsRepository } from '../../../src/persistence/payments.repository.js';
import { createAmqpConnection, type AmqpConnection } from '../../../src/queues/amqp-connection.js';
import {
  CANCEL_ORDER_JOB,
  REFUND_PAYMENT_JOB,
  cancelJobId,
  createCompensationEnqueuer,
  createCompensationQueues,
  refundJobId,
  type CompensationEnqueuer,
  type CompensationsQueue,
} from '../../../src/queues/compensations.queue.js';
import type { Settlement } from '../../../src/queues/consumer-outcomes.js';
import { createDeadLetterPublisher } from '../../../src/queues/dead-letter.js';
import { createOrderEventsConsumer, startOrderEventsConsumer, type InputConsumer } from '../../../src/queues/order-events.consumer.js';
import { DEAD_LETTER_QUEUE, ORDER_CANCELLED_KEY, ORDER_EVENTS_QUEUE, ORDER_EXCHANGE, REFUND_REQUESTED_KEY } from '../../../src/queues/topology.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { drainQueue, openTestChannel, publishConfirmed } from '../../support/amqp-test-helpers.js';
import { seedSucceeded } from '../../support/payments.seed.js';

let iso: Isolated;
let knex: Knex;
let closedKnex: Knex;
let compensations: CompensationsRepository;
let redis: Redis;
let queue: CompensationsQueue;
let amqp: AmqpConnection;
let test: Awaited<ReturnType<typeof openTestChannel>>;
let consumer: InputConsumer;
let deadLetters: ReturnType<typeof createDeadLetterPublisher>;
let metrics: Metrics;
let mainHandler: ReturnType<typeof createOrderEventsConsumer>;
/** The next this many repository calls go to a database that is gone, and the next this many enqueues to a Redis that is. */
let databaseDownFor = 0;
let redisDownFor = 0;
const settled = new EventEmitter();
const logLines: string[] = [];
/** A reason to look for in the logs (it must never be there). */
const REASON = 'reason-lookforme';

beforeAll(async () => {
  iso = await isolate();
  knex = createKnex(iso.databaseUrl);
  closedKnex = createKnex(iso.databaseUrl);
  await closedKnex.destroy();
  compensations = createCompensationsRepository(knex);
  const unreachable = createCompensationsRepository(closedKnex);
  const database = new Proxy(compensations, {
    get: (target, key: keyof CompensationsRepository) => (databaseDownFor > 0 && databaseDownFor-- > 0 ? unreachable[key] : target[key]),
  });
  redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
  const queues = createCompensationQueues({ connection: redis, prefix: iso.queuePrefix, shards: 1, attempts: 3, backoffMs: 10, retentionS: 3600 });
  queue = queues.shards[0]!;
  const jobs = createCompensationEnqueuer(queues);
  const enqueue: CompensationEnqueuer = {
    cancellation: (orderId) => (redisDownFor-- > 0 ? Promise.reject(new Error('Redis is unreachable')) : jobs.cancellation(orderId)),
    refund: (job) => (redisDownFor-- > 0 ? Promise.reject(new Error('Redis is unreachable')) : jobs.refund(job)),
  };
  metrics = createMetrics();
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  amqp = createAmqpConnection({ url: iso.amqpUrl, logger, reconnectS: 0.2 });
  await amqp.waitUntilUp(10_000);
  deadLetters = createDeadLetterPublisher({ connection: amqp });
  mainHandler = createOrderEventsConsumer({ compensations: database, enqueue, deadLetter: deadLetters.deadLetter, logger, metrics });
  consumer = startOrderEventsConsumer({
    connection: amqp,
    prefetch: 10,
    logger,
    retryDelayMs: () => 20,
    handler: async (message) => {
      const settlement = await mainHandler(message);
      settled.emit(String(message.properties.messageId), settlement);
      return settlement;
    },
  });
  test = await openTestChannel(iso.amqpUrl);
  await waitForConsumer();
});

afterAll(async () => {
  // Every step runs even if an earlier one fails, so the isolation is always removed.
  const steps = [
    () => consumer?.stop(),
    () => deadLetters?.close(),
    () => amqp?.close(),
    () => test?.connection.close(),
    () => queue?.close(),
    () => redis?.disconnect(),
    () => knex?.destroy(),
  ];
  for (const step of steps) await Promise.resolve().then(step).catch(() => undefined);
  await iso?.cleanup();
});

async function waitForConsumer(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = await openTestChannel(iso.amqpUrl);
    try {
      if ((await probe.channel.checkQueue(ORDER_EVENTS_QUEUE)).consumerCount > 0) return;
    } catch {
      // Not declared yet.
    } finally {
      await probe.connection.close().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error('the consumer never started');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function envelope(type: string, data: Record<string, unknown>, id = randomUUID()) {
  return { specversion: '1.0', id, source: 'order-service', type, time: '2026-12-06T10:00:00Z', datacontenttype: 'application/json', data };
}

const orderCancelled = (data: Record<string, unknown> = {}) => envelope('OrderCancelled', { orderId: randomUUID(), reason: REASON, ...data });
const refundRequested = (data: Record<string, unknown> = {}) =>
  envelope('RefundRequested', { orderId: randomUUID(), refundId: randomUUID(), amount: '19.99', reason: REASON, ...data });

/** Publishes like the order service does and resolves with what the consumer decided (the first `settlements`). */
async function deliver(body: Buffer | object, messageId: string, settlements = 1, routingKey?: string): Promise<Settlement[]> {
  const results: Settlement[] = [];
  const done = (async () => {
    while (results.length < settlements) results.push((await once(settled, messageId))[0] as Settlement);
  })();
  const content = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  const type = Buffer.isBuffer(body) ? undefined : (body as { type?: string }).type;
  const key = routingKey ?? (type === 'RefundRequested' ? REFUND_REQUESTED_KEY : ORDER_CANCELLED_KEY);
  await publishConfirmed(test.channel, ORDER_EXCHANGE, key, content, {
    messageId,
    ...(type ? { type } : {}),
    contentType: 'application/cloudevents+json',
    headers: { 'x-trace-note': 'kept' },
  });
  await done;
  return results;
}

const cancellationRows = (orderId: string) => knex('order_cancellations').where({ order_id: orderId });
const refundRows = (where: Record<string, string>) => knex('refunds').where(where);

/** The compensation jobs waiting for the order (nobody processes them in this test). */
async function jobsFor(orderId: string) {
  const jobs = await queue.getJobs(['waiting', 'delayed', 'prioritized']);
  return jobs.filter((j) => 'orderId' in j.data && j.data.orderId === orderId).map((j) => ({ id: j.id, name: j.name, data: j.data }));
}

describe('the order-events consumer', () => {
  describe('OrderCancelled', () => {
    it('when it arrives, then the cancellation is recorded, its job enqueued with just the order id, and the message acked', async () => {
      const event = orderCancelled();
      const { orderId } = event.data;
      expect(await deliver(event, event.id)).toEqual(['ack']);
      expect(await compensations.findCancellation(orderId as string)).toMatchObject({ orderId, sourceEventId: event.id, reason: REASON, answeredAt: null });
      expect(await jobsFor(orderId as string)).toEqual([{ id: cancelJobId(orderId as string), name: CANCEL_ORDER_JOB, data: { orderId } }]);
    });

    it('when it arrives twice, or again under a new event id, then it is absorbed: one record, one job', async () => {
      const event = orderCancelled();
      const orderId = event.data.orderId as string;
      await deliver(event, event.id);
      expect(await deliver(event, event.id)).toEqual(['ack']);
      const again = { ...event, id: randomUUID(), data: { ...event.data, reason: 'another note' } };
      expect(await deliver(again, again.id)).toEqual(['ack']);
      expect(await cancellationRows(orderId)).toHaveLength(1);
      expect(await compensations.findCancellation(orderId)).toMatchObject({ sourceEventId: event.id, reason: REASON });
      expect(await jobsFor(orderId)).toHaveLength(1);
    });

    it('when the database is down, then the message is nacked and delivered again: recorded once, nothing lost', async () => {
      const event = orderCancelled();
      databaseDownFor = 1;
      expect(await deliver(event, event.id, 2)).toEqual(['nack', 'ack']);
      expect(await cancellationRows(event.data.orderId as string)).toHaveLength(1);
      expect(await jobsFor(event.data.orderId as string)).toHaveLength(1);
    });

    it('when Redis is down after the record is written, then the message is nacked and the job enqueued on the retry', async () => {
      const event = orderCancelled();
      redisDownFor = 1;
      expect(await deliver(event, event.id, 2)).toEqual(['nack', 'ack']);
      expect(await cancellationRows(event.data.orderId as string)).toHaveLength(1);
      expect(await jobsFor(event.data.orderId as string)).toHaveLength(1);
    });
  });

  describe('RefundRequested', () => {
    it('when the order has a payment, then the refund is recorded in its currency as exact minor units, its job enqueued, and acked', async () => {
      const { orderId, paymentId } = await seedSucceeded(createPaymentsRepository(knex));
      const event = refundRequested({ orderId });
      const refundId = event.data.refundId as string;
      expect(await deliver(event, event.id)).toEqual(['ack']);
      expect(await compensations.findRefund(refundId)).toMatchObject({
        id: refundId,
        orderId,
        paymentId,
        amount: '19.99',
        amountMinor: 1999n,
        currency: 'USD',
        status: 'requested',
        failureCode: null,
        sourceEventId: event.id,
        cancel: false,
      });
      expect(await jobsFor(orderId)).toEqual([{ id: refundJobId(refundId), name: REFUND_PAYMENT_JOB, data: { refundId, orderId } }]);
    });

    it('when the order has no payment yet, then the refund is recorded with its amount as given, for the job to check', async () => {
      const event = refundRequested();
      expect(await deliver(event, event.id)).toEqual(['ack']);
      expect(await compensations.findRefund(event.data.refundId as string)).toMatchObject({ paymentId: null, amount: '19.99', amountMinor: null, currency: null });
      expect(await jobsFor(event.data.orderId as string)).toHaveLength(1);
    });

    it('when the amount is invalid for the payment\'s currency, then it is recorded as invalid_request and still enqueued, to be answered RefundFailed', async () => {
      const { orderId } = await seedSucceeded(createPaymentsRepository(knex));
      const event = refundRequested({ orderId, amount: '19.9' });
      expect(await deliver(event, event.id)).toEqual(['ack']);
      expect(await compensations.findRefund(event.data.refundId as string)).toMatchObject({
        amount: '19.9',
        amountMinor: null,
        status: 'requested',
        failureCode: 'invalid_request',
        failureReason: expect.stringMatching(/exactly 2 decimal digit/),
      });
      expect(await jobsFor(orderId)).toHaveLength(1);
      expect(await drainQueue(test.channel, DEAD_LETTER_QUEUE)).toHaveLength(0);
    });

    it('when the same refundId comes again with the same order and amount, then it is absorbed: one record, one job', async () => {
      const event = refundRequested();
      await deliver(event, event.id);
      const again = { ...event, id: randomUUID() };
      expect(await deliver(again, again.id)).toEqual(['ack']);
      expect(await refundRows({ id: event.data.refundId as string })).toHaveLength(1);
      expect((await compensations.findRefund(event.data.refundId as string))?.sourceEventId).toBe(event.id);
      expect(await jobsFor(event.data.orderId as string)).toHaveLength(1);
    });

    it('when the same refundId comes with another amount, then it is dead-lettered as a conflict and the first request stands', async () => {
      const first = refundRequested();
      await deliver(first, first.id);
      const before = await compensations.findRefund(first.data.refundId as string);
      const second = refundRequested({ orderId: first.data.orderId, refundId: first.data.refundId, amount: '5.00' });
      expect(await deliver(second, second.id)).toEqual(['ack']);
      const [parked] = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
      expect(parked?.properties.messageId).toBe(second.id);
      expect(parked?.properties.headers?.['x-error']).toMatch(/^conflict: refund .*amount "19\.99" then "5\.00"\. The first request stands/);
      expect(JSON.parse(parked!.content.toString())).toEqual(second);
      expect(await compensations.findRefund(first.data.refundId as string)).toEqual(before);
      expect(await jobsFor(first.data.orderId as string)).toHaveLength(1);
    });

    it('when the same refundId comes for another order, then it is a conflict too', async () => {
      const first = refundRequested();
      await deliver(first, first.id);
      const second = refundRequested({ refundId: first.data.refundId });
      await deliver(second, second.id);
      const [parked] = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
      expect(parked?.properties.headers?.['x-error']).toMatch(/conflict: .*order .* then /);
      expect(await refundRows({ order_id: second.data.orderId as string })).toHaveLength(0);
    });

    it('when the database is down, then the message is nacked and delivered again: recorded once, nothing lost', async () => {
      const event = refundRequested();
      databaseDownFor = 1;
      expect(await deliver(event, event.id, 2)).toEqual(['nack', 'ack']);
      expect(await refundRows({ id: event.data.refundId as string })).toHaveLength(1);
      expect(await jobsFor(event.data.orderId as string)).toHaveLength(1);
    });
  });

  describe('when a message is not attributable, then it is dead-lettered whole with the reason in x-error', () => {
    const orderId = randomUUID();
    const valid = refundRequested({ orderId });
    it.each([
      ['not JSON', Buffer.from('{"specversion":"1.0",'), /not JSON/],
      ['not UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), /not valid UTF-8/],
      ['not a CloudEvent', Buffer.from(JSON.stringify({ orderId, reason: 'x' })), /not a CloudEvents 1\.0 envelope/],
      ['of an unknown type', Buffer.from(JSON.stringify({ ...valid, type: 'OrderShipped' })), /^type is not accepted: only "OrderCancelled" and "RefundRequested" are$/],
      ['without an order id', Buffer.from(JSON.stringify({ ...valid, data: { ...valid.data, orderId: undefined } })), /data\.orderId is missing/],
      ['with an order id that is not a UUID', Buffer.from(JSON.stringify({ ...valid, data: { ...valid.data, orderId: '42' } })), /data\.orderId must be a UUID/],
      ['a refund without a refund id', Buffer.from(JSON.stringify({ ...valid, data: { ...valid.data, refundId: undefined } })), /data\.refundId is missing/],
      ['a refund whose refund id is not a UUID', Buffer.from(JSON.stringify({ ...valid, data: { ...valid.data, refundId: 'r-1' } })), /data\.refundId must be a UUID/],
      ['over 64 KiB', Buffer.from(JSON.stringify({ ...valid, padding: Array(300).fill('x'.repeat(250)) })), /at most 65536/],
      ['with a text field over 255 characters', Buffer.from(JSON.stringify({ ...valid, data: { ...valid.data, reason: 'r'.repeat(256) } })), /data\.reason is 256 characters long/],
    ])('%s', async (_, body, reason) => {
      const messageId = randomUUID();
      expect(await deliver(body, messageId, 1, REFUND_REQUESTED_KEY)).toEqual(['ack']);
      const parked = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
      expect(parked).toHaveLength(1);
      const copy = parked[0]!;
      expect(copy.content.equals(body)).toBe(true);
      expect(copy.properties).toMatchObject({ messageId, contentType: 'application/cloudevents+json', deliveryMode: 2 });
      expect(copy.properties.headers).toMatchObject({
        'x-error': expect.stringMatching(reason),
        'x-original-exchange': ORDER_EXCHANGE,
        'x-original-routing-key': REFUND_REQUESTED_KEY,
        'x-trace-note': 'kept',
      });
      expect(await refundRows({ order_id: orderId })).toHaveLength(0);
      expect(await jobsFor(orderId)).toHaveLength(0);
    });
  });

  it.each([
    ['a cancellation reason', orderCancelled({ reason: 'stolen card 4111 1111 1111 1111' })],
    ['a refund reason', refundRequested({ reason: 'refund to 4111 1111 1111 1111' })],
  ])('when %s carries a card number, then only a masked copy is dead-lettered: no record, no job', async (_, event) => {
    const orderId = event.data.orderId as string;
    expect(await deliver(event, event.id)).toEqual(['ack']);
    const [parked] = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
    expect(parked?.properties.headers?.['x-error']).toBe('card data not accepted');
    const copy = parked!.content.toString();
    expect(copy).not.toContain('4111 1111 1111 1111');
    expect(JSON.parse(copy).data.reason).toMatch(/\*\*\*\* \*\*\*\* \*\*\*\* 1111$/);
    expect(await cancellationRows(orderId)).toHaveLength(0);
    expect(await refundRows({ order_id: orderId })).toHaveLength(0);
    expect(await jobsFor(orderId)).toHaveLength(0);
  });

  it('when parsing a message throws, then it is dead-lettered once with x-error and acked, never nacked', async () => {
    const messageId = randomUUID();
    const headers = new Proxy({}, { ownKeys: () => { throw new TypeError('unreadable'); } });
    const message = { content: Buffer.from('{}'), fields: { exchange: ORDER_EXCHANGE, routingKey: ORDER_CANCELLED_KEY }, properties: { messageId, headers } };
    expect(await mainHandler(message)).toBe('ack');
    const parked = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
    expect(parked).toHaveLength(1);
    expect(parked[0]!.properties.headers?.['x-error']).toMatch(/could not be parsed or validated \(TypeError\)/);
  });

  describe('on the last delivery the queue allows', () => {
    const lastDelivery = (event: ReturnType<typeof orderCancelled>) => ({
      content: Buffer.from(JSON.stringify(event)),
      fields: { exchange: ORDER_EXCHANGE, routingKey: ORDER_CANCELLED_KEY },
      properties: { messageId: event.id, headers: { 'x-delivery-count': 20 } },
    });
    const handlerWith = (repository: CompensationsRepository, enqueue: CompensationEnqueuer) =>
      createOrderEventsConsumer({ compensations: repository, enqueue, deadLetter: deadLetters.deadLetter, logger: pino({ level: 'silent' }), metrics });
    const redisDown: CompensationEnqueuer = {
      cancellation: () => Promise.reject(new Error('Redis is unreachable')),
      refund: () => Promise.reject(new Error('Redis is unreachable')),
    };

    it('when the database is still down, then the message is dead-lettered with the error as reason, and acked', async () => {
      const event = orderCancelled();
      expect(await handlerWith(createCompensationsRepository(closedKnex), redisDown)(lastDelivery(event))).toBe('ack');
      const [parked] = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
      expect(parked?.properties.messageId).toBe(event.id);
      expect(parked?.properties.headers?.['x-error']).toMatch(/^gave up after repeated failures: /);
    });

    it('when only the enqueue still fails, then the message is acked: the saved cancellation is left for a sweeper', async () => {
      const event = orderCancelled();
      expect(await handlerWith(compensations, redisDown)(lastDelivery(event))).toBe('ack');
      expect(await compensations.findCancellation(event.data.orderId as string)).toMatchObject({ answeredAt: null });
      expect(await drainQueue(test.channel, DEAD_LETTER_QUEUE)).toHaveLength(0);
    });
  });

  it('then nothing it logged holds a reason, a card number, a message body or the broker password', () => {
    const logged = logLines.join('\n');
    expect(logLines.length).toBeGreaterThan(10);
    expect(logged).not.toMatch(/reason-lookforme|1111 1111|order-service|guest:guest/);
  });

  it('when the consumer stops, then every message it handled has been acked: none is left in its queue', async () => {
    await consumer.stop();
    let queueState = await test.channel.checkQueue(ORDER_EVENTS_QUEUE);
    for (const deadline = Date.now() + 5_000; queueState.consumerCount > 0 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 20));
      queueState = await test.channel.checkQueue(ORDER_EVENTS_QUEUE);
    }
    expect({ messageCount: queueState.messageCount, consumerCount: queueState.consumerCount }).toEqual({ messageCount: 0, consumerCount: 0 });
  });
});
