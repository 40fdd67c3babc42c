import type { Logger } from '../observability/logger.js';
import { PassLockedError, type Reconciler } from './reconciler.js';
import type { ReconciliationRepository } from './reconciliation.repository.js';

/**
 * The periodic pass inside `npm start` (RECONCILE_INTERVAL_MS): every process
 * checks now and then whether a pass is due (the last completed one started
 * an interval ago or more) and, if it takes the lock, runs one over the last
 * day with the safe repairs. So one process at a time runs it, about once per
 * interval however many processes there are, and a process that dies mid-pass
 * only delays the next one until its lock expires.
 */

export const RECONCILE_WINDOW_MS = 24 * 3600 * 1000;

export interface PeriodicDeps {
  reconciler: Reconciler;
  repository: Pick<ReconciliationRepository, 'lastCompletedStart'>;
  intervalMs: number;
  logger: Logger;
}

export function startPeriodicReconciliation({ reconciler, repository, intervalMs, logger }: PeriodicDeps) {
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  // Checked more often than the interval (at most every minute), with jitter, so a pass starts soon after it is due.
  const checkEveryMs = Math.min(intervalMs, 60_000);

  async function tick(): Promise<void> {
    const last = await repository.lastCompletedStart();
    if (last && Date.now() - last.getTime() < intervalMs) return;
    const until = new Date();
    try {
      await reconciler.runPass({ since: new Date(until.getTime() - RECONCILE_WINDOW_MS), until, repair: true, signal: abort.signal });
    } catch (err) {
      if (err instanceof PassLockedError || abort.signal.aborted) return;
      throw err;
    }
  }

  function schedule(): NodeJS.Timeout {
    const timer = setTimeout(() => {
      running = tick()
        .catch((err) => logger.error({ err: (err as Error).message }, 'periodic reconciliation failed: tried again at the next interval'))
        .finally(() => {
          running = undefined;
          if (!abort.signal.aborted) next = schedule();
        });
    }, Math.round(checkEveryMs * (0.75 + Math.random() / 2)));
    timer.unref();
    return timer;
  }
  let next = schedule();

  return {
    /** Stops scheduling; a pass in progress stops at its next page and is recorded failed. */
    async stop(): Promise<void> {
      abort.abort(new Error('the process is shutting down'));
      clearTimeout(next);
      await running;
    },
  };
}
