import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import client from 'prom-client';
import { createOpsServer } from '../../../src/http/ops.server.js';
import { compensationsConsumedCounter, countRefund, createMetrics } from '../../../src/observability/metrics.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createCompensationsRepository } from '../../../src/persistence/compensations.repository.js';
import { createPaymentsRepository, type PaymentsRepository } from '../../../src/persistence/payments.repository.js';
import { createCompensationEnqueuer, createCompensationQueues, type CompensationQueues } from '../../../src/queues/compensations.queue.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { capturedLogger, outboxEvents, paymentsQueue } from '../../support/ops.fixtures.js';
import {
  SECRET_METHOD,
  seedCancelledAfterSuccess,
  seedDisputed,
  seedPartiallyRefunded,
  seedSucceeded,
} from '../../support/payments.seed.js';

let iso: Isolated;
let knex: Knex;
let payments: PaymentsRepository;
let closeQueues: () => Promise<void>;
let compensationQueues: CompensationQueues;
let app: FastifyInstance;
let seeded: {
  partial: Awaited<ReturnType<typeof seedPartiallyRefunded>>;
  cancelled: Awaited<ReturnType<typeof seedCancelledAfterSuccess>>;
  disputed: Awaited<ReturnType<typeof seedDisputed>>;
  plain: Awaited<ReturnType<typeof seedSucceeded>>;
};

beforeAll(async () => {
  iso = await isolate();
  knex = createKnex(iso.databaseUrl);
  payments = createPaymentsRepository(knex);
  const compensations = createCompensationsRepository(knex);
  seeded = {
    partial: await seedPartiallyRefunded(payments, compensations, knex),
    cancelled: await seedCancelledAfterSuccess(payments, compensations, knex),
    disputed: await seedDisputed(payments),
    plain: await seedSucceeded(payments),
  };
  const { queues, queue, redis } = paymentsQueue(iso);
  compensationQueues = createCompensationQueues({ connection: redis, prefix: iso.queuePrefix, shards: 1, attempts: 3, backoffMs: 100, retentionS: 3600 });
  await createCompensationEnqueuer(compensationQueues).refund({ refundId: seeded.partial.pending.refundId, orderId: seeded.partial.orderId });
  await createCompensationEnqueuer(compensationQueues).cancellation(seeded.cancelled.orderId);
  closeQueues = async () => {
    await Promise.all(compensationQueues.shards.map((q) => q.close()));
    await queue.close();
    redis.disconnect();
  };
  app = createOpsServer({
    logger: capturedLogger().logger,
    metrics: createMetrics(),
    payments,
    outbox: outboxEvents(knex),
    queues,
    boardQueues: compensationQueues.shards,
    health: async () => ({ postgres: { ok: true }, redis: { ok: true }, rabbitmq: { ok: true } }),
    adminReadWrite: false,
  });
});

afterAll(async () => {
  await app?.close();
  await closeQueues?.();
  await knex?.destroy();
  await iso?.cleanup();
});

const HTML = { accept: 'text/html' };

describe('GET /payments/:orderId with refunds, a cancellation and a dispute', () => {
  it('when a payment was partly refunded, then the JSON lists each refund and the total refunded as decimal strings', async () => {
    const { orderId, refunded, pending } = seeded.partial;
    const view = (await app.inject({ url: `/payments/${orderId}` })).json();
    expect(view).toMatchObject({ status: 'PartiallyRefunded', amount: '49.99', amountRefunded: '12.50', amountRefundedMinor: '1250', cancellation: null, dispute: null });
    expect(view.refunds).toEqual([
      expect.objectContaining({ id: refunded.refundId, amount: '12.50', amountMinor: '1250', currency: 'USD', status: 'succeeded', gatewayRefundId: 're_ops_done', cancel: false, failureCode: null }),
      expect.objectContaining({ id: pending.refundId, amount: '5.00', amountMinor: '500', status: 'pending', gatewayRefundId: 're_ops_pending' }),
    ]);
    expect(typeof view.refunds[0].createdAt).toBe('string');
    expect(JSON.stringify(view)).not.toContain(SECRET_METHOD);
  });

  it('when the order was cancelled after it was charged, then the cancellation, its refund and the full amount refunded are shown', async () => {
    const { orderId, refund } = seeded.cancelled;
    const view = (await app.inject({ url: `/payments/${orderId}` })).json();
    expect(view).toMatchObject({ status: 'Refunded', amountRefunded: '49.99' });
    expect(view.cancellation).toMatchObject({ reason: 'customer cancelled', refundId: refund.refundId });
    expect(Date.parse(view.cancellation.receivedAt)).not.toBeNaN();
    expect(Date.parse(view.cancellation.answeredAt)).not.toBeNaN();
    expect(view.refunds).toEqual([expect.objectContaining({ id: refund.refundId, cancel: true, status: 'succeeded' })]);
  });

  it('when the charge is disputed, then the dispute is shown with its amount in the currency', async () => {
    const view = (await app.inject({ url: `/payments/${seeded.disputed.orderId}` })).json();
    expect(view).toMatchObject({ status: 'Disputed', amountRefunded: '0.00', refunds: [] });
    expect(view.dispute).toEqual({ disputeId: 'dp_ops_fraud', amount: '49.99', amountMinor: '4999', currency: 'USD', reason: 'fraudulent' });
  });

  it('when an operator opens the page, then it shows the refunds, the amount refunded and keeps reloading while a refund is pending', async () => {
    const { orderId, refunded, pending } = seeded.partial;
    const res = await app.inject({ url: `/payments/${orderId}`, headers: HTML });
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('data-amount-refunded="12.50"');
    expect(res.body).toContain(`data-refund-id="${refunded.refundId}" data-refund-status="succeeded"`);
    expect(res.body).toContain(`data-refund-id="${pending.refundId}" data-refund-status="pending"`);
    expect(res.body).toContain('re_ops_pending');
    expect(res.body).toMatch(/http-equiv="refresh"/);
    expect(res.body).not.toContain(SECRET_METHOD);
  });

  it('when nothing is owed an answer any more, then the page of a settled payment stops reloading', async () => {
    for (const orderId of [seeded.cancelled.orderId, seeded.plain.orderId]) {
      const res = await app.inject({ url: `/payments/${orderId}`, headers: HTML });
      expect(res.body, orderId).not.toMatch(/http-equiv="refresh"/);
    }
    const cancelled = await app.inject({ url: `/payments/${seeded.cancelled.orderId}`, headers: HTML });
    expect(cancelled.body).toContain('data-cancellation="answered"');
    const disputed = await app.inject({ url: `/payments/${seeded.disputed.orderId}`, headers: HTML });
    expect(disputed.body).toContain('data-dispute-id="dp_ops_fraud"');
  });
});

describe('the state chart with the compensation states', () => {
  it('when payments were refunded and disputed, then their states and arrows carry counts', async () => {
    const stats = (await app.inject({ url: '/machines/payment/stats' })).json();
    expect(stats.states).toMatchObject({ Success: 1, PartiallyRefunded: 1, Refunded: 1, Disputed: 1, Failed: 0 });
    expect(stats.edges['Success->PartiallyRefunded']).toBe(1);
    expect(stats.edges['Success->Refunded']).toBe(1);
    expect(stats.edges['Success->Disputed']).toBe(1);
    expect(stats.unmatched).toEqual([]);
    const page = await app.inject({ url: '/machines/payment' });
    for (const [state, n] of [['PartiallyRefunded', 1], ['Refunded', 1], ['Disputed', 1]] as const) {
      expect(page.body).toContain(`data-state="${state}" data-count="${n}"`);
    }
  });
});

describe('Bull Board with the compensations queue', () => {
  it('when given the compensations queue, then the board lists it beside payments, read-only, each job linked to its payment', async () => {
    const res = await app.inject({ url: '/admin/queues/api/queues?activeQueue=compensations&status=waiting&page=1&jobsPerPage=50' });
    expect(res.statusCode).toBe(200);
    const queues = res.json().queues as Array<{ name: string; readOnlyMode: boolean; jobs: Array<{ id: string; externalUrl?: { href: string } }> }>;
    expect(queues.map((q) => q.name).sort()).toEqual(['compensations', 'payments']);
    const compensations = queues.find((q) => q.name === 'compensations')!;
    expect(compensations.readOnlyMode).toBe(true);
    const hrefs = compensations.jobs.map((j) => j.externalUrl?.href).sort();
    expect(hrefs).toEqual([`/payments/${seeded.partial.orderId}`, `/payments/${seeded.cancelled.orderId}`].sort());
  });
});

describe('compensation metrics', () => {
  it('when refunds settle and order events are consumed, then refunds_total and compensations_consumed_total count them', async () => {
    const metrics = createMetrics(new client.Registry());
    countRefund(metrics, 'succeeded');
    countRefund(metrics, 'succeeded');
    countRefund(metrics, 'refused');
    const consumed = compensationsConsumedCounter(metrics);
    consumed.inc({ outcome: 'cancellation' });
    consumed.inc({ outcome: 'refund' });
    consumed.inc({ outcome: 'duplicate' });
    consumed.inc({ outcome: 'duplicate', type: 'RefundRequested' });
    const text = await metrics.register.metrics();
    expect(text).toContain('refunds_total{outcome="succeeded"} 2');
    expect(text).toContain('refunds_total{outcome="refused"} 1');
    expect(text).toContain('compensations_consumed_total{type="OrderCancelled",outcome="cancellation"} 1');
    expect(text).toContain('compensations_consumed_total{type="RefundRequested",outcome="refund"} 1');
    expect(text).toContain('compensations_consumed_total{type="unknown",outcome="duplicate"} 1');
    expect(text).toContain('compensations_consumed_total{type="RefundRequested",outcome="duplicate"} 1');
  });
});
