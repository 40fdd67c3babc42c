import { randomBytes, randomUUID } from 'node:crypto';
import type { Worker } from 'bullmq';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createChargeEnqueuer, createPaymentQueues, type PaymentQueues } from '../../../src/queues/payments.queue.js';
import { keySlot, shardPrefixes } from '../../../src/queues/queue-shards.js';
import { createRedis, type RedisClient } from '../../../src/redis.js';
import { reconcileLockKey } from '../../../src/reconciliation/wiring.js';
import { tryLock } from '../../../src/reconciliation/pass-lock.js';
import { SharedCircuitBreaker } from '../../../src/resilience/shared-circuit-breaker.js';
import { countInWindow } from '../../../src/risk/velocity.js';
import type { PaymentJobResult } from '../../../src/workers/payment.processor.js';
import { createPaymentWorkers } from '../../../src/workers/payment.worker.js';
import { startWorkerStandby } from '../../../src/workers/worker-standby.js';
import { dropRedisPrefix } from '../../../scripts/lib/isolation.js';
import { startRedisCluster, type RedisCluster } from '../../support/redis-cluster.js';

/** Every Redis user of the service, on a real cluster: each multi-key script and transaction must stay in one slot. */
describe('the service\'s Redis users on a local 3-master Redis Cluster (QUEUE_SHARDS=3)', () => {
  let cluster: RedisCluster;
  let redis: RedisClient;
  let queues: PaymentQueues;
  let workers: Worker[] = [];
  const prefix = `{cl${randomBytes(4).toString('hex')}}`;
  const target = () => ({ REDIS_URL: 'redis://unused', REDIS_CLUSTER_NODES: cluster.servers });

  beforeAll(async () => {
    cluster = await startRedisCluster();
    redis = createRedis(target(), { lazyConnect: true });
    await redis.connect();
    queues = createPaymentQueues({ connection: redis, prefix, shards: 3, attempts: 1, backoffMs: 10, retentionS: 3600 });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all(queues?.shards.map((q) => q.close()) ?? []);
    redis?.disconnect();
    await cluster?.stop();
  });

  it('when payments run through three shards, then each shard is on its own master and every job completes', async () => {
    const orderIds = Array.from({ length: 150 }, () => randomUUID());
    const completed = new Set<string>();
    workers = createPaymentWorkers({ connection: redis, prefix, shards: 3, concurrency: 6, processor: async () => ({ status: 'Success' }) as PaymentJobResult });
    for (const w of workers) {
      w.on('completed', (job) => completed.add(job.id!));
      void w.run();
    }
    const enqueue = createChargeEnqueuer(queues, false);
    await Promise.all(orderIds.map((id) => enqueue(id)));

    await vi.waitFor(() => expect(completed.size).toBe(orderIds.length), { timeout: 20_000, interval: 50 });
    const masters = await cluster.masters();
    const ownerOf = (slot: number) => masters.find((m) => m.slots.some(([from, to]) => slot >= from && slot <= to))?.port;
    expect(new Set(shardPrefixes(prefix, 3).map((p) => ownerOf(keySlot(p))))).toEqual(new Set(masters.map((m) => m.port)));
    expect((await cluster.keysPerMaster()).every(({ keys }) => keys > 0)).toBe(true);
  }, 30_000);

  it('when the breaker, risk velocity and the reconciliation lock run their scripts, then the cluster accepts each', async () => {
    const breaker = new SharedCircuitBreaker(redis, 'primary', prefix, { failureThreshold: 2, failureRatio: 0.5, windowMs: 10_000, openMs: 5_000, probeTimeoutMs: 1_000 });
    expect(await breaker.acquire()).toEqual({ allowed: true, probe: false });
    await breaker.recordFailure();
    expect(await breaker.recordFailure()).toBe(true);
    expect(await breaker.state()).toBe('open');

    expect(await countInWindow(redis, prefix, 'cus_1', randomUUID(), 60)).toBe(1);
    expect(await countInWindow(redis, prefix, 'cus_1', randomUUID(), 60)).toBe(2);

    const lock = await tryLock(redis, reconcileLockKey(prefix), 5_000);
    expect(lock?.held()).toBe(true);
    expect(await tryLock(redis, reconcileLockKey(prefix), 5_000)).toBeUndefined();
    await lock!.release();
  });

  it('when the worker standby reads every shard\'s waiting jobs and another process\'s heartbeat, then it stands by', async () => {
    await redis.set(workers[0]!.toKey('input-holder'), 'other|0|6', 'PX', 10_000);
    const standby = startWorkerStandby({
      workers,
      redis,
      id: 'this',
      concurrency: 6,
      lastInputAt: () => 0,
      inFlight: () => 0,
      logger: pino({ level: 'silent' }),
      pollMs: 10,
      readMs: 10,
      policy: { idleMs: 50 },
    });
    try {
      // Standing by needs every reading to succeed: one refused transaction (CROSSSLOT) reads as "Redis unreadable" and keeps it working.
      await vi.waitFor(() => expect(standby.standingBy()).toBe(true), { timeout: 5_000, interval: 20 });
    } finally {
      await standby.stop();
    }
  });

  it('when the prefix is dropped, then no key of any shard is left on any master', async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
    await dropRedisPrefix({ redisUrl: 'redis://unused', redisClusterNodes: cluster.servers }, prefix);
    expect((await cluster.keysPerMaster()).map(({ keys }) => keys)).toEqual([0, 0, 0]);
  });
});
