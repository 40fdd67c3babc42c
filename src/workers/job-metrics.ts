import type { Job, Worker } from 'bullmq';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { ChargePaymentJob } from '../queues/payments.queue.js';
import type { PaymentJobResult } from './payment.processor.js';

/** The `result` label of payment_job_attempts_total. */
export type JobAttemptResult = 'completed' | 'settled_failed' | 'broken' | 'exhausted' | 'retry';

/** A job that returned. A declined payment completes its job too, but is not a success. */
export function completedAttempt(result: { status?: string } | undefined): JobAttemptResult {
  return result?.status === 'Failed' ? 'settled_failed' : 'completed';
}

/** A job that threw: never worth retrying (UnrecoverableError), out of attempts, or to be retried. */
export function failedAttempt(job: Pick<Job, 'attemptsMade' | 'opts'>, err: Error): JobAttemptResult {
  if (err.name === 'UnrecoverableError') return 'broken';
  return job.attemptsMade >= (job.opts.attempts ?? 1) ? 'exhausted' : 'retry';
}

export interface JobMetricsDeps {
  worker: Pick<Worker<ChargePaymentJob, PaymentJobResult>, 'on'>;
  metrics: Pick<Metrics, 'jobAttempts'>;
  logger: Pick<Logger, 'error'>;
}

/** Counts every job attempt by result, and logs a job whose attempts are spent (the sweeper takes it from there). */
export function recordJobAttempts({ worker, metrics, logger }: JobMetricsDeps): void {
  worker.on('completed', (_job, result: { status?: string } | undefined) => {
    metrics.jobAttempts.inc({ result: completedAttempt(result) });
  });
  worker.on('failed', (job, err) => {
    // No job when a stalled job hit the stalled limit and removeOnFail deleted it: nothing to label.
    if (!job) return;
    const result = failedAttempt(job, err);
    metrics.jobAttempts.inc({ result });
    if (result === 'exhausted') logger.error({ orderId: job.data.orderId, err: err.message }, 'job attempts exhausted; the sweeper will pick the payment up');
  });
}
