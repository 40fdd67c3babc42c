import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker, type Queue } from 'bullmq';
import { applyPaymentEvent, createPaymentSnapshot } from '../../../src/machines/payment.snapshot.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createPaymentsRepository, type PaymentsRepository } from '../../../src/persistence/payments.repository.js';
import { advance } from '../../../src/workers/payment-transitions.js';
import { createPaymentQueues, enqueueCharge, PAYMENTS_QUEUE, type ChargePaymentJob, type PaymentQueues } from '../../../src/queues/payments.queue.js';
import { sweepUnfinished } from '../../../src/workers/recovery.sweeper.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { createCompensationsRepository } from '../../../src/persistence/compensations.repository.js';
import { CANCEL_ORDER_JOB, cancelJobId, COMPENSATIONS_QUEUE, createCompensationQueues, refundJobId } from '../../../src/queues/compensations.queue.js';

describe('recovery sweeper (real PostgreSQL and Redis)', () => {
  let iso: Isolated;
  let knex: Knex;
  let redis: Redis;
  let payments: PaymentsRepository;
  let queues: PaymentQueues;
  let queue: Queue<ChargePaymentJob>;
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    iso = await isolate();
    knex = createKnex(iso.databaseUrl);
    payments = createPaymentsRepository(knex);
    redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
    queues = createPaymentQueues({ connection: redis, prefix: iso.queuePrefix, shards: 1, attempts: 1, backoffMs: 10, retentionS: 3600 });
    queue = queues.shards[0]!;
  });
  afterAll(async () => {
    await queue.close();
    redis.disconnect();
    await knex.destroy();
    await iso.cleanup();
  });

  async function newPayment(status: 'Initiated' | 'Success' = 'Initiated') {
    const orderId = randomUUID();
    const paymentId = randomUUID();
    let snapshot = createPaymentSnapshot({ orderId, paymentId, amountMinor: '500', currency: 'EUR', maxAttempts: 1 });
    if (status === 'Success') {
      snapshot = applyPaymentEvent(applyPaymentEvent(snapshot, { type: 'START' }).snapshot, { type: 'CHARGE_SUCCEEDED', transactionId: 'pi_x', gateway: 'stripe' }).snapshot;
    }
    await payments.insert({ id: paymentId, orderId, amount: '5.00', amountMinor: 500n, currency: 'EUR', customerId: null, paymentMethod: 'pm_card_visa', sourceEventId: randomUUID(), snapshot });
    return orderId;
  }

  const sweep = (metrics = createMetrics()) => sweepUnfinished({ payments, queues, logger, metrics, staleAfterMs: 0 });

  it('when Redis lost a payment job, then the sweeper enqueues it again under the same job id', async () => {
    const orderId = await newPayment();

    const result = await sweep();

    expect(result.rescued.missing_job).toBeGreaterThanOrEqual(1);
    const job = await queue.getJob(orderId);
    expect(job?.data).toEqual({ orderId });
    expect(await job?.getState()).toBe('waiting');
  });

  it('when a job failed (stalled too often, attempts spent on an unsettled charge), then it is retried from scratch', async () => {
    const orderId = await newPayment();
    await enqueueCharge(queues, orderId);
    const failing = new Worker<ChargePaymentJob>(PAYMENTS_QUEUE, async () => {
      throw new Error('job stalled more than allowable limit');
    }, { connection: redis, prefix: iso.queuePrefix, autorun: false });
    const failed = new Promise<void>((resolve) => failing.on('failed', (job) => job?.id === orderId && resolve()));
    void failing.run();
    await failed;
    await failing.close();
    expect(await (await queue.getJob(orderId))?.getState()).toBe('failed');

    const metrics = createMetrics();
    await sweep(metrics);

    const job = await queue.getJob(orderId);
    expect(await job?.getState()).toBe('waiting');
    expect(job?.attemptsMade).toBe(0);
    expect((await metrics.sweeperRescues.get()).values.some((v) => v.labels.reason === 'failed_job' && v.value >= 1)).toBe(true);
  });

  it('when a payment has a live job or is settled, then the sweeper leaves it alone', async () => {
    const live = await newPayment();
    await enqueueCharge(queues, live);
    const settled = await newPayment('Success');
    const before = await queue.getJob(live);

    await sweep();

    const after = await queue.getJob(live);
    expect(after?.timestamp).toBe(before?.timestamp);
    expect(await queue.getJob(settled)).toBeUndefined();
  });

  it('when a listed payment is settled before the sweeper looks at its completed job, then the sweeper leaves the job and the payment alone', async () => {
    const orderId = await newPayment();
    const listed = (await payments.findByOrderId(orderId))!;
    await enqueueCharge(queues, orderId);
    // The job completes the payment between the sweeper's list and its look at the job.
    const worker = new Worker<ChargePaymentJob>(PAYMENTS_QUEUE, async (job) => {
      if (job.id !== orderId) return; // other tests' jobs share this queue
      const started = (await advance(payments, listed, { type: 'START' })).payment;
      await advance(payments, started, { type: 'CHARGE_SUCCEEDED', transactionId: 'pi_race', gateway: 'stripe' });
    }, { connection: redis, prefix: iso.queuePrefix, autorun: false });
    const completed = new Promise<void>((resolve) => worker.on('completed', (job) => job.id === orderId && resolve()));
    void worker.run();
    await completed;
    await worker.close();
    const job = await queue.getJob(orderId);
    expect(await job?.getState()).toBe('completed');

    const metrics = createMetrics();
    const stale = { ...payments, findUnfinished: async () => [listed] };
    const result = await sweepUnfinished({ payments: stale, queues, logger, metrics, staleAfterMs: 0 });

    expect(result.rescued).toEqual({});
    expect(await (await queue.getJob(orderId))?.getState()).toBe('completed');
    expect((await payments.findByOrderId(orderId))?.status).toBe('Success');
  });

  it('when a cancellation is unanswered and a refund open with no job, or with a failed or completed one, then each is asked for again', async () => {
    const compensations = createCompensationsRepository(knex);
    const compensationQueues = createCompensationQueues({ connection: redis, prefix: iso.queuePrefix, shards: 1, attempts: 1, backoffMs: 10, retentionS: 3600 });
    const compensationsQueue = compensationQueues.shards[0]!;
    try {
      const lost = randomUUID();
      await compensations.recordCancellation({ orderId: lost, sourceEventId: randomUUID(), reason: 'lost job' });
      const failed = randomUUID();
      await compensations.recordCancellation({ orderId: failed, sourceEventId: randomUUID(), reason: 'failed job' });
      await compensationsQueue.add(CANCEL_ORDER_JOB, { orderId: failed }, { jobId: cancelJobId(failed), attempts: 1 });
      const refundId = randomUUID();
      const refundOrder = randomUUID();
      await compensations.insertRefund({ id: refundId, orderId: refundOrder, paymentId: null, amountMinor: 100n, amount: '1.00', currency: 'EUR', reason: 'r', sourceEventId: randomUUID() });
      await compensations.recordCancellation({ orderId: refundOrder, sourceEventId: randomUUID(), reason: 'answered' });
      await compensations.markCancellationAnswered(refundOrder);

      // Fail the one job, as attempts running out would.
      const failer = new Worker(COMPENSATIONS_QUEUE, async () => { throw new Error('gave up'); }, { connection: redis, prefix: iso.queuePrefix });
      await new Promise<void>((resolve) => failer.on('failed', () => resolve()));
      await failer.close();

      const result = await sweepUnfinished({ payments, queues, compensations, compensationQueues, logger, metrics: createMetrics(), staleAfterMs: 0 });

      expect(result.rescued).toMatchObject({ compensation_missing_job: 2, compensation_failed_job: 1 });
      expect(await (await compensationsQueue.getJob(cancelJobId(lost)))?.getState()).toBe('waiting');
      expect(await (await compensationsQueue.getJob(cancelJobId(failed)))?.getState()).toBe('waiting');
      expect((await compensationsQueue.getJob(refundJobId(refundId)))?.data).toEqual({ refundId, orderId: refundOrder });
      // An answered cancellation is left alone.
      expect(await compensationsQueue.getJob(cancelJobId(refundOrder))).toBeUndefined();
    } finally {
      await compensationsQueue.obliterate({ force: true });
      await compensationsQueue.close();
    }
  });
});

