import type { RedisClient } from './redis.js';
import type { Knex } from 'knex';
import { withTimeout, type DependencyHealth, type HealthChecks } from './http/health.routes.js';
import type { Metrics } from './observability/metrics.js';
import type { AmqpConnection } from './queues/amqp-connection.js';
import type { BreakerState } from './resilience/shared-circuit-breaker.js';

export interface DependencyChecksDeps {
  knex: Knex;
  redis: RedisClient;
  amqp: AmqpConnection;
  metrics: Pick<Metrics, 'connectionState' | 'breakerState'>;
  /** Gateway breakers: open means degraded (jobs wait), not down. */
  breakers?: Array<{ name: string; state(): Promise<BreakerState> }>;
  /** A store that has not answered within this is down (default PROBE_TIMEOUT_MS). */
  probeTimeoutMs?: number;
}

/**
 * Under the scrape's refresh bound (metrics.routes.ts, 2 s) and /health/ready's (3 s): a store that hangs
 * is reported down by both, not left at its last value.
 */
export const PROBE_TIMEOUT_MS = 1500;

async function probe(name: string, fn: () => Promise<unknown>, timeoutMs: number): Promise<DependencyHealth> {
  try {
    await withTimeout(fn(), timeoutMs, 'the probe');
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: `${name}: ${(err as Error).message}` };
  }
}

/**
 * The readiness checks of CONTRACT.md §6: each store answers, or says why not.
 * Also run on each scrape, so `dependency_up` (and `gateway_circuit_state`) are current for alerting.
 */
export function createDependencyChecks(d: DependencyChecksDeps): HealthChecks {
  const timeoutMs = d.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
  return async () => {
    const [postgres, redis] = await Promise.all([
      probe('PostgreSQL', () => d.knex.raw('select 1'), timeoutMs),
      probe(
        'Redis',
        async () => {
          if (d.redis.status !== 'ready') throw new Error(`connection is ${d.redis.status}`);
          await d.redis.ping();
        },
        timeoutMs,
      ),
    ]);
    const rabbitmq: DependencyHealth = d.amqp.isUp() ? { ok: true } : { ok: false, detail: 'RabbitMQ: not connected; reconnecting' };
    // Before the breakers: their state is read from Redis, which may be the store that hangs.
    for (const [name, h] of Object.entries({ postgres, redis, rabbitmq })) d.metrics.connectionState.set({ dependency: name }, h.ok ? 1 : 0);
    const checks: Record<string, DependencyHealth> = { postgres, redis, rabbitmq };
    for (const b of d.breakers ?? []) {
      const state = await b.state().catch(() => 'closed' as const);
      d.metrics.breakerState.set({ gateway: b.name }, state === 'open' ? 2 : state === 'half_open' ? 1 : 0);
      checks[`gateway:${b.name}`] = state === 'closed' ? { ok: true } : { ok: true, degraded: true, detail: `circuit ${state}` };
    }
    return checks;
  };
}
