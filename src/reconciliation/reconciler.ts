import type { RedisClient } from '../redis.js';
import type { GatewayLedger, LedgerWindow } from '../gateway/gateway.port.js';
import type { PaymentEvent } from '../machines/payment.types.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { tryLock, type HeldLock } from './pass-lock.js';
import { repairOf } from './repairs.js';
import {
  DISCREPANCY_CLASSES,
  zeroCounts,
  type ClassCounts,
  type Discrepancy,
  type ReconciliationRepository,
} from './reconciliation.repository.js';

/**
 * One reconciliation pass (CONTRACT.md §9): list the gateway's charges and
 * refunds for the window, page by page into staging tables; classify every
 * difference in SQL; store the pass and its discrepancies; with `repair`,
 * apply the safe repairs through the machine (`apply`, the one the webhooks
 * use), so each publishes its event and a second pass finds nothing to mend.
 */

export interface PassOptions {
  since: Date;
  until: Date;
  repair: boolean;
  /** Aborts the pass between pages (a shutdown): it is recorded failed and its lock released. */
  signal?: AbortSignal;
}

export interface PassSummary {
  passId: string;
  since: string;
  until: string;
  payments: number;
  charges: number;
  refunds: number;
  discrepancies: ClassCounts;
  repaired: ClassCounts;
}

type Applied = 'applied' | 'refused' | 'no_payment';

export interface ReconcilerDeps {
  repository: ReconciliationRepository;
  /** Every configured gateway that can list its books. */
  ledgers: ReadonlyArray<{ name: string; ledger: GatewayLedger }>;
  /** Applies a machine event to the order's payment and does what it leaves owed (compensation.processor's `apply`). */
  apply: (locate: { orderId: string }, event: PaymentEvent, detail: Record<string, unknown>) => Promise<Applied>;
  /** A stray charge's refund is owed or pending: its RefundPayment job follows it to the end. */
  followRefund: (orderId: string, refundId: string) => Promise<void>;
  redis: RedisClient;
  lockKey: string;
  logger: Logger;
  metrics: Pick<Metrics, 'reconciliationPasses' | 'reconciliationRepairs'>;
  /** Who runs it (host:pid), recorded with the pass. */
  startedBy: string;
  /** A payment or charge changed more recently than this is in flight, not a discrepancy. Default 60 s. */
  settleGraceMs?: number;
  /** Charges are listed this much either side of the window, so a payment near an edge finds its charge. Default 1 h. */
  slackS?: number;
  /** The lock's time to live; renewed at a third of it. Default 30 s. */
  lockTtlMs?: number;
}

export class PassLockedError extends Error {
  constructor() {
    super('another reconciliation pass is running (its Redis lock is held): try again when it has finished');
    this.name = 'PassLockedError';
  }
}

export class NoLedgerError extends Error {
  constructor() {
    super('no configured gateway can list its charges (the mock keeps them in one process\'s memory): reconciliation needs GATEWAY=stripe');
    this.name = 'NoLedgerError';
  }
}

const STAGE_BATCH = 500;

export function createReconciler(deps: ReconcilerDeps) {
  const { repository, logger } = deps;
  const graceMs = deps.settleGraceMs ?? 60_000;
  const slackS = deps.slackS ?? 3600;
  const lockTtlMs = deps.lockTtlMs ?? 30_000;

  /** Streams one listing into staging in bounded batches; returns how many rows it staged. */
  async function stage<T>(rows: AsyncIterable<T>, write: (batch: T[]) => Promise<void>, lock: HeldLock, signal?: AbortSignal): Promise<number> {
    let batch: T[] = [];
    let n = 0;
    for await (const row of rows) {
      batch.push(row);
      if (batch.length < STAGE_BATCH) continue;
      signal?.throwIfAborted();
      if (!lock.held()) throw new Error('the reconciliation lock was lost mid-pass (Redis unreachable for longer than its time to live): the pass stops');
      await write(batch);
      n += batch.length;
      batch = [];
    }
    await write(batch);
    return n + batch.length;
  }

  async function repairOne(d: Discrepancy, passId: string): Promise<'repaired' | 'report_only' | 'refused' | 'failed'> {
    const repair = repairOf(d);
    if ('reportOnly' in repair) {
      await repository.recordRepair(d.id, 'report_only', repair.reportOnly);
      return 'report_only';
    }
    if (!d.orderId) {
      await repository.recordRepair(d.id, 'report_only', 'no order to repair');
      return 'report_only';
    }
    const log = logger.child({ orderId: d.orderId, passId, class: d.class, event: repair.event.type });
    try {
      const outcome = await deps.apply({ orderId: d.orderId }, repair.event, { source: 'reconciliation', passId, class: d.class, discrepancyId: d.id });
      if (outcome !== 'applied') {
        const why = outcome === 'no_payment' ? 'the payment is gone' : `the machine refused ${repair.event.type} in the payment's state`;
        await repository.recordRepair(d.id, 'refused', why);
        log.warn({ outcome }, `reconciliation repair refused: ${why}`);
        return 'refused';
      }
      if (repair.event.type === 'STRAY_CHARGE_FOUND') await deps.followRefund(d.orderId, repair.event.refundId);
      await repository.recordRepair(d.id, 'repaired', `applied ${repair.event.type}`);
      deps.metrics.reconciliationRepairs.inc({ class: d.class });
      log.info('reconciliation repaired a discrepancy');
      return 'repaired';
    } catch (err) {
      const message = (err as Error).message;
      await repository.recordRepair(d.id, 'failed', message);
      log.error({ err: message }, 'reconciliation repair failed: the next pass tries again');
      return 'failed';
    }
  }

  async function repairAll(passId: string): Promise<ClassCounts> {
    const repaired = zeroCounts();
    let after = '0';
    for (;;) {
      const batch = await repository.discrepancies(passId, after);
      if (!batch.length) return repaired;
      for (const d of batch) {
        after = d.id;
        if (d.repair !== 'none') continue;
        if ((await repairOne(d, passId)) === 'repaired') repaired[d.class] += 1;
      }
    }
  }

  /** Runs one pass under the lock; PassLockedError when another holds it. */
  async function runPass(o: PassOptions): Promise<PassSummary> {
    if (!(o.since < o.until)) throw new RangeError(`the window's start ${o.since.toISOString()} must be before its end ${o.until.toISOString()}`);
    if (!deps.ledgers.length) {
      throw new NoLedgerError();
    }
    const lock = await tryLock(deps.redis, deps.lockKey, lockTtlMs);
    if (!lock) throw new PassLockedError();
    const abandoned = await repository.abandonStale(new Date(Date.now() - 2 * lockTtlMs)).catch(() => 0);
    if (abandoned) logger.warn({ abandoned }, 'reconciliation passes left running by a process that died were marked failed');
    const passId = await repository.startPass({ ...o, startedBy: deps.startedBy });
    const log = logger.child({ passId, since: o.since.toISOString(), until: o.until.toISOString(), repair: o.repair });
    try {
      const now = Math.floor(Date.now() / 1000);
      const sinceS = Math.floor(o.since.getTime() / 1000);
      const charges: LedgerWindow = { gte: sinceS - slackS, lte: Math.min(now, Math.ceil(o.until.getTime() / 1000) + slackS) };
      // Refunds of the window's charges can be made any time after them.
      const refundsWindow: LedgerWindow = { gte: sinceS - slackS, lte: now };
      let refunds = 0;
      for (const { name, ledger } of deps.ledgers) {
        await stage(ledger.charges(charges), (b) => repository.stageCharges(passId, name, b), lock, o.signal);
        refunds += await stage(ledger.refunds(refundsWindow), (b) => repository.stageRefunds(passId, name, b), lock, o.signal);
      }
      const window = { passId, since: o.since, until: o.until, settledBefore: new Date(Date.now() - graceMs) };
      const discrepancies = await repository.classify(window);
      const repaired = o.repair ? await repairAll(passId) : zeroCounts();
      const summary: PassSummary = {
        passId,
        since: o.since.toISOString(),
        until: o.until.toISOString(),
        payments: await repository.paymentsInWindow(o.since, o.until),
        charges: await repository.chargesInWindow(window),
        refunds,
        discrepancies,
        repaired,
      };
      await repository.finishPass(passId, summary);
      deps.metrics.reconciliationPasses.inc({ outcome: 'completed' });
      const found = DISCREPANCY_CLASSES.filter((c) => discrepancies[c] > 0);
      log[found.length ? 'warn' : 'info']({ discrepancies, repaired, payments: summary.payments, charges: summary.charges }, `reconciliation pass completed: ${found.length ? found.join(', ') : 'no discrepancies'}`);
      return summary;
    } catch (err) {
      deps.metrics.reconciliationPasses.inc({ outcome: 'failed' });
      await repository.failPass(passId, (err as Error).message).catch(() => undefined);
      log.error({ err: (err as Error).message }, 'reconciliation pass failed');
      throw err;
    } finally {
      await repository.dropStaging([passId]).catch(() => undefined);
      await lock.release();
    }
  }

  return { runPass };
}

export type Reconciler = ReturnType<typeof createReconciler>;
