import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { keySlot } from '../../../src/queues/queue-shards.js';
import { createRedis, mastersOf, redisErrorOf, type RedisClient } from '../../../src/redis.js';
import { startRedisCluster, type RedisCluster } from '../../support/redis-cluster.js';

// Characters a URL must carry percent-encoded: the test goes through the same parsing as the service.
const PASSWORD = `pw@/,${randomBytes(4).toString('hex')}`;
const entry = (host: string, port: number, password?: string) => `redis://${password === undefined ? '' : `:${encodeURIComponent(password)}@`}${host}:${port}`;

/** Fails the test instead of letting it hang when `promise` neither resolves nor rejects in time. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('a Redis Cluster with requirepass and masterauth (3 masters, 1 replica each)', () => {
  let cluster: RedisCluster;
  const clients: RedisClient[] = [];
  const connect = async (nodes: string) => {
    const redis = createRedis(loadConfig({ REDIS_CLUSTER_NODES: nodes }), { lazyConnect: true });
    clients.push(redis);
    return redis;
  };

  // Healthy means every replica has synced: that takes masterauth.
  beforeAll(async () => {
    cluster = await startRedisCluster({ password: PASSWORD });
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await cluster?.stop();
  });

  it('when REDIS_CLUSTER_NODES carries the password, then keys are written and read on every master and a BullMQ job is added', async () => {
    const first = cluster.servers[0]!;
    // One entry only: the other masters come from the slot map, so their connections authenticate with the options, not the entry.
    const redis = await connect(entry(first.host, first.port, PASSWORD));
    await within(10_000, 'connecting with the password', redis.connect());

    const masters = await cluster.masters();
    const tag = randomBytes(4).toString('hex');
    const keys = masters.map((m) => keyServedBy(m.slots, `auth-${tag}`));
    for (const key of keys) await redis.set(key, `value of ${key}`, 'EX', 300);
    expect(await Promise.all(keys.map((key) => redis.get(key)))).toEqual(keys.map((key) => `value of ${key}`));
    expect(new Set(await Promise.all(keys.map(async (key) => (await cluster.masterOf(key)).port)))).toEqual(new Set(masters.map((m) => m.port)));
    expect(await Promise.all(mastersOf(redis).map((node) => node.ping()))).toEqual(['PONG', 'PONG', 'PONG']);

    const queue = new Queue('auth-check', { connection: redis, prefix: `{auth${tag}}` });
    try {
      const job = await queue.add('ChargePayment', { orderId: tag }, { jobId: tag });
      expect((await queue.getJob(job.id!))?.data).toEqual({ orderId: tag });
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  }, 30_000);

  it.each([
    ['no password', undefined, /NOAUTH/],
    ['a wrong password', `${PASSWORD}-wrong`, /WRONGPASS/],
  ])('when REDIS_CLUSTER_NODES has %s, then connecting fails with the node\'s auth error instead of waiting', async (_, password, answer) => {
    const redis = await connect(cluster.servers.map((s) => entry(s.host, s.port, password)).join(','));
    const firstError = once(redis, 'error') as Promise<[Error & { lastNodeError?: Error }]>;
    redis.on('error', () => {}); // it goes on retrying until disconnected: the later errors repeat the first
    await expect(within(10_000, 'connecting', redis.connect())).rejects.toThrow(/None of startup nodes is available/);
    const [error] = await within(1_000, 'the error event', firstError);
    expect(error.lastNodeError?.message).toMatch(answer);
    // What the service logs: the node's answer, never the password.
    expect(redisErrorOf(error)).toMatch(new RegExp(`^Failed to refresh slots cache.*${answer.source}`));
    expect(redisErrorOf(error)).not.toContain(PASSWORD);
  }, 20_000);
});

/** A key whose hash slot lies in `slots`: one per master makes every master answer. */
function keyServedBy(slots: Array<[number, number]>, base: string): string {
  for (let i = 0; i < 100_000; i++) {
    const key = `${base}-${i}`;
    const slot = keySlot(key);
    if (slots.some(([from, to]) => slot >= from && slot <= to)) return key;
  }
  throw new Error(`no key of ${base}-N falls in ${JSON.stringify(slots)}`);
}
