import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { machineCpu } from './proc-stats.js';

/** Busy share of the machine (all cores) under which it counts as quiet. */
export const QUIET_PCT = 15;

export interface Settled {
  waitedMs: number;
  /** The machine's busy share over the last second waited, 0-100. */
  busyPct: number;
}

/**
 * Lets the previous phase's after-effects finish before a phase is measured:
 * the dirty pages it left are checkpointed, autovacuum of its tables is let
 * finish, and the machine falls quiet (busy below `quietPct` for a second).
 * Without it a steady-rate phase that follows a flat-out one measures the
 * flat-out phase's checkpoint and vacuum as its own latency. Bounded: a
 * machine that never falls quiet is measured anyway, and says so.
 */
export async function settle(pool: pg.Pool, { quietPct = QUIET_PCT, maxMs = 30_000 } = {}): Promise<Settled> {
  const started = Date.now();
  // Needs superuser or pg_checkpoint: without it, the wait for quiet still stands.
  await pool.query('CHECKPOINT').catch(() => undefined);
  let busyPct = 100;
  while (Date.now() - started < maxMs) {
    const { rows } = await pool.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'");
    const before = machineCpu();
    await sleep(1000);
    const after = machineCpu();
    busyPct = (100 * (after.busy - before.busy)) / Math.max(1e-9, after.total - before.total);
    if (Number(rows[0]?.n ?? 0) === 0 && busyPct < quietPct) break;
  }
  return { waitedMs: Date.now() - started, busyPct };
}
