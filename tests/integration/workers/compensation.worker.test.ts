import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { CANCEL_ORDER_JOB, cancelJobId, cappedBackoff, createCompensationsQueue, type CompensationsQueue } from '../../../src/queues/compensations.queue.js';
import { createCompensationWorker } from '../../../src/workers/compensation.worker.js';

describe('the compensation worker (real Redis)', () => {
  let iso: Isolated;
  let redis: Redis;
  let queue: CompensationsQueue;

  beforeAll(async () => {
    iso = await isolate();
    redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
    queue = createCompensationsQueue({ connection: redis, prefix: iso.queuePrefix, attempts: 1, backoffMs: 200, retentionS: 3600 });
  });
  afterAll(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
    await iso.cleanup();
  });

  it('when a compensation job fails for now, then it is retried after the capped backoff, not failed for good', async () => {
    const orderId = randomUUID();
    const worker = createCompensationWorker({
      connection: redis,
      prefix: iso.queuePrefix,
      concurrency: 1,
      backoffMs: 200,
      processor: async () => {
        throw new Error('waiting for the charge to settle');
      },
    });
    const failedOnce = new Promise<void>((resolve) => worker.once('failed', () => resolve()));
    void worker.run();
    try {
      await queue.add(CANCEL_ORDER_JOB, { orderId }, { jobId: cancelJobId(orderId) });
      await failedOnce;
      const job = (await queue.getJob(cancelJobId(orderId)))!;
      expect(await job.getState()).toBe('delayed');
      // The first retry waits between half and all of the base delay (jitter).
      expect(job.delay).toBeGreaterThanOrEqual(100);
      expect(job.delay).toBeLessThanOrEqual(200);
    } finally {
      await worker.close();
    }
  });

  it('when a job has failed many times, then the wait between tries stops growing at 30 s', () => {
    for (let attempts = 1; attempts <= 40; attempts++) expect(cappedBackoff(attempts, 500)).toBeLessThanOrEqual(30_000);
    expect(cappedBackoff(30, 500)).toBeGreaterThanOrEqual(15_000);
    expect(cappedBackoff(1, 500)).toBeLessThanOrEqual(500);
  });
});
