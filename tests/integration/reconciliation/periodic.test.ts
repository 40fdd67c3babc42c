import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';
import { createKnex } from '../../../src/persistence/db.js';
import { RECONCILE_WINDOW_MS, startPeriodicReconciliation } from '../../../src/reconciliation/periodic.js';
import { PassLockedError, type PassOptions, type PassSummary } from '../../../src/reconciliation/reconciler.js';
import { createReconciliationRepository, zeroCounts } from '../../../src/reconciliation/reconciliation.repository.js';
import { deferred } from '../../support/deferred.js';

/**
 * The periodic pass inside `npm start` (RECONCILE_INTERVAL_MS), checked every
 * second here: when the last completed pass (read from a real database) is
 * recent it skips, else it runs one with the safe repairs; a pass another
 * process runs is no error; stop() waits for the pass in progress. The
 * reconciler is a fake whose passes end when the test says.
 */

const INTERVAL_MS = 1000;

/** Calls seen so far; `nth(n)` resolves once there have been n. */
function callLog<T>() {
  const seen: T[] = [];
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  return {
    seen,
    record(value: T) {
      seen.push(value);
      for (const w of waiting.filter((x) => seen.length >= x.n)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    },
    async nth(n: number): Promise<T> {
      if (seen.length < n) await new Promise<void>((resolve) => waiting.push({ n, resolve }));
      return seen[n - 1]!;
    },
  };
}

const summary = (o: PassOptions): PassSummary => ({
  passId: randomUUID(), since: o.since.toISOString(), until: o.until.toISOString(), payments: 0, charges: 0, refunds: 0, discrepancies: zeroCounts(), repaired: zeroCounts(),
});

describe('periodic reconciliation (real PostgreSQL, fake reconciler)', () => {
  let iso: Isolated;
  let knex: Knex;
  let stops: Array<() => Promise<void>> = [];
  let pending: Array<ReturnType<typeof deferred<PassSummary>>> = [];

  beforeAll(async () => {
    iso = await isolate();
    knex = createKnex(iso.databaseUrl);
  });
  beforeEach(async () => {
    await knex('reconciliation_passes').delete();
  });
  afterEach(async () => {
    for (const p of pending.splice(0)) p.reject(new Error('test over'));
    await Promise.all(stops.splice(0).map((stop) => stop()));
  });
  afterAll(async () => {
    await knex.destroy();
    await iso.cleanup();
  });

  /**
   * Starts the periodic pass; each runPass ends as `outcome` says (by default, when the test resolves its
   * deferred); `beforeCheck` runs just before the n-th check reads the last completed pass.
   */
  function start(outcome?: (o: PassOptions, n: number) => Promise<PassSummary>, beforeCheck?: (n: number) => Promise<unknown>) {
    const repository = createReconciliationRepository(knex);
    const checks = callLog<Date | undefined>();
    const runs = callLog<PassOptions>();
    const errors: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(JSON.parse(line) as Record<string, unknown>) });
    const periodic = startPeriodicReconciliation({
      reconciler: {
        runPass: (o) => {
          runs.record(o);
          if (outcome) return outcome(o, runs.seen.length);
          const d = deferred<PassSummary>();
          pending.push(d);
          return d.promise;
        },
      },
      repository: {
        lastCompletedStart: async () => {
          await beforeCheck?.(checks.seen.length + 1);
          const at = await repository.lastCompletedStart();
          checks.record(at);
          return at;
        },
      },
      intervalMs: INTERVAL_MS,
      logger,
    });
    stops.push(() => periodic.stop());
    return { periodic, checks, runs, errors };
  }

  const completedPass = (startedAt: Date) => knex('reconciliation_passes').insert({
    id: randomUUID(), since: new Date(startedAt.getTime() - RECONCILE_WINDOW_MS), until: startedAt, repair: true, status: 'completed', started_by: 'other:1', started_at: startedAt, finished_at: startedAt,
  });

  it('when no pass completed within the interval, then it runs one over the last day with the safe repairs', async () => {
    await completedPass(new Date(Date.now() - 3600_000));
    const { runs } = start(async (o) => summary(o));

    const o = await runs.nth(1);

    expect(o.repair).toBe(true);
    expect(o.until.getTime() - o.since.getTime()).toBe(RECONCILE_WINDOW_MS);
    expect(Date.now() - o.until.getTime()).toBeLessThan(5_000);
    expect(o.signal?.aborted).toBe(false);
  });

  it('when the last completed pass started within the interval, then it skips', async () => {
    let recent: Date | undefined;
    // Another process completes a pass just before the first check.
    const { checks, runs } = start(async (o) => summary(o), async (n) => n === 1 && completedPass((recent = new Date())));

    expect((await checks.nth(1))?.getTime()).toBe(recent!.getTime());
    await new Promise((resolve) => setImmediate(resolve)); // the rest of that check runs in microtasks

    expect(runs.seen).toEqual([]);
  });

  it('when another process holds the pass lock, then it is no error, and a real failure is logged and retried at the next check', async () => {
    const { runs, errors } = start(async (o, n) => {
      if (n === 1) throw new PassLockedError();
      if (n === 2) throw new Error('the database went away');
      return summary(o);
    });

    await runs.nth(3);

    expect(errors.map((e) => [e.msg, e.err])).toEqual([['periodic reconciliation failed: tried again at the next interval', 'the database went away']]);
  });

  it('when stopped mid-pass, then stop() aborts the pass, waits for it to end, and schedules no more', async () => {
    const { periodic, checks, runs, errors } = start();
    const o = await runs.nth(1);
    let stopped = false;

    const stopping = periodic.stop().then(() => {
      stopped = true;
    });

    expect(o.signal?.aborted).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    pending[0]!.reject(o.signal!.reason); // the pass stops at its next page, as the reconciler's does
    await stopping;
    const checksAtStop = checks.seen.length;
    // No further check may come: wait longer than the longest jittered gap (1.25 intervals), as an absence cannot be awaited.
    await new Promise((resolve) => setTimeout(resolve, 1.5 * INTERVAL_MS));
    expect(checks.seen.length).toBe(checksAtStop);
    expect(runs.seen).toHaveLength(1);
    expect(errors).toEqual([]); // a pass stopped by the shutdown is not a failure to report
  });
});
