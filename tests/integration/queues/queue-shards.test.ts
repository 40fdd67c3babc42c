import { randomUUID } from 'node:crypto';
import type { Job, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPaymentSnapshot } from '../../../src/machines/payment.snapshot.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createPaymentsRepository, type PaymentsRepository } from '../../../src/persistence/payments.repository.js';
import { createChargeEnqueuer, createPaymentQueues, enqueueCharge, PAYMENTS_QUEUE, type ChargePaymentJob, type PaymentQueues } from '../../../src/queues/payments.queue.js';
import { shardOf, shardQueueName } from '../../../src/queues/queue-shards.js';
import type { PaymentJobResult } from '../../../src/workers/payment.processor.js';
import { createPaymentWorkers } from '../../../src/workers/payment.worker.js';
import { sweepUnfinished } from '../../../src/workers/recovery.sweeper.js';
import { dropRedisPrefix, isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { opsWorld, type OpsWorld } from '../../support/ops.fixtures.js';

const logger = pino({ level: 'silent' });

describe('payments over three queue shards (QUEUE_SHARDS=3, real Redis and PostgreSQL)', () => {
  let iso: Isolated;
  let knex: Knex;
  let redis: Redis;
  let payments: PaymentsRepository;
  const opened: PaymentQueues[] = [];
  const running: Worker[] = [];
  const orderIds = Array.from({ length: 90 }, () => randomUUID());

  beforeAll(async () => {
    iso = await isolate();
    knex = createKnex(iso.databaseUrl);
    payments = createPaymentsRepository(knex);
    redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    await Promise.all(running.map((w) => w.close()));
    await Promise.all(opened.flatMap((q) => q.shards.map((queue) => queue.close())));
    redis.disconnect();
    await knex.destroy();
    await iso.cleanup();
  });

  const open = (shards: number, prefix = iso.queuePrefix) => {
    const queues = createPaymentQueues({ connection: redis, prefix, shards, attempts: 1, backoffMs: 10, retentionS: 3600 });
    opened.push(queues);
    return queues;
  };
  const counts = (queues: PaymentQueues, ...states: Parameters<PaymentQueues['shards'][number]['getJobCounts']>) =>
    Promise.all(queues.shards.map(async (q) => Object.values(await q.getJobCounts(...states)).reduce((a, b) => a + b, 0)));

  /**
   * This process's workers for every shard. `done` resolves once every order's job has completed in the queue of
   * its shard, with the queues each order ran in (a copy left in a shard 0 that N kept also runs there).
   */
  function serve(queues: PaymentQueues, prefix: string, expected: string[]) {
    const ranIn = new Map<string, Set<string>>();
    const home = (id: string) => shardQueueName(PAYMENTS_QUEUE, shardOf(id, queues.shards.length));
    const workers = createPaymentWorkers({
      connection: redis,
      prefix,
      shards: queues.shards.length,
      concurrency: 6,
      processor: async (job: Job<ChargePaymentJob>) => {
        ranIn.set(job.data.orderId, (ranIn.get(job.data.orderId) ?? new Set()).add(job.queueName));
        return { status: 'Success' } as PaymentJobResult;
      },
    });
    running.push(...workers);
    const done = new Promise<Map<string, Set<string>>>((resolve) => {
      const left = new Set(expected.map((id) => `${home(id)}/${id}`));
      for (const w of workers) {
        w.on('completed', (job) => {
          left.delete(`${job.queueName}/${job.id}`);
          if (left.size === 0) resolve(ranIn);
        });
      }
    });
    for (const w of workers) void w.run();
    return { workers, done };
  }

  it('when charges are enqueued, then each lands in the queue of its order id\'s hash, and every shard gets some', async () => {
    const queues = open(3);
    const enqueue = createChargeEnqueuer(queues, false);
    await Promise.all(orderIds.map((id) => enqueue(id)));

    for (const id of orderIds) {
      const home = shardOf(id, 3);
      const found = await Promise.all(queues.shards.map((q) => q.getJob(id)));
      expect(found.map((job) => job !== undefined), `shards holding ${id}`).toEqual([0, 1, 2].map((k) => k === home));
    }
    const perShard = await counts(queues, 'waiting');
    expect(perShard.every((n) => n > 0)).toBe(true);
    expect(perShard.reduce((a, b) => a + b, 0)).toBe(orderIds.length);
  });

  it('when the same orders are enqueued again, in a batch or one by one, then no job is added: the order id still dedupes', async () => {
    const queues = open(3);
    const before = await counts(queues, 'waiting');
    const enqueue = createChargeEnqueuer(queues, false);
    await Promise.all([...orderIds.map((id) => enqueue(id)), ...orderIds.slice(0, 10).map((id) => enqueueCharge(queues, id))]);
    expect(await counts(queues, 'waiting')).toEqual(before);
  });

  it('when one process starts its payment workers, then they serve all three shards, the concurrency split among them', async () => {
    const queues = open(3);
    const { workers, done } = serve(queues, iso.queuePrefix, orderIds);
    expect(workers.map((w) => [w.name, w.opts.concurrency])).toEqual([['payments', 2], ['payments-1', 2], ['payments-2', 2]]);

    const ranIn = await done;
    for (const id of orderIds) expect(ranIn.get(id)).toEqual(new Set([shardQueueName(PAYMENTS_QUEUE, shardOf(id, 3))]));
    // Completed jobs are kept: a redelivered order is still absorbed by its job id.
    await Promise.all(orderIds.map((id) => enqueueCharge(queues, id)));
    expect(await counts(queues, 'waiting', 'active', 'delayed')).toEqual([0, 0, 0]);
    expect((await counts(queues, 'completed')).reduce((a, b) => a + b, 0)).toBe(orderIds.length);
  });

  it('when QUEUE_SHARDS goes from 3 to 2 with payments waiting, then the sweeper re-enqueues each one whose job is in no current shard, and all are charged', async () => {
    const prefix = `{${iso.tag}-resharded}`;
    const ids = Array.from({ length: 30 }, () => randomUUID());
    for (const orderId of ids) await insertInitiated(payments, orderId);
    const three = open(3, prefix);
    for (const id of ids) await enqueueCharge(three, id);
    const two = open(2, prefix);
    const stranded = [];
    for (const id of ids) if (!(await two.of(id).getJob(id))) stranded.push(id);
    // Shard 2 of 3 is served by nobody once N is 2: its orders are among the stranded.
    expect(stranded).toEqual(expect.arrayContaining(ids.filter((id) => shardOf(id, 3) === 2)));
    expect(ids.some((id) => shardOf(id, 3) === 2)).toBe(true);

    const result = await sweepUnfinished({ payments, queues: two, logger, metrics: createMetrics(), staleAfterMs: 0 });

    expect(result.rescued).toEqual({ missing_job: stranded.length });
    const { done } = serve(two, prefix, ids);
    const ranIn = await done;
    for (const id of ids) expect(ranIn.get(id)).toContain(shardQueueName(PAYMENTS_QUEUE, shardOf(id, 2)));
  });

  it('when the isolation is dropped, then no key of any shard is left behind', async () => {
    await Promise.all(running.splice(0).map((w) => w.close()));
    for (const prefix of [iso.queuePrefix, `{${iso.tag}-resharded}`]) await dropRedisPrefix(iso.redisUrl, prefix);
    expect(await redis.keys(`*${iso.tag}*`)).toEqual([]);
  });
});

async function insertInitiated(payments: PaymentsRepository, orderId: string): Promise<void> {
  const paymentId = randomUUID();
  const snapshot = createPaymentSnapshot({ orderId, paymentId, amountMinor: '500', currency: 'EUR', maxAttempts: 1 });
  await payments.insert({ id: paymentId, orderId, amount: '5.00', amountMinor: 500n, currency: 'EUR', customerId: null, paymentMethod: 'pm_card_visa', sourceEventId: randomUUID(), snapshot });
}

describe('the ops server over three shards (real Redis)', () => {
  let world: OpsWorld;
  const HTML = { accept: 'text/html' };
  beforeAll(async () => {
    world = await opsWorld({ shards: 3 });
  });
  afterAll(async () => {
    await world?.close();
  });

  it('when an operator opens Bull Board, then every shard\'s payments queue is listed, each job in its own shard', async () => {
    const names = ['payments', 'payments-1', 'payments-2'];
    const listedIn = new Map<string, string>();
    for (const name of names) {
      // The board sends the jobs of the queue it shows (activeQueue) only.
      const res = await world.server().inject({ url: `/admin/queues/api/queues?activeQueue=${name}&status=waiting&page=1&jobsPerPage=50` });
      expect(res.statusCode).toBe(200);
      const queues = res.json().queues as Array<{ name: string; jobs: Array<{ id: string }> }>;
      expect(queues.map((q) => q.name)).toEqual(names);
      for (const job of queues.find((q) => q.name === name)!.jobs) listedIn.set(job.id, name);
    }
    for (const p of Object.values(world.seeded)) expect(listedIn.get(p.orderId)).toBe(shardQueueName(PAYMENTS_QUEUE, shardOf(p.orderId, 3)));
  });

  it('when a payment\'s page links to its job, then the link names the job\'s shard', async () => {
    const { orderId } = world.seeded.retrying;
    const res = await world.server().inject({ url: `/payments/${orderId}`, headers: HTML });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(`/admin/queues/queue/${shardQueueName(PAYMENTS_QUEUE, shardOf(orderId, 3))}/${orderId}`);
  });

  it('when /metrics is scraped, then payment_queue_jobs counts the jobs of every shard', async () => {
    const res = await world.server().inject({ url: '/metrics' });
    expect(res.body).toMatch(new RegExp(`^payment_queue_jobs\\{state="waiting"\\} ${Object.keys(world.seeded).length}$`, 'm'));
  });
});
