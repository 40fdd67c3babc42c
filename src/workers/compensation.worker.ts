import { Worker, type ConnectionOptions, type Job, type Telemetry } from 'bullmq';
import { CAPPED_BACKOFF, cappedBackoff, COMPENSATIONS_QUEUE, type CompensationJob } from '../queues/compensations.queue.js';

export interface CompensationWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  concurrency: number;
  backoffMs: number;
  processor: (job: Job<CompensationJob>) => Promise<unknown>;
  lockDurationMs?: number;
  telemetry?: Telemetry | undefined;
}

/** The BullMQ worker of the compensations queue (cancellations, refunds, webhooks), beside the charge worker. */
export function createCompensationWorker(o: CompensationWorkerOptions): Worker<CompensationJob> {
  return new Worker<CompensationJob>(COMPENSATIONS_QUEUE, o.processor, {
    connection: o.connection,
    prefix: o.prefix,
    concurrency: o.concurrency,
    lockDuration: o.lockDurationMs ?? 30_000,
    stalledInterval: o.lockDurationMs ?? 30_000,
    maxStalledCount: 3,
    autorun: false,
    settings: {
      backoffStrategy: (attemptsMade: number, type?: string) => (type === CAPPED_BACKOFF ? cappedBackoff(attemptsMade, o.backoffMs) : o.backoffMs),
    },
    ...(o.telemetry ? { telemetry: o.telemetry } : {}),
  });
}
