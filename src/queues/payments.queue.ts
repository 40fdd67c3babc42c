import { Queue, type ConnectionOptions, type JobsOptions, type Telemetry } from 'bullmq';
import { batcher } from '../batching.js';

/** The BullMQ queue of payments to charge. Job id = order id: a second `add` is a no-op while the job is kept. */
export const PAYMENTS_QUEUE = 'payments';
export const CHARGE_JOB = 'ChargePayment';

export interface ChargePaymentJob {
  orderId: string;
}

export interface PaymentsQueueOptions {
  connection: ConnectionOptions;
  prefix: string;
  attempts: number;
  backoffMs: number;
  retentionS: number;
  /** Tracing (bullmq-otel): `add` then stores the caller's trace context in the job for the worker. */
  telemetry?: Telemetry | undefined;
}

export function chargeJobOptions(o: Pick<PaymentsQueueOptions, 'attempts' | 'backoffMs' | 'retentionS'>): JobsOptions {
  return {
    attempts: o.attempts,
    // Exponential with jitter so a gateway outage is not followed by a synchronized stampede.
    backoff: { type: 'exponential', delay: o.backoffMs, jitter: 0.5 },
    // Kept for the retention window so a redelivered event is absorbed by the job id;
    // after that the payments row (terminal) absorbs it.
    removeOnComplete: { age: o.retentionS, count: 100_000 },
    removeOnFail: { age: o.retentionS * 7 },
  };
}

export function createPaymentsQueue(o: PaymentsQueueOptions): Queue<ChargePaymentJob> {
  return new Queue<ChargePaymentJob>(PAYMENTS_QUEUE, {
    connection: o.connection,
    prefix: o.prefix,
    defaultJobOptions: chargeJobOptions(o),
    ...(o.telemetry ? { telemetry: o.telemetry } : {}),
  });
}

/** Enqueues the charge of one order. Idempotent: the job id is the order id. */
export async function enqueueCharge(queue: Queue<ChargePaymentJob>, orderId: string): Promise<void> {
  await queue.add(CHARGE_JOB, { orderId }, { jobId: orderId });
}

/** Most jobs one `addBulk` carries. */
const ENQUEUE_BATCH_MAX = 100;

/**
 * `enqueueCharge` for the consumer: charges asked for in the same tick go to
 * Redis as one `addBulk` (one round trip) instead of one `add` each. Each
 * caller still learns whether its own job was stored. With tracing on, every
 * job gets its own `add` span continuing its own event's trace, so nothing is
 * batched then.
 */
export function createChargeEnqueuer(queue: Queue<ChargePaymentJob>, tracing: boolean): (orderId: string) => Promise<void> {
  if (tracing) return (orderId) => enqueueCharge(queue, orderId);
  const loader = batcher<string, void>(
    async (orderIds) => {
      await queue.addBulk(orderIds.map((orderId) => ({ name: CHARGE_JOB, data: { orderId }, opts: { jobId: orderId } })));
      return orderIds.map(() => undefined);
    },
    { maxBatchSize: ENQUEUE_BATCH_MAX, gather: 'tick' },
  );
  return (orderId) => loader.load(orderId);
}
