import type { Queue } from 'bullmq';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Metrics } from '../observability/metrics.js';

export interface MetricsRouteDeps {
  metrics: Metrics;
  queue: Queue;
  /** Refreshes gauges kept elsewhere (outbox lag, breaker state) before a scrape. */
  collect?: () => Promise<void>;
}

/** A scrape must answer even while Redis or the database is away: stale gauges beat no metrics. */
const REFRESH_TIMEOUT_MS = 2000;

async function bounded(work: Promise<unknown>, what: string, log: FastifyBaseLogger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.warn(`${what} took over ${REFRESH_TIMEOUT_MS} ms: scraped without it`);
      resolve();
    }, REFRESH_TIMEOUT_MS);
  });
  const done = work.then(
    () => undefined,
    (err: unknown) => log.warn({ err }, `${what} failed: scraped without it`),
  );
  await Promise.race([done, timeout]).finally(() => clearTimeout(timer));
}

export async function refreshQueueDepth(metrics: Metrics, queue: Queue): Promise<void> {
  const counts = await queue.getJobCounts();
  for (const [state, n] of Object.entries(counts)) metrics.queueDepth.set({ state }, n);
}

export function registerMetricsRoutes(app: FastifyInstance, deps: MetricsRouteDeps): void {
  app.get('/metrics', { config: { public: true } }, async (request, reply) => {
    await Promise.all([
      bounded(refreshQueueDepth(deps.metrics, deps.queue), 'queue depth refresh', request.log),
      deps.collect ? bounded(deps.collect(), 'gauge collection', request.log) : Promise.resolve(),
    ]);
    return reply.header('content-type', deps.metrics.register.contentType).send(await deps.metrics.register.metrics());
  });
}
