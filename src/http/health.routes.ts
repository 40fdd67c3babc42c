import type { FastifyInstance } from 'fastify';
import { RateLimitedLog } from './rate-limited-log.js';

export interface DependencyHealth {
  ok: boolean;
  detail?: string;
  /** Up but impaired (an open gateway breaker): still ready, reported as degraded. */
  degraded?: boolean;
}

export type HealthChecks = () => Promise<Record<string, DependencyHealth>>;

export interface Readiness {
  status: 'ok' | 'degraded' | 'down';
  down: string[];
  degraded: string[];
  checks: Record<string, DependencyHealth>;
}

/** A check that does not answer in time counts as down: a hung probe must not hang the prober. */
export const READY_TIMEOUT_MS = 3000;

/** `work`, or a rejection once `ms` have passed without its answer. */
export function withTimeout<T>(work: Promise<T>, ms: number, what = 'health checks'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} gave no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export async function readiness(health: HealthChecks, timeoutMs = READY_TIMEOUT_MS): Promise<Readiness> {
  let checks: Record<string, DependencyHealth>;
  try {
    checks = await withTimeout(health(), timeoutMs);
  } catch (err) {
    checks = { health: { ok: false, detail: (err as Error).message } };
  }
  const entries = Object.entries(checks);
  const down = entries.filter(([, c]) => !c.ok).map(([name]) => name);
  const degraded = entries.filter(([, c]) => c.ok && c.degraded).map(([name]) => name);
  const status = down.length > 0 ? 'down' : degraded.length > 0 ? 'degraded' : 'ok';
  return { status, down, degraded, checks };
}

/**
 * The body /health/ready answers with: which checks are down or degraded, by
 * name only. It is open to anyone, so a driver's error text (host names,
 * addresses, versions) stays in the log.
 */
export function readinessBody(r: Readiness): Record<string, unknown> {
  const body = { status: r.status, down: r.down, degraded: r.degraded };
  return r.status === 'down' ? { ...body, message: `not ready: ${r.down.join(', ')} not answering` } : body;
}

function describe(r: Readiness): Record<string, string> {
  return Object.fromEntries(r.down.map((name) => [name, r.checks[name]?.detail ?? 'no answer']));
}

export function registerHealthRoutes(app: FastifyInstance, health: HealthChecks, notReadyLog = new RateLimitedLog()): void {
  app.get('/health/live', { config: { public: true } }, async () => ({ status: 'ok' }));

  app.get('/health/ready', { config: { public: true } }, async (_request, reply) => {
    const r = await readiness(health);
    if (r.status === 'down') {
      // Probed every few seconds: one line a minute per set of failing stores is enough to say why.
      notReadyLog.note(r.down.join(','), (suppressed) => app.log.warn({ down: describe(r), suppressed }, 'not ready'));
      return reply.code(503).send(readinessBody(r));
    }
    return readinessBody(r);
  });
}
