import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dropRedisPrefix } from '../../../scripts/lib/isolation.js';
import { eventually } from '../../../scripts/lib/processes.js';
import { tryLock, type HeldLock } from '../../../src/reconciliation/pass-lock.js';

/** One reconciliation pass at a time across processes (real Redis): each test has its own key under this file's prefix. */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `{t${randomBytes(4).toString('hex')}}`;
let n = 0;
const newKey = () => `${PREFIX}:reconcile:lock:${++n}`;

describe('reconciliation pass lock (real Redis)', () => {
  let a: Redis;
  let b: Redis;
  const held: HeldLock[] = [];
  const lock = async (redis: Redis, key: string, ttlMs: number) => {
    const l = await tryLock(redis, key, ttlMs);
    if (l) held.push(l);
    return l;
  };

  beforeAll(() => {
    a = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    b = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  });
  afterEach(async () => {
    await Promise.all(held.splice(0).map((l) => l.release()));
  });
  afterAll(async () => {
    a.disconnect();
    b.disconnect();
    await dropRedisPrefix(REDIS_URL, PREFIX);
  });

  it('when one process holds it, then another cannot take it, and when it is released the next one can', async () => {
    const key = newKey();
    const first = await lock(a, key, 30_000);
    expect(first?.held()).toBe(true);
    expect(await lock(b, key, 30_000)).toBeUndefined();
    expect(await lock(a, key, 30_000)).toBeUndefined(); // not re-entrant: a second pass in the same process waits too

    await first!.release();
    expect(first!.held()).toBe(false);
    expect(await a.exists(key)).toBe(0);
    expect((await lock(b, key, 30_000))?.held()).toBe(true);
  });

  it('when a pass outlives its time to live, then the holder renews it and no one else gets in', async () => {
    const key = newKey();
    const ttlMs = 300;
    const t0 = Date.now();
    const holder = await lock(a, key, ttlMs);
    const token = await a.get(key);
    await eventually('the key still the holder\'s two TTLs later', async () => (Date.now() - t0 > 2 * ttlMs && (await a.get(key)) === token ? true : undefined), 3_000, 50);
    expect(holder!.held()).toBe(true);
    expect(await lock(b, key, ttlMs)).toBeUndefined();
  });

  it('when the holder\'s Redis connection is gone (its process died), then the lock expires after its TTL and another process takes it', async () => {
    const key = newKey();
    const dying = new Redis(REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true });
    await dying.connect();
    const ttlMs = 600;
    const holder = await tryLock(dying, key, ttlMs);
    expect(holder).toBeDefined();
    held.push(holder!); // released after the test: its renewals stop
    const cut = Date.now();
    dying.disconnect();

    expect(await lock(b, key, 30_000)).toBeUndefined(); // not before its TTL: a blip does not hand the pass over
    const taken = await eventually('the lock taken by another process', () => lock(b, key, 30_000), 5_000, 50);
    expect(Date.now() - cut).toBeGreaterThanOrEqual(ttlMs - 50);
    expect(taken.held()).toBe(true);
    // The cut-off holder knows it lost the lock (its pass stops at the next page) though it could not ask Redis.
    expect(holder!.held()).toBe(false);
  });

  it('when a holder whose lock expired releases it, then the new holder\'s lock is not deleted', async () => {
    const key = newKey();
    const stale = await lock(a, key, 30_000);
    await a.del(key); // its time to live ran out while it was stalled
    const next = await lock(b, key, 30_000);
    expect(next).toBeDefined();
    const token = await b.get(key);

    await stale!.release();

    expect(await b.get(key)).toBe(token);
    expect(next!.held()).toBe(true);
    expect(await lock(a, key, 30_000)).toBeUndefined();
  });
});
