import { Queue, type Job } from 'bullmq';
import { chargeJobOptions, type PaymentsQueueOptions } from './payments.queue.js';
import { queueShards, sharded, type Sharded } from './queue-shards.js';

/**
 * The BullMQ queue of compensations to carry out (CONTRACT.md §8), one job per
 * cancellation or refund request. The record in PostgreSQL comes first
 * (compensations.repository.ts); the job data is just the ids, so the job
 * reads what to do from the record, as a charge job reads its payment row.
 *
 * Sharded as the payments are (QUEUE_SHARDS, the same prefixes: shard k of
 * both queues shares one cluster slot): a cancellation or a refund by its
 * order id, a webhook by its event id.
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

/** One shard's compensations queue, with the payments queue's options (prefix, attempts, backoff, retention). */
export function createCompensationsQueue(o: PaymentsQueueOptions & { name?: string }): CompensationsQueue {
  return new Queue<CompensationJob, unknown, CompensationJobName>(o.name ?? COMPENSATIONS_QUEUE, {
    connection: o.connection,
    prefix: o.prefix,
    // The retention of a charge (kept long enough that a redelivered request is absorbed by the job id), and
    // more, capped retries: a compensation may wait minutes for a charge or a pending refund to settle.
    defaultJobOptions: { ...chargeJobOptions(o), attempts: COMPENSATION_ATTEMPTS, backoff: { type: CAPPED_BACKOFF } },
    ...(o.telemetry ? { telemetry: o.telemetry } : {}),
  });
}

/** The compensations queue of every shard; an order's cancellation and refunds live in `of(orderId)`. */
export type CompensationQueues = Sharded<CompensationsQueue>;

export function createCompensationQueues(o: PaymentsQueueOptions & { shards: number }): CompensationQueues {
  return sharded(queueShards(COMPENSATIONS_QUEUE, o.prefix, o.shards).map((shard) => createCompensationsQueue({ ...o, ...shard })));
}

/** What the order-events consumer enqueues with; each is idempotent by its job id. */
export interface CompensationEnqueuer {
  cancellation(orderId: string): Promise<void>;
  refund(job: RefundPaymentJob): Promise<void>;
}

export function createCompensationEnqueuer(queues: CompensationQueues): CompensationEnqueuer {
  return {
    async cancellation(orderId) {
      await queues.of(orderId).add(CANCEL_ORDER_JOB, { orderId }, { jobId: cancelJobId(orderId) });
    },
    async refund({ refundId, orderId }) {
      await queues.of(orderId).add(REFUND_PAYMENT_JOB, { refundId, orderId }, { jobId: refundJobId(refundId) });
    },
  };
}

/** A cancellation's or refund's job, looked up in the shard of its order. */
export async function findCompensationJob(queues: CompensationQueues, orderId: string, jobId: string): Promise<Job<CompensationJob> | undefined> {
  return queues.of(orderId).getJob(jobId);
}

/**
 * Enqueues the application of one recorded webhook, in the shard of its event
 * id. Idempotent by its job id while the job is kept; after that the row's
 * outcome absorbs a repeat.
 */
export async function enqueueWebhook(queues: CompensationQueues, eventId: string): Promise<void> {
  await queues.of(eventId).add(APPLY_WEBHOOK_JOB, { eventId }, { jobId: webhookJobId(eventId) });
}
