import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import type { GatewayLedger, LedgerCharge } from '../../../src/gateway/gateway.port.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createKnex } from '../../../src/persistence/db.js';
import { createPaymentsRepository, type PaymentsRepository } from '../../../src/persistence/payments.repository.js';
import { tryLock } from '../../../src/reconciliation/pass-lock.js';
import { createReconciler, NoLedgerError, PassLockedError, type ReconcilerDeps } from '../../../src/reconciliation/reconciler.js';
import { createReconciliationRepository, zeroCounts, type ClassCounts, type ReconciliationRepository } from '../../../src/reconciliation/reconciliation.repository.js';
import { strayRefundId } from '../../../src/reconciliation/repairs.js';
import { reconcileLockKey } from '../../../src/reconciliation/wiring.js';
import { listedLedger, succeededCharge } from '../../support/fakes/listed.ledger.js';
import { seedDeclined, seedInitiated, seedRetrying, type SeededPayment } from '../../support/payments.seed.js';

/**
 * The reconciler's pass (CONTRACT.md §9) against a real database and Redis,
 * with the gateway's books and the machine's `apply` faked: the lock, a pass
 * left by a dead process, a ledger or a shutdown stopping a pass, each
 * repair's outcome, and the grace that keeps payments in flight out. Each
 * test seeds into a window of its own (days apart), so tests do not see each
 * other's payments.
 */

const DAY = 24 * 3600 * 1000;
const counts = (found: Partial<ClassCounts>): ClassCounts => ({ ...zeroCounts(), ...found });

describe('reconciliation pass (real PostgreSQL and Redis, fake gateway ledger)', () => {
  let iso: Isolated;
  let knex: Knex;
  let redis: Redis;
  let repository: ReconciliationRepository;
  let payments: PaymentsRepository;
  let lockKey: string;
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    iso = await isolate();
    knex = createKnex(iso.databaseUrl);
    redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
    repository = createReconciliationRepository(knex);
    payments = createPaymentsRepository(knex);
    lockKey = reconcileLockKey(iso.queuePrefix);
  });
  afterAll(async () => {
    redis.disconnect();
    await knex.destroy();
    await iso.cleanup();
  });

  /** A reconciler whose passes are recorded as started by `who` (so each test finds its own). */
  function reconciler(who: string, over: Partial<ReconcilerDeps> = {}) {
    const metrics = createMetrics();
    const deps: ReconcilerDeps = {
      repository, ledgers: [{ name: 'stripe', ledger: listedLedger([]) }], apply: async () => 'applied', followRefund: async () => undefined,
      redis, lockKey, logger, metrics, startedBy: who, ...over,
    };
    return { ...createReconciler(deps), metrics };
  }

  const passesBy = (who: string) => knex('reconciliation_passes').where('started_by', who).orderBy('started_at');
  const staged = async (passId: string) => {
    const [c, r] = await Promise.all([
      knex('reconciliation_gateway_charges').where('pass_id', passId).count<{ n: string }[]>({ n: '*' }).first(),
      knex('reconciliation_gateway_refunds').where('pass_id', passId).count<{ n: string }[]>({ n: '*' }).first(),
    ]);
    return Number(c!.n) + Number(r!.n);
  };

  /** A window of a test's own, `daysAgo` days back: an hour long, its payments and charges ten minutes in. */
  const windowAt = (daysAgo: number) => {
    const since = new Date(Date.now() - daysAgo * DAY);
    return { since, until: new Date(since.getTime() + 3600_000), at: new Date(since.getTime() + 600_000) };
  };
  /** Seeded through the machine, then dated `at`: created and last changed then. */
  async function seedAt(seed: (p: PaymentsRepository) => Promise<SeededPayment>, at: Date): Promise<SeededPayment> {
    const s = await seed(payments);
    await knex('payments').where({ id: s.paymentId }).update({ created_at: at, updated_at: at });
    return s;
  }

  it('when another pass holds the lock, then the pass is refused with PassLockedError and records nothing', async () => {
    const holder = await tryLock(redis, lockKey, 30_000);
    try {
      const { since, until } = windowAt(30);
      await expect(reconciler('locked').runPass({ since, until, repair: false })).rejects.toBeInstanceOf(PassLockedError);
      expect(await passesBy('locked')).toEqual([]);
    } finally {
      await holder!.release();
    }
  });

  it('when no gateway can list its books, then NoLedgerError, without taking the lock or recording a pass', async () => {
    const { since, until } = windowAt(31);
    await expect(reconciler('no-ledger', { ledgers: [] }).runPass({ since, until, repair: false })).rejects.toBeInstanceOf(NoLedgerError);
    expect(await passesBy('no-ledger')).toEqual([]);
    expect(await redis.exists(lockKey)).toBe(0);
  });

  it('when a process died mid-pass long ago, then the next pass marks its pass failed and drops its staging, and leaves a recent one alone', async () => {
    const { since, until, at } = windowAt(32);
    const dead = randomUUID();
    await knex('reconciliation_passes').insert({ id: dead, since, until, repair: true, started_by: 'dead:1', started_at: new Date(Date.now() - 10 * 60_000) });
    await repository.stageCharges(dead, 'stripe', [succeededCharge('pi_dead', null, 100n, at)]);
    const recent = randomUUID();
    await knex('reconciliation_passes').insert({ id: recent, since, until, repair: true, started_by: 'alive:1' });

    await reconciler('after-dead').runPass({ since, until, repair: false });

    expect(await knex('reconciliation_passes').where('id', dead).first()).toMatchObject({ status: 'failed', error: 'the process running it stopped mid-pass', finished_at: expect.any(Date) });
    expect(await staged(dead)).toBe(0);
    expect((await knex('reconciliation_passes').where('id', recent).first()).status).toBe('running');
    expect((await passesBy('after-dead')).map((p) => p.status)).toEqual(['completed']);
    await knex('reconciliation_passes').where('id', recent).delete();
  });

  it('when the ledger throws mid-walk, then the pass is recorded failed with its error, its staging dropped, and the lock released', async () => {
    const { since, until, at } = windowAt(33);
    const stagedAtThrow: number[] = [];
    const failing: GatewayLedger = {
      async *charges() {
        for (let i = 0; ; i++) {
          if (i === 600) {
            const [pass] = await passesBy('failing');
            stagedAtThrow.push(await staged(pass.id));
            throw new Error('the gateway answered 500 on page 7');
          }
          yield succeededCharge(`pi_f${i}`, null, 100n, at);
        }
      },
      async *refunds() {},
    };

    await expect(reconciler('failing', { ledgers: [{ name: 'stripe', ledger: failing }] }).runPass({ since, until, repair: true })).rejects.toThrow('the gateway answered 500 on page 7');

    const [pass] = await passesBy('failing');
    expect(pass).toMatchObject({ status: 'failed', error: 'the gateway answered 500 on page 7', finished_at: expect.any(Date) });
    expect(stagedAtThrow).toEqual([500]); // a batch was staged before the failure, so dropping it is observed
    expect(await staged(pass.id)).toBe(0);
    expect(await redis.exists(lockKey)).toBe(0);
    await reconciler('after-failing').runPass({ since, until, repair: false });
    expect((await passesBy('after-failing')).map((p) => p.status)).toEqual(['completed']);
  });

  it('when the pass\'s signal aborts (a shutdown), then it stops at the next page and is recorded failed, its lock released', async () => {
    const { since, until, at } = windowAt(34);
    const shutdown = new AbortController();
    let pulled = 0;
    const endless: GatewayLedger = {
      async *charges() {
        while (pulled < 3000) {
          if (++pulled === 600) shutdown.abort(new Error('the process is shutting down'));
          yield succeededCharge(`pi_a${pulled}`, null, 100n, at);
        }
      },
      async *refunds() {},
    };

    await expect(reconciler('aborted', { ledgers: [{ name: 'stripe', ledger: endless }] }).runPass({ since, until, repair: true, signal: shutdown.signal }))
      .rejects.toThrow('the process is shutting down');

    expect(pulled).toBeLessThanOrEqual(1000); // the page in hand, no more
    const [pass] = await passesBy('aborted');
    expect(pass).toMatchObject({ status: 'failed', error: 'the process is shutting down' });
    expect(await staged(pass.id)).toBe(0);
    expect(await redis.exists(lockKey)).toBe(0);
  });

  it('when repairs are refused, throw or apply, then each discrepancy records its own outcome and only applied ones count as repaired', async () => {
    const { since, until, at } = windowAt(35);
    const refused = await seedAt(seedInitiated, at);
    const throws = await seedAt(seedInitiated, at);
    const applies = await seedAt(seedInitiated, at);
    const failedButCharged = await seedAt(seedDeclined, at);
    const unknownOrder = randomUUID();
    const charges: LedgerCharge[] = [
      succeededCharge('pi_refused', refused.orderId, 700n, at),
      succeededCharge('pi_throws', throws.orderId, 700n, at),
      succeededCharge('pi_applies', applies.orderId, 700n, at),
      succeededCharge('pi_stray', failedButCharged.orderId, 125000n, at),
      succeededCharge('pi_unknown', unknownOrder, 1234n, at),
    ];
    const applied: Array<{ orderId: string; type: string; detail: Record<string, unknown> }> = [];
    const followed: Array<[string, string]> = [];
    const { runPass, metrics } = reconciler('repairs', {
      ledgers: [{ name: 'stripe', ledger: listedLedger(charges) }],
      apply: async ({ orderId }, event, detail) => {
        applied.push({ orderId, type: event.type, detail });
        if (orderId === refused.orderId) return 'refused';
        if (orderId === throws.orderId) throw new Error('connection terminated unexpectedly');
        return 'applied';
      },
      followRefund: async (orderId, refundId) => {
        followed.push([orderId, refundId]);
      },
    });

    const summary = await runPass({ since, until, repair: true });

    expect(summary.discrepancies).toEqual(counts({ charged_but_unsettled: 3, charged_but_failed: 1, charge_without_payment: 1 }));
    expect(summary.repaired).toEqual(counts({ charged_but_unsettled: 1, charged_but_failed: 1 }));
    const rows = await repository.discrepancies(summary.passId);
    const outcome = (orderId: string | null) => rows.filter((d) => d.orderId === orderId).map((d) => [d.class, d.repair, d.repairDetail]);
    expect(outcome(refused.orderId)).toEqual([['charged_but_unsettled', 'refused', 'the machine refused CHARGE_SUCCEEDED in the payment\'s state']]);
    expect(outcome(throws.orderId)).toEqual([['charged_but_unsettled', 'failed', 'connection terminated unexpectedly']]);
    expect(outcome(applies.orderId)).toEqual([['charged_but_unsettled', 'repaired', 'applied CHARGE_SUCCEEDED']]);
    expect(outcome(failedButCharged.orderId)).toEqual([['charged_but_failed', 'repaired', 'applied STRAY_CHARGE_FOUND']]);
    expect(outcome(null)).toEqual([['charge_without_payment', 'report_only', null]]);

    // The report-only one never reached the machine; the stray charge's refund is followed to its end.
    expect(applied.map((a) => a.orderId).sort()).toEqual([refused.orderId, throws.orderId, applies.orderId, failedButCharged.orderId].sort());
    expect(applied.every((a) => a.detail.source === 'reconciliation' && a.detail.passId === summary.passId)).toBe(true);
    expect(followed).toEqual([[failedButCharged.orderId, strayRefundId('pi_stray')]]);
    expect((await passesBy('repairs')).map((p) => p.status)).toEqual(['completed']);
    expect((await metrics.reconciliationRepairs.get()).values.map((v) => [v.labels.class, v.value]).sort()).toEqual([['charged_but_failed', 1], ['charged_but_unsettled', 1]]);
  });

  it('when a Processing payment changed just now has a live charge, then the default grace keeps it out and a grace of 0 reports it', async () => {
    const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
    const inFlight = await seedRetrying(payments);
    // Created five minutes ago, changed just now (its worker is on it); the charge is old enough to count.
    await knex('payments').where({ id: inFlight.paymentId }).update({ created_at: minutesAgo(5) });
    const ledger = listedLedger([succeededCharge('pi_in_flight', inFlight.orderId, 1500n, minutesAgo(5))]);
    const window = { since: minutesAgo(10), until: new Date(), repair: false };

    const graced = await reconciler('graced', { ledgers: [{ name: 'stripe', ledger }] }).runPass(window);
    const ungraced = await reconciler('ungraced', { ledgers: [{ name: 'stripe', ledger }], settleGraceMs: 0 }).runPass(window);

    expect(graced.discrepancies).toEqual(counts({}));
    expect(ungraced.discrepancies).toEqual(counts({ charged_but_unsettled: 1 }));
    expect((await repository.discrepancies(ungraced.passId))[0]).toMatchObject({ orderId: inFlight.orderId, intentId: 'pi_in_flight', paymentStatus: 'Processing' });
  });
});
