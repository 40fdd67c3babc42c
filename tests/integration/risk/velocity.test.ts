import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuleFileScreen } from '../../../src/risk/rule-file.js';
import type { RiskSubject } from '../../../src/risk/risk.port.js';
import { velocityKey } from '../../../src/risk/velocity.js';
import { dropRedisPrefix } from '../../../scripts/lib/isolation.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('customer velocity (real Redis)', () => {
  const prefix = `{risk-test-${randomUUID().slice(0, 8)}}`;
  const rules = { customerVelocity: { max: 5, windowSeconds: 3600 } };
  let a: Redis;
  let b: Redis;

  beforeAll(() => {
    // Two connections and two screens: two worker processes.
    a = new Redis(REDIS_URL);
    b = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await dropRedisPrefix(REDIS_URL, prefix);
    a.disconnect();
    b.disconnect();
  });

  const subject = (customerId: string | null, orderId = randomUUID()): RiskSubject => ({
    orderId, paymentId: randomUUID(), customerId, paymentMethod: 'pm_card_visa', amountMinor: 4999n, currency: 'USD',
  });
  const screens = () => [createRuleFileScreen({ rules, redis: a, prefix }), createRuleFileScreen({ rules, redis: b, prefix })];

  it('when two processes screen one customer concurrently, then exactly max payments are allowed', async () => {
    const [one, two] = screens();
    const customer = `cus_${randomUUID()}`;
    const decisions = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? one! : two!).screen(subject(customer))));

    expect(decisions.filter((d) => d.decision === 'allow')).toHaveLength(5);
    expect(decisions.filter((d) => d.decision === 'block')).toEqual(
      Array(7).fill({ decision: 'block', rule: 'customerVelocity', reason: 'customerVelocity: more than 5 payments in 3600 s' }),
    );
  });

  it('when an order is screened again (a redelivery, a retried job), then it is counted once and keeps its answer', async () => {
    const [one, two] = screens();
    const customer = `cus_${randomUUID()}`;
    const first = subject(customer);
    for (let i = 0; i < 5; i++) expect(await one!.screen(i === 0 ? first : subject(customer))).toEqual({ decision: 'allow' });

    // The first order again, from the other process, after four more: still one of the five.
    expect(await two!.screen(first)).toEqual({ decision: 'allow' });
    expect(await two!.screen(first)).toEqual({ decision: 'allow' });
    expect(await a.zcard(velocityKey(prefix, customer))).toBe(5);

    const sixth = subject(customer);
    expect(await two!.screen(sixth)).toMatchObject({ decision: 'block' });
    expect(await one!.screen(sixth)).toMatchObject({ decision: 'block' });
    expect(await a.zcard(velocityKey(prefix, customer))).toBe(6);
    // Its retried job after later orders: the answer it had, not one counting those that came after it.
    expect(await one!.screen(first)).toEqual({ decision: 'allow' });
  });

  it('when orders are screened in the same millisecond, then each keeps its own place and its answer when screened again', async () => {
    const [one, two] = screens();
    const customer = `cus_${randomUUID()}`;
    const orders = Array.from({ length: 8 }, () => subject(customer));
    // Sent together on each connection: Redis runs them back to back, most within one millisecond of the clock.
    const first = await Promise.all(orders.map((o, i) => (i % 2 ? one! : two!).screen(o)));
    expect(first.filter((d) => d.decision === 'allow')).toHaveLength(5);

    const again = await Promise.all(orders.map((o, i) => (i % 2 ? two! : one!).screen(o)));
    expect(again).toEqual(first);
    expect(await a.zcard(velocityKey(prefix, customer))).toBe(orders.length);
  });

  it('when earlier payments are older than the window, then they no longer count and the key expires with the window', async () => {
    const [one] = screens();
    const customer = `cus_${randomUUID()}`;
    const key = velocityKey(prefix, customer);
    const longAgo = Date.now() - 3601 * 1000;
    for (let i = 0; i < 5; i++) await a.zadd(key, longAgo + i, `old-${i}`);

    expect(await one!.screen(subject(customer))).toEqual({ decision: 'allow' });
    expect(await a.zcard(key)).toBe(1);
    const ttl = await a.pttl(key);
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
  });

  it('when a payment has no customer, then it is never counted', async () => {
    const [one] = screens();
    const before = (await a.keys(`${prefix}:risk:velocity:*`)).length;
    for (let i = 0; i < 7; i++) expect(await one!.screen(subject(null))).toEqual({ decision: 'allow' });
    expect(await a.keys(`${prefix}:risk:velocity:*`)).toHaveLength(before);
  });

  it('when customers differ, then each has its own count', async () => {
    const strict = createRuleFileScreen({ rules: { customerVelocity: { max: 1, windowSeconds: 60 } }, redis: a, prefix });
    const x = `cus_${randomUUID()}`;
    const y = `cus_${randomUUID()}`;
    expect(await strict.screen(subject(x))).toEqual({ decision: 'allow' });
    expect(await strict.screen(subject(y))).toEqual({ decision: 'allow' });
    expect(await strict.screen(subject(x))).toMatchObject({ decision: 'block', reason: 'customerVelocity: more than 1 payments in 60 s' });
  });
});
