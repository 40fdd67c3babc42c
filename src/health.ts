import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { DependencyHealth, HealthChecks } from './http/health.routes.js';
import type { Metrics } from './observability/metrics.js';
import type { AmqpConnection } from './queues/amqp-connection.js';
import type { BreakerState } from './resilience/shared-circuit-breaker.js';

export interface DependencyChecksDeps {
  knex: Knex;
  redis: Redis;
  amqp: AmqpConnection;
  metrics: Metrics;
  /** Gateway breakers: open means degraded (jobs wait), not down. */
  breakers?: Array<{ name: string; state(): Promise<BreakerState> }>;
}

async function probe(name: string, fn: () => Promise<unknown>): Promise<DependencyHealth> {
  try {
    await fn();
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: `${name}: ${(err as Error).message}` };
  }
}

/** The readiness checks of CONTRACT.md §6: each store answers, or says why not. */
export function createDependencyChecks(d: DependencyChecksDeps): HealthChecks {
  return async () => {
    const [postgres, redis] = await Promise.all([
      probe('PostgreSQL', () => d.knex.raw('select 1')),
      probe('Redis', async () => {
        if (d.redis.status !== 'ready') throw new Error(`connection is ${d.redis.status}`);
        await d.redis.ping();
      }),
    ]);
    const rabbitmq: DependencyHealth = d.amqp.isUp() ? { ok: true } : { ok: false, detail: 'RabbitMQ: not connected; reconnecting' };
    const checks: Record<string, DependencyHealth> = { postgres, redis, rabbitmq };
    for (const b of d.breakers ?? []) {
      const state = await b.state().catch(() => 'closed' as const);
      d.metrics.breakerState.set({ gateway: b.name }, state === 'open' ? 2 : state === 'half_open' ? 1 : 0);
      checks[`gateway:${b.name}`] = state === 'closed' ? { ok: true } : { ok: true, degraded: true, detail: `circuit ${state}` };
    }
    for (const [name, h] of Object.entries({ postgres, redis, rabbitmq })) d.metrics.connectionState.set({ dependency: name }, h.ok ? 1 : 0);
    return checks;
  };
}
