import type { FastifyInstance } from 'fastify';

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

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`health checks gave no answer within ${ms} ms`)), ms);
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

function describe(r: Readiness): string {
  return r.down.map((name) => `${name}${r.checks[name]?.detail ? ` (${r.checks[name]!.detail})` : ''}`).join(', ');
}

export function registerHealthRoutes(app: FastifyInstance, health: HealthChecks): void {
  app.get('/health/live', { config: { public: true } }, async () => ({ status: 'ok' }));

  app.get('/health/ready', { config: { public: true } }, async (_request, reply) => {
    const r = await readiness(health);
    if (r.status === 'down') {
      return reply.code(503).send({ ...r, message: `not ready: ${describe(r)} not answering` });
    }
    return r;
  });
}
