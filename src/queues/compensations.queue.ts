import { Queue } from 'bullmq';
import { chargeJobOptions, type PaymentsQueueOptions } from './payments.queue.js';

/**
 * The BullMQ queue of compensations to carry out (CONTRACT.md §8), one job per
 * cancellation or refund request. The record in PostgreSQL comes first
 * (compensations.repository.ts); the job data is just the ids, so the job
 * reads what to do from the record, as a charge job reads its payment row.
 */
export const COMPENSATIONS_QUEUE = 'compensations';
export const CANCEL_ORDER_JOB = 'CancelOrder';
export const REFUND_PAYMENT_JOB = 'RefundPayment';
/** A Stripe webhook recorded in `webhook_events`, to apply to its payment. */
export const APPLY_WEBHOOK_JOB = 'ApplyWebhook';

export interface CancelOrderJob {
  orderId: string;
}

export interface RefundPaymentJob {
  refundId: string;
  orderId: string;
}

export interface ApplyWebhookJob {
  /** Stripe's event id (`evt_…`): the job reads the event from its `webhook_events` row. */
  eventId: string;
}

export type CompensationJob = CancelOrderJob | RefundPaymentJob | ApplyWebhookJob;
export type CompensationJobName = typeof CANCEL_ORDER_JOB | typeof REFUND_PAYMENT_JOB | typeof APPLY_WEBHOOK_JOB;
export type CompensationsQueue = Queue<CompensationJob, unknown, CompensationJobName>;

// Job ids are derived from the durable ids, so a second `add` is a no-op while
// the job is kept. BullMQ refuses ids holding ':' (it builds Redis keys with
// it) and ids that parse as integers: a prefix and '-' avoid both.
export const cancelJobId = (orderId: string) => `cancel-${orderId}`;

/** Tries before a compensation job is left to the sweeper; with the capped backoff, about 20 minutes. */
export const COMPENSATION_ATTEMPTS = 40;
/** The backoff type the compensation worker computes (see cappedBackoff): exponential, at most 30 s, with jitter. */
export const CAPPED_BACKOFF = 'capped';
export function cappedBackoff(attemptsMade: number, baseMs: number, capMs = 30_000): number {
  return Math.round(Math.min(baseMs * 2 ** Math.max(0, attemptsMade - 1), capMs) * (0.5 + Math.random() / 2));
}
export const refundJobId = (refundId: string) => `refund-${refundId}`;
export const webhookJobId = (eventId: string) => `webhook-${eventId}`;

/** The payments queue's options (prefix, attempts, backoff, retention), for the compensations queue. */
export function createCompensationsQueue(o: PaymentsQueueOptions): CompensationsQueue {
  return new Queue<CompensationJob, unknown, CompensationJobName>(COMPENSATIONS_QUEUE, {
    connection: o.connection,
    prefix: o.prefix,
    // The retention of a charge (kept long enough that a redelivered request is absorbed by the job id), and
    // more, capped retries: a compensation may wait minutes for a charge or a pending refund to settle.
    defaultJobOptions: { ...chargeJobOptions(o), attempts: COMPENSATION_ATTEMPTS, backoff: { type: CAPPED_BACKOFF } },
    ...(o.telemetry ? { telemetry: o.telemetry } : {}),
  });
}

/** What the order-events consumer enqueues with; each is idempotent by its job id. */
export interface CompensationEnqueuer {
  cancellation(orderId: string): Promise<void>;
  refund(job: RefundPaymentJob): Promise<void>;
}

export function createCompensationEnqueuer(queue: CompensationsQueue): CompensationEnqueuer {
  return {
    async cancellation(orderId) {
      await queue.add(CANCEL_ORDER_JOB, { orderId }, { jobId: cancelJobId(orderId) });
    },
    async refund({ refundId, orderId }) {
      await queue.add(REFUND_PAYMENT_JOB, { refundId, orderId }, { jobId: refundJobId(refundId) });
    },
  };
}

/**
 * Enqueues the application of one recorded webhook. Idempotent by its job id
 * while the job is kept; after that the row's outcome absorbs a repeat.
 */
export async function enqueueWebhook(queue: CompensationsQueue, eventId: string): Promise<void> {
  await queue.add(APPLY_WEBHOOK_JOB, { eventId }, { jobId: webhookJobId(eventId) });
}
