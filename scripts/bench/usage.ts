import { availableParallelism } from 'node:os';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Child } from './child.js';
import { diffCounts, pgCounters, redisCommandCounts, type PgCounters } from './db-probes.js';
import { cpuSeconds, machineCpu, mainThreadSched, peakRssMb, postgresBackendsCpu, resetPeakRss, servicesCpu, type ServiceName, type ThreadSched } from './proc-stats.js';

/** CPU and memory of one process (or service) over a phase. */
export interface ProcessUse {
  name: string;
  /** Percent of one core, averaged over the phase. */
  cpuPct: number;
  /** CPU milliseconds spent per payment. */
  msPerPayment: number;
  peakRssMb?: number;
  /** Percent of the phase its main thread spent ready to run with no core free (our own processes only). */
  waitedPct?: number;
}

export interface Usage {
  processes: ProcessUse[];
  /** All cores together: 200 % is a saturated 2-core machine. */
  machineBusyPct: number;
  /** Busy time no measured process accounts for: other programs on the machine (noise). */
  othersPct: number;
  pgTxnPerPayment: number;
  pgRowWritesPerPayment: number;
  redisCmdsPerPayment: number;
  redisTop: Array<[string, number]>;
  /** Most connections to the run's database seen at once (sampled every 250 ms). */
  pgConnectionsPeak: number;
}

interface Snapshot {
  at: number;
  children: Map<string, number>;
  /** Each child's main thread, for its run-queue wait. */
  sched: Map<string, ThreadSched | undefined>;
  bench: NodeJS.CpuUsage;
  services: Record<ServiceName, number>;
  /** Our database's backends only, by pid. */
  backends: Map<number, number>;
  machine: { busy: number; total: number };
}

/** Starts measuring `children` (workers, simulator); `finish` gives the phase's figures per payment. */
export function startUsage(children: Child[], pool: pg.Pool, redis: Redis, database: string) {
  const take = (): Snapshot => ({
    backends: postgresBackendsCpu(database),
    at: performance.now(),
    children: new Map(children.map((c) => [c.name, cpuSeconds(c.pid) ?? 0])),
    sched: new Map(children.map((c) => [c.name, mainThreadSched(c.pid)])),
    bench: process.cpuUsage(),
    services: servicesCpu(),
    machine: machineCpu(),
  });
  for (const c of children) resetPeakRss(c.pid);
  const countersBefore = Promise.all([pgCounters(pool), redisCommandCounts(redis)]);
  countersBefore.catch(() => {}); // awaited in finish(); this only keeps an early failure from crashing the process
  const before = take();
  let pgConnectionsPeak = 0;
  const sampler = setInterval(() => {
    pool.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()').then(
      (r) => (pgConnectionsPeak = Math.max(pgConnectionsPeak, (r.rows[0] as { n: number }).n)),
      () => {},
    );
  }, 250);

  return {
    /** Call right when the phase's last terminal event arrived; `settleMs` later the database's counters are read. */
    async finish(payments: number, settleMs = 1100): Promise<Usage> {
      const after = take();
      clearInterval(sampler);
      const peaks = new Map(children.map((c) => [c.name, peakRssMb(c.pid)]));
      const wallS = (after.at - before.at) / 1000;
      const use = (name: string, cpuS: number, peak?: number, waitedS?: number): ProcessUse => ({
        name,
        cpuPct: (100 * cpuS) / wallS,
        msPerPayment: (1000 * cpuS) / payments,
        ...(peak !== undefined ? { peakRssMb: peak } : {}),
        ...(waitedS !== undefined ? { waitedPct: (100 * waitedS) / wallS } : {}),
      });
      const waited = (name: string) => {
        const [a, b] = [before.sched.get(name), after.sched.get(name)];
        return a && b ? b.waitS - a.waitS : undefined;
      };
      const processes = children.map((c) =>
        use(c.name, (after.children.get(c.name) ?? 0) - (before.children.get(c.name) ?? 0), peaks.get(c.name), waited(c.name)));
      const benchS = (after.bench.user + after.bench.system - before.bench.user - before.bench.system) / 1e6;
      processes.push(use('bench', benchS));
      // A backend that connected during the phase counts from zero; one that disconnected during it is missed.
      let backendsS = 0;
      for (const [pid, cpu] of after.backends) backendsS += cpu - (before.backends.get(pid) ?? 0);
      processes.push(use('postgres', backendsS));
      for (const s of ['redis', 'rabbitmq'] as const) processes.push(use(s, after.services[s] - before.services[s]));
      const machineBusyPct = (100 * availableParallelism() * (after.machine.busy - before.machine.busy)) / (after.machine.total - before.machine.total);

      await new Promise((r) => setTimeout(r, settleMs));
      const [pgBefore, redisBefore] = await countersBefore;
      const [pgAfter, redisAfter] = await Promise.all([pgCounters(pool), redisCommandCounts(redis)]);
      const redisDiff = diffCounts(redisBefore, redisAfter);
      const redisTotal = [...redisDiff.values()].reduce((a, b) => a + b, 0);
      const per = (k: keyof PgCounters) => (pgAfter[k] - pgBefore[k]) / payments;
      return {
        processes,
        machineBusyPct,
        othersPct: Math.max(0, machineBusyPct - processes.reduce((a, p) => a + p.cpuPct, 0)),
        pgTxnPerPayment: per('commits') + per('rollbacks'),
        pgRowWritesPerPayment: per('inserted') + per('updated'),
        redisCmdsPerPayment: redisTotal / payments,
        pgConnectionsPeak,
        redisTop: [...redisDiff.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => [k, v / payments]),
      };
    },
  };
}
