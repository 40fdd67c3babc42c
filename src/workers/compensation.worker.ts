import { Worker, type ConnectionOptions, type Job, type Telemetry } from 'bullmq';
import { jobWorkerOptions } from './payment.worker.js';
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
    ...jobWorkerOptions(o),
    settings: {
      backoffStrategy: (attemptsMade: number, type?: string) => (type === CAPPED_BACKOFF ? cappedBackoff(attemptsMade, o.backoffMs) : o.backoffMs),
    },
  });
}
