import { availableParallelism } from 'node:os';
import type { Ceiling } from './ceilings.js';
import type { BenchResults } from './plan.js';
import type { PhaseResult } from './phase.js';
import { fmtMs, fmtRate, fmtRatio, type Second } from './stats.js';
import { table } from './table.js';

/** The parts every payment uses at least once each: the slowest of them bounds payments/s. */
const PER_PAYMENT_PARTS = ['bullmq_noop', 'pg_commit_10', 'rabbit_pub_quorum_100', 'rabbit_consume_quorum'];

export function paymentCeiling(ceilings: Ceiling[]): Ceiling | undefined {
  const parts = ceilings.filter((c) => PER_PAYMENT_PARTS.includes(c.key));
  return parts.length ? parts.reduce((a, b) => (b.perS < a.perS ? b : a)) : undefined;
}

/** With a gateway latency, throughput cannot beat workers × concurrency / mean gateway time. */
export function concurrencyBound(p: PhaseResult): number | undefined {
  if (p.kind !== 'pipeline' || p.latency === '0' || !p.meanGatewayMs) return undefined;
  return (p.workers * p.concurrency * 1000) / p.meanGatewayMs;
}

export const naiveFlat = (r: BenchResults) => r.phases.find((p) => p.kind === 'naive' && p.mode === 'flat');
/** The naive peer at the same offered rate and gateway latency as `p` (which may be that peer itself). */
export const naiveAt = (r: BenchResults, p: Pick<PhaseResult, 'ratePerS' | 'latency'>) =>
  r.phases.find((x) => x.kind === 'naive' && x.mode === 'offered' && x.ratePerS === p.ratePerS && x.latency === p.latency);

export function ceilingsTable(r: BenchResults): string {
  const ceiling = paymentCeiling(r.ceilings);
  const rows = r.ceilings.map((c) => [c.label, fmtRate(c.perS)]);
  const note = ceiling
    ? `ceiling for payments/s = ${fmtRate(ceiling.perS)} (${ceiling.label}): the slowest of the parts a payment uses at least once each (BullMQ no-op, PostgreSQL commits on 10 connections, RabbitMQ publish with confirms per 100 and consume, quorum queue), each measured alone with both cores to itself`
    : 'no ceilings measured (--only)';
  return `${table(['ceiling (each part alone, this run)', 'per second'], rows)}\n${note}`;
}

export function endToEndTable(r: BenchResults): string {
  const ceiling = paymentCeiling(r.ceilings);
  const naive = naiveFlat(r);
  const rows = r.phases.map((p) => {
    const bound = concurrencyBound(p);
    // At an offered rate, payments/s is the rate itself: no ratio to make.
    const flat = p.mode === 'flat';
    const vsCeiling = !flat ? '-' : bound ? `${fmtRatio(p.paymentsPerS / bound)}*` : ceiling ? fmtRatio(p.paymentsPerS / ceiling.perS) : '-';
    const peer = !flat && p.kind === 'pipeline' ? naiveAt(r, p) : undefined;
    return [
      p.label,
      fmtRate(p.paymentsPerS),
      vsCeiling,
      flat && naive && p.latency === '0' ? fmtRatio(p.paymentsPerS / naive.paymentsPerS) : '-',
      fmtMs(p.e2e.p50),
      fmtMs(p.e2e.p95),
      fmtMs(p.e2e.p99),
      peer ? fmtRatio(p.e2e.p95 / peer.e2e.p95) : '-',
      p.distinctDuplicates ? `${p.distinctDuplicates} DUPLICATES` : 'ok',
    ];
  });
  return [
    table(['end to end (published → terminal event received)', 'payments/s', 'vs ceiling', 'vs naive', 'p50 ms', 'p95 ms', 'p99 ms', 'p95 vs naive', 'one event/order'], rows),
    '* with gateway latency the ceiling is the concurrency bound: workers × WORKER_CONCURRENCY / mean gateway time.',
    '  "vs naive": against the naive peer flat out; "p95 vs naive": against the naive peer at the same offered rate.',
    '  Flat out, latency is mostly the wait behind the N orders published at once; read latency from the offered rows.',
  ].join('\n');
}

export function resourcesTable(r: BenchResults): string {
  const rows = r.phases.map((p) => {
    // The peer under the same load: flat out against flat out, the same offered rate against it.
    const naive = p.mode === 'flat' ? naiveFlat(r) : naiveAt(r, p);
    const naiveRss = naive?.usage.processes.find((x) => x.name === 'naive')?.peakRssMb;
    const naiveCpu = naive?.usage.processes.find((x) => x.name === 'naive')?.msPerPayment;
    const u = p.usage;
    const by = (name: string) => u.processes.find((x) => x.name === name);
    const workers = u.processes.filter((x) => x.name.startsWith('worker') || x.name === 'naive');
    const cell = (name: string) => {
      const x = by(name);
      return x ? `${Math.round(x.cpuPct)}% ${x.msPerPayment.toFixed(2)}` : '-';
    };
    const workerMs = workers.reduce((a, x) => a + x.msPerPayment, 0);
    const rss = workers.map((x) => (x.peakRssMb === undefined ? '?' : Math.round(x.peakRssMb))).join('/');
    const maxRss = Math.max(...workers.map((x) => x.peakRssMb ?? 0));
    return [
      p.label,
      workers.map((x) => `${Math.round(x.cpuPct)}%`).join('+'),
      workers.map((x) => (x.waitedPct === undefined ? '?' : `${Math.round(x.waitedPct)}%`)).join('+'),
      workerMs.toFixed(2),
      naiveCpu ? fmtRatio(workerMs / naiveCpu) : '-',
      cell('simulator'), cell('postgres'), cell('redis'), cell('rabbitmq'), cell('bench'),
      `${Math.round(u.machineBusyPct)}%`,
      `${Math.round(u.othersPct)}%`,
      rss,
      naiveRss ? fmtRatio(maxRss / naiveRss) : '-',
      u.pgTxnPerPayment.toFixed(1),
      u.pgRowWritesPerPayment.toFixed(1),
      u.redisCmdsPerPayment.toFixed(1),
      String(u.pgConnectionsPeak),
      ...cpuBudget(p),
    ];
  });
  return [
    table(['CPU and memory', 'worker cpu', 'waited', 'ms/pay', 'vs naive', 'simulator', 'postgres', 'redis', 'rabbitmq', 'bench', 'machine', 'others', 'peak RSS MB', 'vs naive', 'PG txn/pay', 'rows/pay', 'Redis cmd/pay', 'PG conns', 'CPU ms/pay', 'CPU bound/s'], rows),
    'CPU: % of one core over the phase, then CPU ms per payment; "vs naive": the naive peer flat out, or at the same offered rate. machine: both cores busy, of 200%; others: busy time',
    'none of the listed processes used (other programs on the machine: noise). Peak RSS: VmHWM of each worker process during the phase.',
    'PG txn and row writes: pg_stat_database of the run\'s own database. Redis commands: INFO commandstats (server-wide:',
    'anything else using this Redis at the time counts too). PG conns: most connections to the run\'s database at once.',
    'postgres: the backends of the run\'s own database only; redis and rabbitmq: the whole server (other users count too).',
    'CPU ms/pay: the service\'s whole CPU per payment (workers or peer, simulator, PostgreSQL, Redis, RabbitMQ; not the benchmark);',
    'CPU bound/s: what the cores could do at that cost if nothing else ran (cores × 1000 / CPU ms/pay).',
    'waited: % of the phase each worker\'s (or the peer\'s) main thread was ready to run with no core free (/proc/<pid>/task/<pid>/schedstat):',
    'its event loop\'s wait for the machine; high figures mean every hop queues for a core, whatever the service\'s own code does.',
  ].join('\n');
}

/** All the CPU one payment costs the system under test, and the throughput the cores allow at that cost. */
function cpuBudget(p: PhaseResult): [string, string] {
  const total = p.usage.processes.filter((x) => x.name !== 'bench').reduce((a, x) => a + x.msPerPayment, 0);
  return [total.toFixed(2), fmtRate((availableParallelism() * 1000) / total)];
}

export function stagesTable(r: BenchResults): string {
  const phases = r.phases.filter((p) => p.stages?.length);
  if (!phases.length) return '';
  const names = phases[0]!.stages!.map((s) => s.name);
  const rows = names.map((name) => [name, ...phases.map((p) => {
    const s = p.stages!.find((x) => x.name === name);
    return s ? `${fmtMs(s.ms.p50)} / ${fmtMs(s.ms.p95)}` : '-';
  })]);
  const short = (l: string) => l.replace('pipeline ', '').replace(', gateway ', ' ').replace(' offered', '');
  return [
    table(['where the time goes, ms p50 / p95', ...phases.map((p) => short(p.label))], rows),
    'Marks are the service\'s own timestamps (PostgreSQL now(): each step\'s transaction start) and the benchmark\'s send/receive times.',
  ].join('\n');
}

export function latencyTable(r: BenchResults): string {
  const phases = r.phases.filter((p) => p.latency !== '0' && p.overheadMs);
  if (!phases.length) return '';
  const rows = phases.map((p) => {
    const peer = p.kind === 'pipeline' && p.mode === 'offered' ? naiveAt(r, p) : undefined;
    const bound = concurrencyBound(p);
    return [
      p.label,
      `${fmtMs(p.gatewayMs!.p50)} / ${fmtMs(p.gatewayMs!.p95)} / ${fmtMs(p.gatewayMs!.p99)}`,
      `${fmtMs(p.e2e.p50)} / ${fmtMs(p.e2e.p95)} / ${fmtMs(p.e2e.p99)}`,
      `${fmtMs(p.overheadMs!.p50)} / ${fmtMs(p.overheadMs!.p95)} / ${fmtMs(p.overheadMs!.p99)}`,
      peer?.overheadMs ? fmtRatio(p.overheadMs!.p95 / peer.overheadMs.p95) : '-',
      bound ? `${fmtRate(p.paymentsPerS)} of ${fmtRate(bound)}` : '-',
    ];
  });
  return [
    table(['gateway latency runs', 'gateway ms p50/p95/p99', 'end to end', 'overhead (e2e - gateway)', 'overhead p95 vs naive', 'payments/s of bound'], rows),
    'Gateway time per order: the durations of its gateway calls the worker recorded (payment_transitions.detail.gatewayCalls);',
    'for the naive peer, its one charge call as it timed it. "overhead p95 vs naive": against the naive peer charging through the',
    'same simulator at the same offered rate (no state machine, no outbox, no dedupe: the floor this machine sets for the hops).',
    'Flat out, "overhead" includes the wait for a free concurrency slot; the offered rows show the worker\'s own overhead.',
  ].join('\n');
}

/** The p95 each offered phase's check holds its figure to: end to end 100 ms, the overhead 20 ms. */
const P95_LIMIT_MS = { 'end to end': 100, overhead: 20 } as const;

/** The smallest, the median (the lower one of an even count) and the largest of some figures. */
function spread(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0] ?? NaN, median: sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN, max: sorted[sorted.length - 1] ?? NaN };
}
const fmtSpread = ({ min, median, max }: ReturnType<typeof spread>) => `${fmtMs(min)} / ${fmtMs(median)} / ${fmtMs(max)}`;

/** A phase's seconds read against its limit: how many broke it, and the spread of their p95s. */
export function secondsSummary(seconds: Second[], limitMs: number) {
  return { seconds: seconds.length, over: seconds.filter((s) => s.p95 >= limitMs).length, ...spread(seconds.map((s) => s.p95)) };
}

/**
 * Offered phases second by second: a p95 missed in a few bad seconds (a
 * spike: a pause, a neighbour) reads differently from one missed in every
 * second (the whole phase ran slow). Each phase's per-second p95s follow
 * the table in publishing order.
 */
export function secondsTable(r: BenchResults): string {
  const phases = r.phases.filter((p) => p.perSecond?.seconds.length);
  if (!phases.length) return '';
  const rows = phases.map((p) => {
    const { figure, seconds } = p.perSecond!;
    const limit = P95_LIMIT_MS[figure];
    const s = secondsSummary(seconds, limit);
    return [p.label, figure, String(s.seconds), fmtSpread(spread(seconds.map((x) => x.p50))), fmtSpread(s), `${s.over} (${limit} ms)`];
  });
  const series = phases.map((p) => `  ${p.label}, ${p.perSecond!.figure} p95 by second: ${p.perSecond!.seconds.map((x) => Math.round(x.p95)).join(' ')}`);
  return [
    table(['offered phases, second by second', 'figure', 'seconds', 'p50 of a second min/median/max', 'p95 of a second min/median/max', 'seconds with p95 over'], rows),
    'Each second holds the orders published in it. With gateway latency the figure is the worker\'s overhead (end to end - gateway).',
    ...series,
  ].join('\n');
}
