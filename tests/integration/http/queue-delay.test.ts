import { randomUUID } from 'node:crypto';
import client from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readySince, refreshQueueDelay } from '../../../src/http/metrics.routes.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { CHARGE_JOB } from '../../../src/queues/payments.queue.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { paymentsQueue } from '../../support/ops.fixtures.js';

/** payment_queue_oldest_waiting_seconds, which PaymentQueueDelayHigh alerts on, read from a real BullMQ queue. */
describe('queue delay gauge (real Redis)', () => {
  let iso: Isolated;
  let world: ReturnType<typeof paymentsQueue>;
  beforeAll(async () => {
    iso = await isolate();
    world = paymentsQueue(iso);
  });
  afterAll(async () => {
    await world.queue.close();
    world.redis.disconnect();
    await iso.cleanup();
  });

  const gauge = async (metrics: ReturnType<typeof createMetrics>) => (await metrics.queueOldestWaiting.get()).values[0]?.value;

  it('when nothing waits, then the gauge is 0', async () => {
    const metrics = createMetrics(new client.Registry());
    await refreshQueueDelay(metrics, world.queues.shards);
    expect(await gauge(metrics)).toBe(0);
  });

  it('when jobs wait, then the gauge is the age of the one a worker takes next: the first added, not the last', async () => {
    const now = Date.now();
    await world.queue.add(CHARGE_JOB, { orderId: randomUUID() }, { timestamp: now - 90_000 });
    await world.queue.add(CHARGE_JOB, { orderId: randomUUID() }, { timestamp: now - 5_000 });
    const metrics = createMetrics(new client.Registry());

    await refreshQueueDelay(metrics, world.queues.shards, now);

    expect(await gauge(metrics)).toBe(90);
  });

  it('when jobs wait in several shards, then the gauge is the age of the oldest head of any shard', async () => {
    // A prefix of its own: shard 0 of the isolation's prefix is the queue the tests above filled.
    const sharded = paymentsQueue({ ...iso, queuePrefix: `{${iso.tag}-sharded}` }, 3);
    try {
      const now = Date.now();
      const [fresh, old] = [randomUUID(), randomUUID()];
      await sharded.queues.shards[0]!.add(CHARGE_JOB, { orderId: fresh }, { jobId: fresh, timestamp: now - 2_000 });
      await sharded.queues.shards[2]!.add(CHARGE_JOB, { orderId: old }, { jobId: old, timestamp: now - 40_000 });
      const metrics = createMetrics(new client.Registry());

      await refreshQueueDelay(metrics, sharded.queues.shards, now);

      expect(await gauge(metrics)).toBe(40);
    } finally {
      await Promise.all(sharded.queues.shards.map((q) => q.obliterate({ force: true })));
      await Promise.all(sharded.queues.shards.map((q) => q.close()));
      sharded.redis.disconnect();
    }
  });

  it('when a job was retried, then it waits from the end of its backoff, not from when it was created', () => {
    expect(readySince({ timestamp: 1_000, processedOn: undefined, delay: 0 })).toBe(1_000);
    expect(readySince({ timestamp: 1_000, processedOn: undefined, delay: 500 })).toBe(1_500);
    // Created at 1 s, last taken at 60 s, then delayed 32 s by its backoff: ready from 92 s.
    expect(readySince({ timestamp: 1_000, processedOn: 60_000, delay: 32_000 })).toBe(92_000);
  });
});
