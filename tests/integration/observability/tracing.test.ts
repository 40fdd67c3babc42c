import { randomBytes, randomUUID } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientGatewayError } from '../../../src/gateway/gateway.errors.js';
import type { PaymentGateway } from '../../../src/gateway/gateway.port.js';
import { createMockGateway } from '../../../src/gateway/mock.gateway.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { initTracing, type Tracing } from '../../../src/observability/tracing.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createOutboxRepository } from '../../../src/persistence/outbox.repository.js';
import { createPaymentsRepository } from '../../../src/persistence/payments.repository.js';
import { createAmqpConnection, type AmqpConnection } from '../../../src/queues/amqp-connection.js';
import { createDeadLetterPublisher } from '../../../src/queues/dead-letter.js';
import { createInventoryConsumer, startInventoryConsumer, type InventoryConsumer } from '../../../src/queues/inventory.consumer.js';
import { createOutboxRelay, type OutboxRelay } from '../../../src/queues/outbox.relay.js';
import { createPaymentQueues, enqueueCharge, type ChargePaymentJob, type PaymentQueues } from '../../../src/queues/payments.queue.js';
import { INPUT_QUEUE, INVENTORY_EXCHANGE, INVENTORY_RESERVED_KEY, PAYMENT_EXCHANGE, declareTopology } from '../../../src/queues/topology.js';
import { createPaymentProcessor } from '../../../src/workers/payment.processor.js';
import { createPaymentWorker } from '../../../src/workers/payment.worker.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { drainQueue, openTestChannel, publishConfirmed, waitFor } from '../../support/amqp-test-helpers.js';

/**
 * The whole in-process path with real PostgreSQL, Redis and RabbitMQ: the
 * RabbitMQ consumer, a BullMQ queue and worker (bullmq-otel), the processor
 * and the outbox relay, traced into an in-memory exporter.
 */

const EVENTS_QUEUE = 'test.traced-payment-events';
/** A token that must never be a span attribute. */
const SECRET_TOKEN = 'pm_card_visa';

let iso: Isolated;
let knex: Knex;
let redis: Redis;
let amqp: AmqpConnection;
let tracing: Tracing;
let queues: PaymentQueues;
let queue: Queue<ChargePaymentJob>;
let worker: Worker;
let relay: OutboxRelay;
let consumer: InventoryConsumer;
let deadLetters: ReturnType<typeof createDeadLetterPublisher>;
let test: Awaited<ReturnType<typeof openTestChannel>>;
const exporter = new InMemorySpanExporter();
const published: Array<{ orderId: string; type: string; headers: Record<string, unknown> }> = [];
/** The service's log lines, shown when a wait times out (kept in memory: nothing is printed while tests pass). */
const logLines: string[] = [];
/** Orders whose first charge answer is lost after charging (an unknown outcome the processor looks up). */
const loseFirstResponse = new Set<string>();

function flakyAfterCharging(inner: PaymentGateway): PaymentGateway {
  return {
    name: inner.name,
    async charge(request, signal) {
      const charged = await inner.charge(request, signal);
      if (loseFirstResponse.delete(request.orderId)) throw new TransientGatewayError('connection_lost', 'socket hang up', 'unknown');
      return charged;
    },
    prepare: (request, signal) => inner.prepare(request, signal),
    lookup: (request, signal) => inner.lookup(request, signal),
    void: (handle, signal) => inner.void(handle, signal),
    refund: (request, signal) => inner.refund(request, signal),
    lookupRefund: (request, signal) => inner.lookupRefund(request, signal),
  };
}

beforeAll(async () => {
  iso = await isolate();
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line.trimEnd()) });
  tracing = await initTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: undefined }, logger, { exporter });
  knex = createKnex(iso.databaseUrl);
  const payments = createPaymentsRepository(knex);
  const metrics = createMetrics();
  redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
  queues = createPaymentQueues({ connection: redis, prefix: iso.queuePrefix, shards: 1, attempts: 3, backoffMs: 50, retentionS: 600, telemetry: tracing.bullmq });
  queue = queues.shards[0]!;

  amqp = createAmqpConnection({ url: iso.amqpUrl, logger, reconnectS: 0.2 });
  await amqp.waitUntilUp(10_000);
  test = await openTestChannel(iso.amqpUrl);
  await declareTopology(test.channel);
  await test.channel.assertQueue(EVENTS_QUEUE, { durable: false });
  await test.channel.bindQueue(EVENTS_QUEUE, PAYMENT_EXCHANGE, 'payment.*');
  relay = createOutboxRelay({ outbox: createOutboxRepository(knex), connection: amqp, logger, metrics, pollMs: 50, batchSize: 20 });
  relay.start();

  const gateway = flakyAfterCharging(createMockGateway({ successRate: 1, delayMs: [0, 2] }));
  const processor = createPaymentProcessor({ payments, gateways: [{ gateway }], logger, metrics, onOutboxWritten: () => relay.kick() });
  worker = createPaymentWorker({ connection: redis, prefix: iso.queuePrefix, concurrency: 4, processor, telemetry: tracing.bullmq });
  void worker.run();

  deadLetters = createDeadLetterPublisher({ connection: amqp });
  const handler = createInventoryConsumer({
    payments,
    enqueue: (orderId) => enqueueCharge(queues, orderId),
    deadLetter: deadLetters.deadLetter,
    logger,
    metrics,
    maxAttempts: 3,
    onOutboxWritten: () => relay.kick(),
  });
  consumer = startInventoryConsumer({ connection: amqp, prefetch: 10, handler, logger });

  // One payment end to end before the tests, so none of them carries the
  // pipeline's cold start (first connections, scripts, plans). Twice in about
  // ten fresh-clone CI runs the first order here took over 15 s on a loaded
  // machine; when the warm-up is that slow it says where it stood.
  const warmUp = randomUUID();
  const started = Date.now();
  await publishInventoryReserved({ orderId: warmUp, amount: '1.00', currency: 'USD', paymentMethod: SECRET_TOKEN }, {});
  await publishedFor(warmUp, 45_000);
  const tookMs = Date.now() - started;
  if (tookMs > 5_000) console.warn(`tracing test: the warm-up payment took ${tookMs} ms; now ${await whereIs(warmUp)}`);
});

afterAll(async () => {
  await consumer?.stop();
  await worker?.close();
  await relay?.stop();
  await queue?.close();
  await deadLetters?.close();
  await amqp?.close();
  await test?.connection.close().catch(() => undefined);
  redis?.disconnect();
  await knex?.destroy();
  await tracing?.shutdown();
  await iso?.cleanup();
});

function newTraceparent() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, header: `00-${traceId}-${spanId}-01` };
}

async function publishInventoryReserved(data: Record<string, unknown>, headers: Record<string, string>) {
  const id = randomUUID();
  const event = { specversion: '1.0', id, source: 'inventory-service', type: 'InventoryReserved', data };
  await publishConfirmed(test.channel, INVENTORY_EXCHANGE, INVENTORY_RESERVED_KEY, JSON.stringify(event), {
    messageId: id,
    type: 'InventoryReserved',
    contentType: 'application/cloudevents+json',
    headers,
  });
}

/** The terminal event published for the order, with its AMQP headers. */
async function publishedFor(orderId: string, timeoutMs?: number) {
  return waitFor(async () => {
    for (const m of await drainQueue(test.channel, EVENTS_QUEUE)) {
      const body = JSON.parse(m.content.toString('utf8'));
      published.push({ orderId: body.data.orderId, type: body.type, headers: m.properties.headers ?? {} });
    }
    return published.find((p) => p.orderId === orderId);
  }, `the terminal event of order ${orderId}`, timeoutMs).catch(async (err: Error) => {
    throw new Error(`${err.message}; where it stopped: ${await whereIs(orderId)}`);
  });
}

/** Where an order's payment stands (row, job): what a timed-out wait reports, so a stall can be told from a slow machine. */
async function whereIs(orderId: string): Promise<string> {
  const row = await knex('payments').where({ order_id: orderId }).first('status', 'version').catch((e: Error) => e.message);
  const job = await queue.getJob(orderId).catch(() => undefined);
  const jobState = job ? { state: await job.getState(), attemptsMade: job.attemptsMade, failedReason: job.failedReason } : 'no job';
  const outbox = await knex('outbox').count({ unpublished: '*' }).whereNull('published_at').first().catch((e: Error) => e.message);
  const input = await test.channel.checkQueue(INPUT_QUEUE).catch((e: Error) => e.message);
  return `${JSON.stringify({ payment: row ?? 'no row', job: jobState, outbox, input })}\nthe service's log:\n${logLines.slice(-40).join('\n')}`;
}

/** The finished spans of one trace, once `ready` holds over them (spans end asynchronously to the event). */
async function spansOf(traceId: string, ready: (spans: ReadableSpan[]) => boolean): Promise<ReadableSpan[]> {
  return waitFor(() => {
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    return ready(spans) ? spans : undefined;
  }, `the spans of trace ${traceId}`);
}

const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const one = (spans: ReadableSpan[], name: string) => {
  const found = named(spans, name);
  expect(found, `exactly one "${name}" span`).toHaveLength(1);
  return found[0]!;
};
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const ofOrder = (orderId: string) => (s: ReadableSpan) => s.attributes['payment.order_id'] === orderId;

describe('tracing, from the incoming event to the published one', () => {
  it('when an InventoryReserved carries a traceparent, then the consumer, job, gateway and publish spans continue that trace and the PaymentCompleted carries it', async () => {
    const incoming = newTraceparent();
    const orderId = randomUUID();
    await publishInventoryReserved({ orderId, amount: '49.99', currency: 'USD', customerId: 'cus_42', paymentMethod: SECRET_TOKEN }, { traceparent: incoming.header });

    const event = await publishedFor(orderId);
    expect(event.type).toBe('PaymentCompleted');
    const spans = await spansOf(incoming.traceId, (s) => named(s, 'process payments').length > 0 && named(s, 'publish payment.events').length > 0);

    const consumed = one(spans, 'process payment-service.inventory-reserved');
    expect(consumed.kind).toBe(SpanKind.CONSUMER);
    expect(parentOf(consumed)).toBe(incoming.spanId);
    expect(consumed.attributes).toMatchObject({ 'payment.order_id': orderId, 'payment.event.outcome': 'created' });

    const added = one(spans, 'add payments.ChargePayment');
    expect(parentOf(added)).toBe(idOf(consumed));
    const job = one(spans, 'process payments');
    expect(job.kind).toBe(SpanKind.CONSUMER);
    expect(parentOf(job)).toBe(idOf(added));
    expect(job.attributes['payment.order_id']).toBe(orderId);

    const charge = one(spans, 'gateway charge');
    expect(charge.kind).toBe(SpanKind.CLIENT);
    expect(parentOf(charge)).toBe(idOf(job));
    expect(charge.attributes).toMatchObject({ 'payment.gateway': 'mock', 'payment.gateway.outcome': 'succeeded', 'payment.order_id': orderId });

    const publish = one(spans, 'publish payment.events');
    expect(parentOf(publish)).toBe(idOf(job));
    expect(event.headers.traceparent).toBe(`00-${incoming.traceId}-${idOf(publish)}-01`);
  });

  it('when the charge answer is lost, then the charge and the look-up are two spans under the job, each with its outcome', async () => {
    const incoming = newTraceparent();
    const orderId = randomUUID();
    loseFirstResponse.add(orderId);
    await publishInventoryReserved({ orderId, amount: '10.00', currency: 'EUR', paymentMethod: SECRET_TOKEN }, { traceparent: incoming.header });

    expect((await publishedFor(orderId)).type).toBe('PaymentCompleted');
    const spans = await spansOf(incoming.traceId, (s) => named(s, 'process payments').length > 0 && named(s, 'gateway lookup').length > 0);
    const job = one(spans, 'process payments');
    expect(one(spans, 'gateway charge').attributes).toMatchObject({ 'payment.gateway.outcome': 'unknown', 'payment.gateway.code': 'connection_lost' });
    expect(parentOf(one(spans, 'gateway charge'))).toBe(idOf(job));
    expect(one(spans, 'gateway lookup').attributes).toMatchObject({ 'payment.gateway.outcome': 'succeeded', 'payment.gateway.operation': 'lookup' });
    expect(parentOf(one(spans, 'gateway lookup'))).toBe(idOf(job));
  });

  it('when the payment data is invalid, then the PaymentFailed written by the consumer continues the incoming trace', async () => {
    const incoming = newTraceparent();
    const orderId = randomUUID();
    await publishInventoryReserved({ orderId, amount: '1.5', currency: 'USD', paymentMethod: SECRET_TOKEN }, { traceparent: incoming.header });

    const event = await publishedFor(orderId);
    expect(event.type).toBe('PaymentFailed');
    const spans = await spansOf(incoming.traceId, (s) => named(s, 'publish payment.events').length > 0);
    const consumed = one(spans, 'process payment-service.inventory-reserved');
    expect(consumed.attributes['payment.event.outcome']).toBe('rejected');
    expect(parentOf(one(spans, 'publish payment.events'))).toBe(idOf(consumed));
    expect(named(spans, 'process payments')).toHaveLength(0);
    expect(String(event.headers.traceparent)).toContain(incoming.traceId);
  });

  it('when an event comes without a traceparent, then a new trace starts at the consumer and still reaches the published event', async () => {
    const orderId = randomUUID();
    await publishInventoryReserved({ orderId, amount: '5.00', currency: 'USD', paymentMethod: SECRET_TOKEN }, {});

    const event = await publishedFor(orderId);
    const consumed = await waitFor(() => exporter.getFinishedSpans().find((s) => s.name === 'process payment-service.inventory-reserved' && ofOrder(orderId)(s)), 'the consumer span');
    expect(consumed.parentSpanContext).toBeUndefined();
    expect(String(event.headers.traceparent)).toContain(consumed.spanContext().traceId);
  });

  it('then no span attribute ever holds the payment method', () => {
    const values = exporter.getFinishedSpans().flatMap((s) => Object.values(s.attributes).map(String));
    expect(values.length).toBeGreaterThan(0);
    expect(values.filter((v) => v.includes(SECRET_TOKEN))).toEqual([]);
  });
});
