import { Worker, type ConnectionOptions, type Telemetry, type WorkerOptions } from 'bullmq';
import { PAYMENTS_QUEUE, type ChargePaymentJob } from '../queues/payments.queue.js';
import { concurrencyOfShard, queueShards } from '../queues/queue-shards.js';
import type { PaymentJobResult } from './payment.processor.js';

export interface PaymentWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  concurrency: number;
  processor: (job: import('bullmq').Job<ChargePaymentJob>) => Promise<PaymentJobResult>;
  /** How long a job's lock lives without renewal; a frozen worker loses the job after this. */
  lockDurationMs?: number;
  /** Tracing (bullmq-otel): each job runs in a span whose parent is the context stored when it was added. */
  telemetry?: Telemetry | undefined;
}

/** One shard's worker (`name` and `prefix` as `queueShards` gives them). */
export function createPaymentWorker(o: PaymentWorkerOptions & { name?: string }): Worker<ChargePaymentJob, PaymentJobResult> {
  return new Worker<ChargePaymentJob, PaymentJobResult>(o.name ?? PAYMENTS_QUEUE, o.processor, jobWorkerOptions(o));
}

/**
 * A worker for each shard's payments queue (QUEUE_SHARDS): every process
 * serves every shard, so a shard's jobs never wait for a process that owns it.
 * `concurrency` is the process's: split among the shards (each at least one),
 * so a process runs at most that many jobs at once, as with one queue.
 */
export function createPaymentWorkers(o: PaymentWorkerOptions & { shards: number }): Worker<ChargePaymentJob, PaymentJobResult>[] {
  return queueShards(PAYMENTS_QUEUE, o.prefix, o.shards).map((shard, k) =>
    createPaymentWorker({ ...o, ...shard, concurrency: concurrencyOfShard(o.concurrency, o.shards, k) }),
  );
}

/** The options every job worker of this service shares: locks, stalled-job checks, started by the caller. */
export function jobWorkerOptions(o: Pick<PaymentWorkerOptions, 'connection' | 'prefix' | 'concurrency' | 'lockDurationMs' | 'telemetry'>): WorkerOptions {
  return {
    connection: o.connection,
    prefix: o.prefix,
    concurrency: o.concurrency,
    lockDuration: o.lockDurationMs ?? 30_000,
    // Check for stalled jobs as often as a lock can expire, so a dead worker's job moves on promptly.
    stalledInterval: o.lockDurationMs ?? 30_000,
    // A job may stall (its worker died) a few times before BullMQ gives up on it;
    // the sweeper rescues those from PostgreSQL, so this only bounds churn.
    maxStalledCount: 3,
    autorun: false,
    ...(o.telemetry ? { telemetry: o.telemetry } : {}),
  };
}
