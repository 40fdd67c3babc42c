import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { PaymentsRepository } from '../persistence/payments.repository.js';
import { enqueueCharge, findChargeJob, type PaymentQueues } from '../queues/payments.queue.js';
import type { CompensationsRepository } from '../persistence/compensations.repository.js';
import { cancelJobId, createCompensationEnqueuer, findCompensationJob, refundJobId, type CompensationQueues } from '../queues/compensations.queue.js';

/**
 * PostgreSQL is the record, Redis the scheduler. The sweeper finds payments
 * that are not terminal after a while and have no live job — Redis lost its
 * data, BullMQ failed the job as stalled, attempts ran out on an unsettled
 * charge — and puts them back on the queue under the same job id.
 *
 * It runs as a BullMQ job scheduler on its own queue: every process may run
 * the worker, and each tick is handled by exactly one of them.
 */
export const MAINTENANCE_QUEUE = 'payments-maintenance';
const SWEEP_JOB = 'SweepUnfinishedPayments';

export interface SweepResult {
  scanned: number;
  rescued: Record<string, number>;
}

export interface SweeperDeps {
  payments: PaymentsRepository;
  /** Every shard's payments queue: a payment's job is looked for in the shard its order belongs to now. */
  queues: PaymentQueues;
  /** With both, unanswered cancellations and open refunds are rescued too. */
  compensations?: Pick<CompensationsRepository, 'unansweredCancellations' | 'openRefunds'>;
  compensationQueues?: CompensationQueues;
  logger: Logger;
  metrics: Metrics;
  staleAfterMs: number;
  batch?: number;
}

/** One sweep: returns what it rescued, by reason. Safe to run concurrently (job ids dedupe). */
export async function sweepUnfinished(deps: SweeperDeps): Promise<SweepResult> {
  const stale = await deps.payments.findUnfinished(deps.staleAfterMs, deps.batch ?? 500);
  const rescued: Record<string, number> = {};
  const count = (reason: string) => {
    rescued[reason] = (rescued[reason] ?? 0) + 1;
    deps.metrics.sweeperRescues.inc({ reason });
  };
  for (const payment of stale) {
    // Not in its current shard (QUEUE_SHARDS changed since it was enqueued, or Redis lost it) counts as missing:
    // a copy left in a shard no process serves any more never runs, and the machine absorbs it if it ever does.
    const job = await findChargeJob(deps.queues, payment.orderId);
    const state = job ? await job.getState() : 'missing';
    if (state !== 'missing' && state !== 'unknown' && state !== 'failed' && state !== 'completed') continue; // a live job has it
    // The list was read before the jobs: a payment that has moved since (e.g. its job just completed it) is not stuck.
    const current = await deps.payments.findByOrderId(payment.orderId);
    if (!current || current.version !== payment.version) continue;
    const log = deps.logger.child({ orderId: payment.orderId, paymentId: payment.id, jobState: state });
    if (state === 'missing' || state === 'unknown') {
      await enqueueCharge(deps.queues, payment.orderId);
      log.warn(`rescued ${payment.status} payment with no job in its shard: re-enqueued`);
      count('missing_job');
    } else if (state === 'failed' && job) {
      // Failed as stalled, or attempts spent on an outcome nobody could settle: try again from the start.
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      log.warn({ failedReason: job.failedReason }, `rescued ${payment.status} payment whose job had failed: retried`);
      count('failed_job');
    } else if (state === 'completed' && job) {
      await job.remove();
      await enqueueCharge(deps.queues, payment.orderId);
      log.warn(`rescued ${payment.status} payment whose job had completed: re-enqueued`);
      count('completed_job');
    }
  }
  if (deps.compensations && deps.compensationQueues) {
    const c = await sweepCompensations(deps.compensations, deps.compensationQueues, deps, count);
    return { scanned: stale.length + c, rescued };
  }
  return { scanned: stale.length, rescued };
}

/**
 * Cancellations not answered and refunds not settled a while after they
 * arrived, whose job is gone, failed or completed: asked for again. The job
 * reads the record and the payment's machine, so running it again is safe.
 */
async function sweepCompensations(
  compensations: NonNullable<SweeperDeps['compensations']>,
  queues: CompensationQueues,
  deps: SweeperDeps,
  count: (reason: string) => void,
): Promise<number> {
  const enqueue = createCompensationEnqueuer(queues);
  const batch = deps.batch ?? 500;
  const cancellations = await compensations.unansweredCancellations(deps.staleAfterMs, batch);
  const refunds = await compensations.openRefunds(deps.staleAfterMs, batch);
  const work = [
    ...cancellations.map((c) => ({ jobId: cancelJobId(c.orderId), orderId: c.orderId, add: () => enqueue.cancellation(c.orderId) })),
    ...refunds.map((r) => ({ jobId: refundJobId(r.id), orderId: r.orderId, add: () => enqueue.refund({ refundId: r.id, orderId: r.orderId }) })),
  ];
  for (const { jobId, orderId, add } of work) {
    const job = await findCompensationJob(queues, orderId, jobId);
    const state = job ? await job.getState() : 'missing';
    const log = deps.logger.child({ orderId, jobId, jobState: state });
    if (state === 'missing' || state === 'unknown') await add();
    else if (state === 'failed' && job) await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    else if (state === 'completed' && job) {
      await job.remove();
      await add();
    } else continue; // a live job has it
    log.warn('rescued a compensation whose job was gone or finished: asked for again');
    count(`compensation_${state}_job`);
  }
  return work.length;
}

export interface RecoverySweeper {
  queue: Queue;
  worker: Worker;
  close(): Promise<void>;
}

/** Schedules the sweep every `intervalMs` and runs it in this process when it is this process's turn. */
export async function startRecoverySweeper(
  deps: SweeperDeps & { connection: ConnectionOptions; prefix: string; intervalMs: number },
): Promise<RecoverySweeper> {
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: deps.connection, prefix: deps.prefix });
  const schedule = () =>
    queue.upsertJobScheduler(SWEEP_JOB, { every: deps.intervalMs }, {
      name: SWEEP_JOB,
      opts: { removeOnComplete: 100, removeOnFail: 100 },
    });
  await schedule();
  // Redis that lost its data lost the schedule too: declare it again every interval (upsert is idempotent),
  // or the sweeper that exists to survive a wiped Redis would stop after one.
  const keeper = setInterval(() => {
    schedule().catch((err: Error) => deps.logger.warn({ reason: err.message }, 'could not re-declare the sweep schedule'));
  }, deps.intervalMs);
  keeper.unref();
  const worker = new Worker(
    MAINTENANCE_QUEUE,
    async () => {
      const result = await sweepUnfinished(deps);
      if (Object.keys(result.rescued).length) deps.logger.info(result, 'recovery sweep rescued payments');
      return result;
    },
    { connection: deps.connection, prefix: deps.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => deps.logger.error({ reason: err.message }, 'recovery sweeper worker error'));
  return {
    queue,
    worker,
    async close() {
      clearInterval(keeper);
      await Promise.allSettled([worker.close(), queue.close()]);
    },
  };
}
