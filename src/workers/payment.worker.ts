import { Worker, type ConnectionOptions, type Telemetry, type WorkerOptions } from 'bullmq';
import { PAYMENTS_QUEUE, type ChargePaymentJob } from '../queues/payments.queue.js';
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

export function createPaymentWorker(o: PaymentWorkerOptions): Worker<ChargePaymentJob, PaymentJobResult> {
  return new Worker<ChargePaymentJob, PaymentJobResult>(PAYMENTS_QUEUE, o.processor, jobWorkerOptions(o));
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
