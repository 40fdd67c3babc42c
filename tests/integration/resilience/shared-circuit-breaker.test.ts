import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharedCircuitBreaker, type BreakerState } from '../../../src/resilience/shared-circuit-breaker.js';
import { dropRedisPrefix } from '../../../scripts/lib/isolation.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('shared circuit breaker (real Redis)', () => {
  let redis: Redis;
  const prefix = `{breaker-test-${randomUUID().slice(0, 8)}}`;
  const opts = { failureThreshold: 5, failureRatio: 0.5, windowMs: 10_000, openMs: 300, probeTimeoutMs: 5_000, localCacheMs: 0 };

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await dropRedisPrefix(REDIS_URL, prefix);
    redis.disconnect();
  });

  /** Two breakers on one name: two worker processes. */
  function pair(name = randomUUID().slice(0, 8)) {
    const changes: BreakerState[] = [];
    const a = new SharedCircuitBreaker(redis, name, prefix, opts, (s) => changes.push(s));
    const b = new SharedCircuitBreaker(redis, name, prefix, opts);
    return { a, b, changes };
  }

  async function untilProbe(breaker: SharedCircuitBreaker) {
    const deadline = Date.now() + 5000;
    for (;;) {
      const permit = await breaker.acquire();
      if (permit.allowed) return permit;
      if (Date.now() > deadline) throw new Error('breaker never let a probe through');
      await new Promise((r) => setTimeout(r, Math.min(permit.retryInMs, 100)));
    }
  }

  it('when failures add up across processes, then it opens for every process after the threshold', async () => {
    const { a, b, changes } = pair();
    for (let i = 0; i < 2; i++) await a.recordFailure();
    for (let i = 0; i < 2; i++) await b.recordFailure();
    expect((await b.acquire()).allowed).toBe(true);
    await a.recordFailure();

    expect(changes).toEqual(['open']);
    expect(await a.acquire()).toMatchObject({ allowed: false });
    expect(await b.acquire()).toMatchObject({ allowed: false });
    expect(await b.state()).toBe('open');
  });

  it('when failures are a small share of a busy gateway calls, then it stays closed', async () => {
    const { a, b } = pair();
    for (let i = 0; i < 40; i++) await b.recordSuccess();
    for (let i = 0; i < 10; i++) await a.recordFailure();
    expect(await a.state()).toBe('closed');
    expect((await b.acquire()).allowed).toBe(true);
  });

  it('when the open time has passed, then exactly one caller probes, and its success closes the breaker', async () => {
    const { a, b, changes } = pair();
    for (let i = 0; i < 5; i++) await a.recordFailure();

    const probe = await untilProbe(a);
    expect(probe).toEqual({ allowed: true, probe: true });
    expect(await b.acquire()).toMatchObject({ allowed: false });
    await a.recordSuccess();

    expect(await b.acquire()).toEqual({ allowed: true, probe: false });
    expect(changes).toEqual(['open', 'half_open', 'closed']);
  });

  it('when the probe fails, then the breaker opens again at once', async () => {
    const { a, b } = pair();
    for (let i = 0; i < 5; i++) await a.recordFailure();
    await untilProbe(b);
    await b.recordFailure();
    expect(await a.acquire()).toMatchObject({ allowed: false });
    expect(await a.state()).toBe('open');
  });

  it('when half-open with several probes allowed, then that many callers probe and the rest wait', async () => {
    const name = randomUUID().slice(0, 8);
    const a = new SharedCircuitBreaker(redis, name, prefix, { ...opts, halfOpenProbes: 3 });
    const b = new SharedCircuitBreaker(redis, name, prefix, { ...opts, halfOpenProbes: 3 });
    for (let i = 0; i < 5; i++) await a.recordFailure();
    expect(await untilProbe(a)).toEqual({ allowed: true, probe: true });
    expect(await b.acquire()).toEqual({ allowed: true, probe: true });
    expect(await a.acquire()).toEqual({ allowed: true, probe: true });
    expect(await b.acquire()).toMatchObject({ allowed: false });
    expect(await a.state()).toBe('half_open');
  });

  it('when fewer probes fail than are allowed, then it stays half-open, and one success among them closes it', async () => {
    const name = randomUUID().slice(0, 8);
    const changes: BreakerState[] = [];
    const a = new SharedCircuitBreaker(redis, name, prefix, { ...opts, halfOpenProbes: 3 }, (s) => changes.push(s));
    for (let i = 0; i < 5; i++) await a.recordFailure();
    await untilProbe(a);
    await a.acquire();
    expect(await a.recordFailure(), 'the first failed probe does not reopen it').toBe(false);
    expect(await a.state()).toBe('half_open');
    await a.recordSuccess();
    expect(await a.state()).toBe('closed');
    expect(await a.acquire()).toEqual({ allowed: true, probe: false });
    expect(changes).toEqual(['open', 'half_open', 'half_open', 'closed']);
  });

  it('when every allowed probe fails, then it opens again, and a late failure while open keeps it open', async () => {
    const name = randomUUID().slice(0, 8);
    const a = new SharedCircuitBreaker(redis, name, prefix, { ...opts, halfOpenProbes: 3 });
    for (let i = 0; i < 5; i++) await a.recordFailure();
    await untilProbe(a);
    await a.acquire();
    await a.acquire();
    expect(await a.recordFailure()).toBe(false);
    expect(await a.recordFailure()).toBe(false);
    expect(await a.recordFailure(), 'the third failed probe reopens it').toBe(true);
    expect(await a.state()).toBe('open');
    expect(await a.recordFailure(), 'a late failure while open').toBe(true);
    expect(await a.acquire()).toMatchObject({ allowed: false });
    expect(await untilProbe(a), 'the next half-open period lets probes through again').toEqual({ allowed: true, probe: true });
  });

  it('when a process trusted a quiet breaker locally, then it still sees another process open it within the cache time', async () => {
    const name = randomUUID().slice(0, 8);
    const cached = new SharedCircuitBreaker(redis, name, prefix, { ...opts, localCacheMs: 150 });
    const other = new SharedCircuitBreaker(redis, name, prefix, opts);
    expect((await cached.acquire()).allowed).toBe(true);
    for (let i = 0; i < 5; i++) await other.recordFailure();

    const deadline = Date.now() + 2000;
    let permit = await cached.acquire();
    while (permit.allowed && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      permit = await cached.acquire();
    }
    expect(permit.allowed).toBe(false);
  });
});
