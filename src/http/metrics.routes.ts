import type { Job, Queue } from 'bullmq';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Metrics } from '../observability/metrics.js';

export interface MetricsRouteDeps {
  metrics: Metrics;
  /** The payments queue of every shard: the gauges are over all of them. */
  queues: readonly Queue[];
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

/** payment_queue_jobs by state, summed over the shards. */
export async function refreshQueueDepth(metrics: Metrics, queues: readonly Queue[]): Promise<void> {
  const totals = new Map<string, number>();
  for (const counts of await Promise.all(queues.map((queue) => queue.getJobCounts()))) {
    for (const [state, n] of Object.entries(counts)) totals.set(state, (totals.get(state) ?? 0) + n);
  }
  for (const [state, n] of totals) metrics.queueDepth.set({ state }, n);
}

/** What a job says of its waiting: created at `timestamp`, last taken at `processedOn`, last delayed by `delay`. */
type JobTimes = Pick<Job, 'timestamp' | 'processedOn' | 'delay'>;

/**
 * When a waiting job became ready to run: created (plus any delay) if never taken, else its last
 * start plus the backoff it was delayed by (later than the truth by that attempt's run time).
 */
export function readySince(job: JobTimes): number {
  const delay = job.delay ?? 0;
  return job.processedOn ? Math.max(job.timestamp, job.processedOn + delay) : job.timestamp + delay;
}

/**
 * payment_queue_oldest_waiting_seconds: the age of the job at the head of a wait list (BullMQ takes from
 * there), the oldest of the shards' heads.
 */
export async function refreshQueueDelay(metrics: Metrics, queues: readonly Queue[], now = Date.now()): Promise<void> {
  const heads = (await Promise.all(queues.map((queue) => queue.getJobs(['wait'], 0, 0, true)))).flat();
  metrics.queueOldestWaiting.set(Math.max(0, ...heads.map((head) => now - readySince(head))) / 1000);
}

export function registerMetricsRoutes(app: FastifyInstance, deps: MetricsRouteDeps): void {
  app.get('/metrics', { config: { public: true } }, async (request, reply) => {
    await Promise.all([
      bounded(refreshQueueDepth(deps.metrics, deps.queues), 'queue depth refresh', request.log),
      bounded(refreshQueueDelay(deps.metrics, deps.queues), 'queue delay refresh', request.log),
      deps.collect ? bounded(deps.collect(), 'gauge collection', request.log) : Promise.resolve(),
    ]);
    return reply.header('content-type', deps.metrics.register.contentType).send(await deps.metrics.register.metrics());
  });
}
