import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.js';
import { childDatabaseUrl, createDatabase, createVhost, dropDatabase, dropRedisPrefix, type Isolated } from '../lib/isolation.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A shared PostgreSQL may be out of connections for a moment ("too many clients"): try again for a while. */
async function withRetries(fn: () => Promise<void>, tries = 20): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: string }).code !== '53300' || i >= tries) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * The tests' isolation (a database, a vhost, a Redis prefix of its own), made
 * so that a half-made setup is removed too: when the database cannot be made
 * (PostgreSQL out of connections, say) the vhost made beside it is deleted.
 * The tag starts with "bench" so a leftover is recognisable.
 */
export async function isolateBench(): Promise<Isolated> {
  const tag = `bench${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const queuePrefix = `{${tag}}`;
  const [db, vh] = await Promise.allSettled([createDatabase(tag), createVhost(tag)]);
  if (db.status === 'rejected' || vh.status === 'rejected') {
    await Promise.allSettled([withRetries(() => dropDatabase(`pay_${tag}`)), vh.status === 'fulfilled' ? vh.value.drop() : Promise.resolve()]);
    throw (db.status === 'rejected' ? db.reason : (vh as PromiseRejectedResult).reason) as Error;
  }
  return {
    tag,
    databaseUrl: db.value.url,
    amqpUrl: vh.value.url,
    vhost: vh.value.vhost,
    redisUrl: REDIS_URL,
    queuePrefix,
    // The benchmark's workers inherit QUEUE_SHARDS (and --worker-env) from its environment: bench.ts reads it.
    queueShards: loadConfig({ QUEUE_SHARDS: process.env.QUEUE_SHARDS }).QUEUE_SHARDS,
    env: { DATABASE_URL: childDatabaseUrl(db.value.url), AMQP_URL: vh.value.url, REDIS_URL, QUEUE_PREFIX: queuePrefix },
    async cleanup() {
      await Promise.allSettled([withRetries(() => db.value.drop()), vh.value.drop(), dropRedisPrefix(REDIS_URL, queuePrefix)]);
    },
  };
}
