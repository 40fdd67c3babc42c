import client from 'prom-client';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { describe, expect, it } from 'vitest';
import { createDependencyChecks } from '../../src/health.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { AmqpConnection } from '../../src/queues/amqp-connection.js';

const never = () => new Promise<never>(() => {});
const knexAnswering = (answers: boolean) => ({ raw: () => (answers ? Promise.resolve([{ '?column?': 1 }]) : never()) }) as unknown as Knex;
const redisAnswering = (answers: boolean) => ({ status: 'ready', ping: () => (answers ? Promise.resolve('PONG') : never()) }) as unknown as Redis;
const amqpUp = { isUp: () => true } as unknown as AmqpConnection;

async function dependencyUp(metrics: ReturnType<typeof createMetrics>): Promise<Record<string, number>> {
  return Object.fromEntries((await metrics.connectionState.get()).values.map((v) => [v.labels.dependency, v.value]));
}

describe('dependency checks (dependency_up, scraped for PostgresDown)', () => {
  it('when PostgreSQL hangs, then its probe gives up within the probe timeout and dependency_up says 0, the others 1', async () => {
    const metrics = createMetrics(new client.Registry());
    const checks = createDependencyChecks({ knex: knexAnswering(false), redis: redisAnswering(true), amqp: amqpUp, metrics, probeTimeoutMs: 50 });

    const started = Date.now();
    const result = await checks();

    expect(Date.now() - started).toBeLessThan(1000);
    expect(result.postgres).toEqual({ ok: false, detail: 'PostgreSQL: the probe gave no answer within 50 ms' });
    expect(await dependencyUp(metrics)).toEqual({ postgres: 0, redis: 1, rabbitmq: 1 });
  });

  it('when Redis hangs, then dependency_up is set before the breakers are read from it, and says 0 for Redis', async () => {
    const metrics = createMetrics(new client.Registry());
    const breakers = [{ name: 'primary', state: never }];
    const checks = createDependencyChecks({ knex: knexAnswering(true), redis: redisAnswering(false), amqp: amqpUp, metrics, breakers, probeTimeoutMs: 50 });

    void checks(); // the breaker read never ends, as a command to a hung Redis would not
    await expect.poll(() => dependencyUp(metrics), { timeout: 1000, interval: 10 }).toEqual({ postgres: 1, redis: 0, rabbitmq: 1 });
  });
});
