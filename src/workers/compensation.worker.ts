import { Worker, type ConnectionOptions, type Job, type Telemetry } from 'bullmq';
import { jobWorkerOptions } from './payment.worker.js';
import { CAPPED_BACKOFF, cappedBackoff, COMPENSATIONS_QUEUE, type CompensationJob } from '../queues/compensations.queue.js';
import { concurrencyOfShard, queueShards } from '../queues/queue-shards.js';

export interface CompensationWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  concurrency: number;
  backoffMs: number;
  processor: (job: Job<CompensationJob>) => Promise<unknown>;
  lockDurationMs?: number;
  telemetry?: Telemetry | undefined;
}

/** A worker for each shard's compensations queue (QUEUE_SHARDS), the process's concurrency split among them. */
export function createCompensationWorkers(o: CompensationWorkerOptions & { shards: number }): Worker<CompensationJob>[] {
  return queueShards(COMPENSATIONS_QUEUE, o.prefix, o.shards).map((shard, k) =>
    createCompensationWorker({ ...o, ...shard, concurrency: concurrencyOfShard(o.concurrency, o.shards, k) }),
  );
}

/** The BullMQ worker of one shard's compensations queue (cancellations, refunds, webhooks), beside the charge worker. */
export function createCompensationWorker(o: CompensationWorkerOptions & { name?: string }): Worker<CompensationJob> {
  return new Worker<CompensationJob>(o.name ?? COMPENSATIONS_QUEUE, o.processor, {
    ...jobWorkerOptions(o),
    settings: {
      backoffStrategy: (attemptsMade: number, type?: string) => (type === CAPPED_BACKOFF ? cappedBackoff(attemptsMade, o.backoffMs) : o.backoffMs),
    },
  });
}
