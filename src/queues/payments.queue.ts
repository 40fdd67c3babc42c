import { Queue, type ConnectionOptions, type Job, type JobsOptions, type Telemetry } from 'bullmq';
import { batcher } from '../batching.js';
import { groupByShard, queueShards, sharded, type Sharded } from './queue-shards.js';

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

/** One shard's payments queue (`name` and `prefix` as `queueShards` gives them). */
export function createPaymentsQueue(o: PaymentsQueueOptions & { name?: string }): Queue<ChargePaymentJob> {
  return new Queue<ChargePaymentJob>(o.name ?? PAYMENTS_QUEUE, {
    connection: o.connection,
    prefix: o.prefix,
    defaultJobOptions: chargeJobOptions(o),
    ...(o.telemetry ? { telemetry: o.telemetry } : {}),
  });
}

/** The payments queue of every shard (QUEUE_SHARDS); an order's charge job lives in `of(orderId)`. */
export type PaymentQueues = Sharded<Queue<ChargePaymentJob>>;

export function createPaymentQueues(o: PaymentsQueueOptions & { shards: number }): PaymentQueues {
  return sharded(queueShards(PAYMENTS_QUEUE, o.prefix, o.shards).map((shard) => createPaymentsQueue({ ...o, ...shard })));
}

/** Enqueues the charge of one order in its shard. Idempotent: the job id is the order id. */
export async function enqueueCharge(queues: PaymentQueues, orderId: string): Promise<void> {
  await queues.of(orderId).add(CHARGE_JOB, { orderId }, { jobId: orderId });
}

/** The order's charge job, looked up in the shard it belongs to now. */
export async function findChargeJob(queues: PaymentQueues, orderId: string): Promise<Job<ChargePaymentJob> | undefined> {
  return queues.of(orderId).getJob(orderId);
}

/** Holds back every shard's jobs for `ms` (BullMQ's rate limit): the gateways' breakers are shared by all shards. */
export async function pauseAllShards(queues: PaymentQueues, ms: number): Promise<void> {
  await Promise.all(queues.shards.map((queue) => queue.rateLimit(ms)));
}

/** Most jobs one `addBulk` carries. */
const ENQUEUE_BATCH_MAX = 100;

/**
 * `enqueueCharge` for the consumer: charges asked for in the same tick go to
 * Redis as one `addBulk` per shard (one round trip each, each within one
 * cluster slot) instead of one `add` each. Each caller still learns whether
 * its own job was stored. With tracing on, every job gets its own `add` span
 * continuing its own event's trace, so nothing is batched then.
 */
export function createChargeEnqueuer(queues: PaymentQueues, tracing: boolean): (orderId: string) => Promise<void> {
  if (tracing) return (orderId) => enqueueCharge(queues, orderId);
  const loader = batcher<string, void>(
    async (orderIds) => {
      await Promise.all(
        [...groupByShard(queues, orderIds)].map(([queue, ids]) => queue.addBulk(ids.map((orderId) => ({ name: CHARGE_JOB, data: { orderId }, opts: { jobId: orderId } })))),
      );
      return orderIds.map(() => undefined);
    },
    { maxBatchSize: ENQUEUE_BATCH_MAX, gather: 'tick' },
  );
  return (orderId) => loader.load(orderId);
}
