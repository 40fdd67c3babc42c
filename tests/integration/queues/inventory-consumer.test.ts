import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { Knex } from 'knex';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/observability/metrics.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createPaymentsRepository, type PaymentsRepository } from '../../../src/persistence/payments.repository.js';
import { createAmqpConnection, type AmqpConnection } from '../../../src/queues/amqp-connection.js';
import { createDeadLetterPublisher } from '../../../src/queues/dead-letter.js';
import {
  createInventoryConsumer,
  startInventoryConsumer,
  type InventoryConsumer,
  type Settlement,
} from '../../../src/queues/inventory.consumer.js';
import { DEAD_LETTER_QUEUE, INPUT_QUEUE, INVENTORY_EXCHANGE, INVENTORY_RESERVED_KEY } from '../../../src/queues/topology.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { drainQueue, openTestChannel, publishConfirmed, rabbitmqctl } from '../../support/amqp-test-helpers.js';

let iso: Isolated;
let knex: Knex;
let payments: PaymentsRepository;
let amqp: AmqpConnection;
let test: Awaited<ReturnType<typeof openTestChannel>>;
let consumer: InventoryConsumer;
let deadLetters: ReturnType<typeof createDeadLetterPublisher>;
let metrics: Metrics;
let mainHandler: ReturnType<typeof createInventoryConsumer>;
const enqueued: string[] = [];
let enqueueFailures = 0;
let outboxKicks = 0;
const settled = new EventEmitter();
const logLines: string[] = [];
/** A token to look for in the logs (it must never be there). */
const TOKEN = 'pm_card_lookforme';

beforeAll(async () => {
  iso = await isolate();
  knex = createKnex(iso.databaseUrl);
  payments = createPaymentsRepository(knex);
  metrics = createMetrics();
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  amqp = createAmqpConnection({ url: iso.amqpUrl, logger, reconnectS: 0.2 });
  await amqp.waitUntilUp(10_000);
  deadLetters = createDeadLetterPublisher({ connection: amqp });
  mainHandler = createInventoryConsumer({
    payments,
    async enqueue(orderId) {
      enqueued.push(orderId);
      if (enqueueFailures > 0) {
        enqueueFailures--;
        throw new Error('Redis is unreachable');
      }
    },
    deadLetter: deadLetters.deadLetter,
    logger,
    metrics,
    maxAttempts: 3,
    onOutboxWritten: () => outboxKicks++,
  });
  consumer = startInventoryConsumer({
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
  // The consumer's channel declares the topology; wait until its queue is there before publishing.
  await waitForConsumer();
});

afterAll(async () => {
  // Every step runs even if an earlier one fails, so the isolation is always removed.
  const steps = [() => consumer?.stop(), () => deadLetters?.close(), () => amqp?.close(), () => test?.connection.close(), () => knex?.destroy()];
  for (const step of steps) await Promise.resolve().then(step).catch(() => undefined);
  await iso?.cleanup();
});

async function waitForConsumer(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = await openTestChannel(iso.amqpUrl);
    try {
      const { consumerCount } = await probe.channel.checkQueue(INPUT_QUEUE);
      if (consumerCount > 0) return;
    } catch {
      // Not declared yet.
    } finally {
      await probe.connection.close().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error('the consumer never started');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function inventoryReserved(data: Record<string, unknown> = {}, id = randomUUID()) {
  return {
    specversion: '1.0',
    id,
    source: 'inventory-service',
    type: 'InventoryReserved',
    time: '2026-11-26T10:00:00Z',
    datacontenttype: 'application/json',
    data: { orderId: randomUUID(), amount: '49.99', currency: 'USD', customerId: 'cus_123', paymentMethod: TOKEN, ...data },
  };
}

/** Publishes like the inventory service does and resolves with what the consumer decided (n-th settlement). */
async function deliver(body: Buffer | string | object, messageId: string, settlements = 1): Promise<Settlement[]> {
  const results: Settlement[] = [];
  const done = (async () => {
    while (results.length < settlements) results.push((await once(settled, messageId))[0] as Settlement);
  })();
  const content = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  await publishConfirmed(test.channel, INVENTORY_EXCHANGE, INVENTORY_RESERVED_KEY, content, {
    messageId,
    type: 'InventoryReserved',
    contentType: 'application/cloudevents+json',
    headers: { 'x-trace-note': 'kept' },
  });
  await done;
  return results;
}

async function rowsFor(orderId: string) {
  return knex('payments').where({ order_id: orderId });
}

async function counter(c: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }, labels: Record<string, string>) {
  const { values } = await c.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

describe('the InventoryReserved consumer', () => {
  it('when a valid event arrives, then an Initiated payment is recorded, its charge enqueued once, and the message acked', async () => {
    const event = inventoryReserved();
    expect(await deliver(event, event.id)).toEqual(['ack']);
    const payment = await payments.findByOrderId(event.data.orderId);
    expect(payment).toMatchObject({ status: 'Initiated', amount: '49.99', amountMinor: 4999n, currency: 'USD', sourceEventId: event.id });
    expect(enqueued.filter((id) => id === event.data.orderId)).toHaveLength(1);
  });

  it('when the same event arrives again, or the same order and data under a new id, then it is absorbed: one payment', async () => {
    const event = inventoryReserved();
    await deliver(event, event.id);
    const hitsBefore = await counter(metrics.dedupeHits, { layer: 'row' });
    expect(await deliver(event, event.id)).toEqual(['ack']);
    const again = { ...event, id: randomUUID() };
    expect(await deliver(again, again.id)).toEqual(['ack']);
    expect(await rowsFor(event.data.orderId)).toHaveLength(1);
    expect((await payments.findByOrderId(event.data.orderId))?.sourceEventId).toBe(event.id);
    expect(await counter(metrics.dedupeHits, { layer: 'row' })).toBe(hitsBefore + 2);
  });

  it('when the same order arrives with another amount, then it is dead-lettered as a conflict and the first payment stands', async () => {
    const first = inventoryReserved();
    await deliver(first, first.id);
    const before = await payments.findByOrderId(first.data.orderId);
    const second = inventoryReserved({ orderId: first.data.orderId, amount: '50.00' });
    expect(await deliver(second, second.id)).toEqual(['ack']);
    const [parked] = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
    expect(parked?.properties.messageId).toBe(second.id);
    expect(parked?.properties.headers?.['x-error']).toMatch(/conflict.*49\.99 USD then 50\.00 USD/);
    expect(JSON.parse(parked!.content.toString())).toEqual(second);
    expect(await payments.findByOrderId(first.data.orderId)).toEqual(before);
  });

  it('when the same order arrives with another payment method, then it is a conflict that does not show the token', async () => {
    const first = inventoryReserved();
    await deliver(first, first.id);
    const second = inventoryReserved({ orderId: first.data.orderId, paymentMethod: 'pm_card_mastercard' });
    await deliver(second, second.id);
    const [parked] = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
    expect(parked?.properties.headers?.['x-error']).toMatch(/another payment method/);
    expect(parked?.properties.headers?.['x-error']).not.toMatch(/pm_card_/);
  });

  describe('when a message is not attributable to an order, then it is dead-lettered whole with the reason in x-error', () => {
    const orderId = randomUUID();
    const valid = inventoryReserved({ orderId });
    it.each([
      ['not JSON', Buffer.from('{"specversion":"1.0",'), /not JSON/],
      ['not UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), /not valid UTF-8/],
      ['not a CloudEvent', Buffer.from(JSON.stringify({ orderId, amount: '49.99' })), /not a CloudEvents 1\.0 envelope/],
      ['of an unknown type', Buffer.from(JSON.stringify({ ...valid, type: 'OrderShipped' })), /^type is not accepted: only "InventoryReserved" is$/],
      ['without an order id', Buffer.from(JSON.stringify({ ...valid, data: { ...valid.data, orderId: undefined } })), /data\.orderId is missing/],
      ['with an order id that is not a UUID', Buffer.from(JSON.stringify({ ...valid, data: { ...valid.data, orderId: '42' } })), /data\.orderId must be a UUID/],
      ['over 64 KiB', Buffer.from(JSON.stringify({ ...valid, padding: Array(300).fill('x'.repeat(250)) })), /at most 65536/],
      ['with a text field over 255 characters', Buffer.from(JSON.stringify({ ...valid, source: 's'.repeat(256) })), /source is 256 characters long/],
    ])('%s', async (_, body, reason) => {
      const messageId = randomUUID();
      expect(await deliver(body, messageId)).toEqual(['ack']);
      const parked = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
      expect(parked).toHaveLength(1);
      const copy = parked[0]!;
      expect(copy.content.equals(body)).toBe(true);
      expect(copy.properties).toMatchObject({ messageId, type: 'InventoryReserved', contentType: 'application/cloudevents+json', deliveryMode: 2 });
      expect(copy.properties.headers).toMatchObject({
        'x-error': expect.stringMatching(reason),
        'x-original-exchange': INVENTORY_EXCHANGE,
        'x-original-routing-key': INVENTORY_RESERVED_KEY,
        'x-trace-note': 'kept',
      });
      expect(await rowsFor(orderId)).toHaveLength(0);
    });
  });

  it('when a message carries a card number, then only a masked copy is dead-lettered: no payment, no event', async () => {
    const event = inventoryReserved({ paymentMethod: '4111 1111 1111 1111' });
    expect(await deliver(event, event.id)).toEqual(['ack']);
    const [parked] = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
    expect(parked?.properties.headers?.['x-error']).toBe('card data not accepted');
    const copy = parked!.content.toString();
    expect(copy).not.toContain('4111 1111 1111 1111');
    expect(JSON.parse(copy).data.paymentMethod).toBe('**** **** **** 1111');
    expect(await rowsFor(event.data.orderId)).toHaveLength(0);
    expect(await knex('outbox').where({ order_id: event.data.orderId })).toHaveLength(0);
    expect(enqueued).not.toContain(event.data.orderId);
  });

  it.each([
    ['amount', { amount: '49.9' }, /^amount must have exactly 2 decimal digit/],
    ['amount', { amount: '0.00' }, /amount must be greater than zero/],
    ['currency', { currency: 'ZZZ' }, /^currency is not an ISO 4217 code$/],
    ['paymentMethod', { paymentMethod: undefined }, /paymentMethod is missing/],
  ])('when the %s is invalid (%j), then a Failed payment and a PaymentFailed invalid_request are recorded; nothing is enqueued', async (_, data, reason) => {
    const event = inventoryReserved(data);
    const kicks = outboxKicks;
    expect(await deliver(event, event.id)).toEqual(['ack']);
    const payment = await payments.findByOrderId(event.data.orderId);
    expect(payment).toMatchObject({ status: 'Failed', failureCode: 'invalid_request', failureReason: expect.stringMatching(reason) });
    const [outboxRow] = await knex('outbox').where({ order_id: event.data.orderId });
    expect(outboxRow).toMatchObject({ type: 'PaymentFailed', routing_key: 'payment.failed', published_at: null });
    expect(outboxRow.payload.data).toMatchObject({ orderId: event.data.orderId, paymentId: payment!.id, code: 'invalid_request', reason: expect.stringMatching(reason) });
    expect(outboxKicks).toBe(kicks + 1);
    expect(enqueued).not.toContain(event.data.orderId);
  });

  it('when a card number is in another form (fullwidth, in a header key, a numeric header), then it is dead-lettered once, masked, and acked', async () => {
    const forms: Array<{ body: object; headers?: Record<string, unknown> }> = [
      { body: inventoryReserved({ customerId: 'cus_４１１１１１１１１１１１１１１１' }) },
      { body: inventoryReserved(), headers: { 'x-4111.1111.1111.1111': 'k' } },
      { body: inventoryReserved(), headers: { 'x-number': 4111111111111111 } },
    ];
    for (const { body, headers } of forms) {
      const messageId = randomUUID();
      const settledAs = once(settled, messageId);
      await publishConfirmed(test.channel, INVENTORY_EXCHANGE, INVENTORY_RESERVED_KEY, Buffer.from(JSON.stringify(body)), { messageId, headers });
      expect((await settledAs)[0]).toBe('ack');
      const parked = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
      expect(parked).toHaveLength(1);
      expect(parked[0]!.properties.headers?.['x-error']).toBe('card data not accepted');
      const kept = parked[0]!.content.toString() + JSON.stringify(parked[0]!.properties.headers);
      expect(kept.normalize('NFKC')).not.toMatch(/4111.?1111/);
    }
  });

  it('when parsing a message throws, then it is dead-lettered once with x-error and acked, never nacked', async () => {
    const messageId = randomUUID();
    // Header tables whose keys cannot be read: whatever the parser does with them, it throws.
    const headers = new Proxy({}, { ownKeys: () => { throw new TypeError('unreadable'); } });
    const message = { content: Buffer.from('{}'), fields: { exchange: INVENTORY_EXCHANGE, routingKey: INVENTORY_RESERVED_KEY }, properties: { messageId, headers } };
    expect(await mainHandler(message)).toBe('ack');
    const parked = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
    expect(parked).toHaveLength(1);
    expect(parked[0]!.properties.headers?.['x-error']).toMatch(/could not be parsed or validated \(TypeError\)/);
  });

  it('when enqueueing fails, then the message is delivered again and not lost: one payment, enqueued on the retry', async () => {
    const event = inventoryReserved();
    enqueueFailures = 1;
    expect(await deliver(event, event.id, 2)).toEqual(['nack', 'ack']);
    expect(await rowsFor(event.data.orderId)).toHaveLength(1);
    expect(enqueued.filter((id) => id === event.data.orderId)).toHaveLength(2);
  });

  describe('on the last delivery the queue allows', () => {
    const lastDelivery = (event: ReturnType<typeof inventoryReserved>) => ({
      content: Buffer.from(JSON.stringify(event)),
      fields: { exchange: INVENTORY_EXCHANGE, routingKey: INVENTORY_RESERVED_KEY },
      properties: { messageId: event.id, headers: { 'x-delivery-count': 20 } },
    });

    it('when the database is still unreachable, then the message is dead-lettered with the error as reason, and acked', async () => {
      const unreachable = createKnex(iso.databaseUrl.replace(/\/[^/]*$/, '/no_such_database'));
      const handler = createInventoryConsumer({
        payments: createPaymentsRepository(unreachable),
        enqueue: async () => undefined,
        deadLetter: deadLetters.deadLetter,
        logger: pino({ level: 'silent' }),
        metrics,
        maxAttempts: 3,
      });
      const event = inventoryReserved();
      expect(await handler(lastDelivery(event))).toBe('ack');
      await unreachable.destroy();
      const [parked] = await drainQueue(test.channel, DEAD_LETTER_QUEUE);
      expect(parked?.properties.messageId).toBe(event.id);
      expect(parked?.properties.headers?.['x-error']).toMatch(/gave up after repeated failures: .*no_such_database/);
    });

    it('when only the enqueue still fails, then the message is acked: the saved payment is left to the recovery sweeper', async () => {
      const handler = createInventoryConsumer({
        payments,
        enqueue: async () => {
          throw new Error('Redis is unreachable');
        },
        deadLetter: deadLetters.deadLetter,
        logger: pino({ level: 'silent' }),
        metrics,
        maxAttempts: 3,
      });
      const event = inventoryReserved();
      expect(await handler(lastDelivery(event))).toBe('ack');
      expect(await payments.findByOrderId(event.data.orderId)).toMatchObject({ status: 'Initiated' });
      expect(await drainQueue(test.channel, DEAD_LETTER_QUEUE)).toHaveLength(0);
    });

    it('when it fails before that, then the answer is nack', async () => {
      const handler = createInventoryConsumer({
        payments,
        enqueue: async () => {
          throw new Error('Redis is unreachable');
        },
        deadLetter: deadLetters.deadLetter,
        logger: pino({ level: 'silent' }),
        metrics,
        maxAttempts: 3,
      });
      const event = inventoryReserved();
      const message = lastDelivery(event);
      message.properties.headers['x-delivery-count'] = 19;
      expect(await handler(message)).toBe('nack');
    });
  });

  it('when the broker drops the connection, then the consumer comes back by itself and handles new events', async () => {
    const down = once(amqp.manager, 'disconnect');
    const up = down.then(() => once(amqp.manager, 'connect'));
    await rabbitmqctl('close_all_connections', '-p', iso.vhost, 'test');
    await up;
    // The test's own connection was closed too.
    test = await openTestChannel(iso.amqpUrl);
    await waitForConsumer();
    const event = inventoryReserved();
    expect(await deliver(event, event.id)).toEqual(['ack']);
    expect(await payments.findByOrderId(event.data.orderId)).toMatchObject({ status: 'Initiated' });
  });

  it('then nothing it logged holds a payment method, a card number, a message body or the broker password', () => {
    const logged = logLines.join('\n');
    expect(logLines.length).toBeGreaterThan(10);
    expect(logged).not.toMatch(/pm_card_lookforme|pm_card_mastercard|1111 1111|inventory-service|guest:guest/);
    expect(logged).toMatch(/amqp:\/\/guest:\*\*\*@/);
  });

  it('when the consumer stops, then every message it handled has been acked: none is left in the input queue', async () => {
    await consumer.stop();
    // The last acks go out as the consumer stops; a quorum queue counts the
    // cancelled consumer until it has taken them in, a moment later.
    let queue = await test.channel.checkQueue(INPUT_QUEUE);
    for (const deadline = Date.now() + 5_000; queue.consumerCount > 0 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 20));
      queue = await test.channel.checkQueue(INPUT_QUEUE);
    }
    expect({ messageCount: queue.messageCount, consumerCount: queue.consumerCount }).toEqual({ messageCount: 0, consumerCount: 0 });
  });
});
