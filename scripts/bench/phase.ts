import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Collector, Phase } from './collector.js';
import { gatewayMsByOrder, jobMarks, naiveGatewayMsByOrder, orderMarks } from './db-probes.js';
import type { BenchDeployment } from './deployment.js';
import type { Publisher } from './publisher.js';
import { bySecond, percentiles, type Percentiles, type Second } from './stats.js';
import { QUIET_PCT, settle } from './settle.js';
import { startUsage, type Usage } from './usage.js';

export interface BenchContext {
  /** The run's PostgreSQL database name (its backends' CPU is the service's). */
  database: string;
  collector: Collector;
  publisher: Publisher;
  pool: pg.Pool;
  redis: Redis;
  /** The run's BullMQ key prefix, for reading when each job was added and taken. */
  queuePrefix: string;
  /** QUEUE_SHARDS of the service under test: where its jobs are read from. */
  queueShards: number;
  say(line: string): void;
}

export interface PhaseSpec {
  label: string;
  kind: 'pipeline' | 'naive';
  /** The naive peer also charges through the simulator. */
  gateway?: boolean;
  workers: number;
  latency: string;
  concurrency: number;
  mode: 'flat' | 'offered';
  orders: number;
  /** For `offered`: events per second. */
  ratePerS?: number;
  /** For `flat`: at most this many orders in flight (a soak's bounded backlog). */
  window?: number;
}

export interface Stage {
  name: string;
  ms: Percentiles;
}

export interface PhaseResult extends PhaseSpec {
  paymentsPerS: number;
  e2e: Percentiles;
  usage: Usage;
  /** Gateway time per order and end to end minus it (the pipeline, and the naive peer when it charges). */
  gatewayMs?: Percentiles;
  meanGatewayMs?: number;
  overheadMs?: Percentiles;
  stages?: Stage[];
  /**
   * Offered phases: the figure their check reads (end to end; with gateway
   * latency, the overhead), second by second of publishing.
   */
  perSecond?: { figure: 'end to end' | 'overhead'; seconds: Second[] };
  distinctDuplicates: number;
  redeliveries: number;
  types: Record<string, number>;
}

/** Publishes one phase's orders, waits for every terminal event, and measures it. */
export async function runPhase(ctx: BenchContext, d: BenchDeployment, spec: PhaseSpec): Promise<PhaseResult> {
  const quiet = await settle(ctx.pool);
  if (quiet.busyPct >= QUIET_PCT) ctx.say(`  ${spec.label}: the machine was still ${Math.round(quiet.busyPct)}% busy after ${quiet.waitedMs} ms; measured anyway`);
  const phase = ctx.collector.phase(spec.label, spec.orders);
  const usage = startUsage([...d.workers, ...(d.simulator ? [d.simulator] : [])], ctx.pool, ctx.redis, ctx.database);
  const publishing = spec.mode === 'flat' ? ctx.publisher.flatOut(phase, spec.orders, 100, spec.window) : ctx.publisher.offered(phase, spec.orders, spec.ratePerS!);
  let lastSaid = Date.now();
  await Promise.all([
    publishing,
    ctx.collector.done(phase, 90_000, (n) => {
      if (Date.now() - lastSaid < 5000) return;
      lastSaid = Date.now();
      ctx.say(`  ${spec.label}: ${n}/${spec.orders}`);
    }),
  ]);
  const used = await usage.finish(spec.orders);
  const latencies = latenciesOf(phase);
  // Loops, not Math.min(...values): a soak phase has more values than a call may take arguments.
  let firstSent = Infinity;
  let lastReceived = -Infinity;
  for (const t of phase.sentAt.values()) firstSent = Math.min(firstSent, t);
  for (const t of phase.receivedAt.values()) lastReceived = Math.max(lastReceived, t);
  const result: PhaseResult = {
    ...spec,
    paymentsPerS: spec.orders / ((lastReceived - firstSent) / 1000),
    e2e: percentiles([...latencies.values()]),
    usage: used,
    distinctDuplicates: phase.distinctDuplicates,
    redeliveries: phase.redeliveries,
    types: phase.types,
  };
  let overhead: Map<string, number> | undefined;
  if (spec.kind === 'pipeline') {
    const t = await timings(ctx, phase, latencies);
    overhead = t.overhead;
    Object.assign(result, t.figures);
  } else if (spec.gateway) {
    const g = gatewayFigures(await naiveGatewayMsByOrder(ctx.pool, [...phase.sentAt.keys()]), latencies);
    overhead = g.overhead;
    Object.assign(result, g.figures);
  }
  if (spec.mode === 'offered') {
    result.perSecond = spec.latency !== '0' && overhead?.size
      ? { figure: 'overhead', seconds: bySecond(phase.sentAt, overhead) }
      : { figure: 'end to end', seconds: bySecond(phase.sentAt, latencies) };
  }
  return result;
}

function latenciesOf(phase: Phase): Map<string, number> {
  const out = new Map<string, number>();
  for (const [orderId, at] of phase.receivedAt) out.set(orderId, at - phase.sentAt.get(orderId)!);
  return out;
}

/** Gateway time, the worker's own overhead, and the stages between the service's timestamps. */
async function timings(ctx: Pick<BenchContext, 'pool' | 'redis' | 'queuePrefix' | 'queueShards'>, phase: Phase, latencies: Map<string, number>) {
  const ids = [...phase.sentAt.keys()];
  const [gateway, marks, jobs] = await Promise.all([gatewayMsByOrder(ctx.pool, ids), orderMarks(ctx.pool, ids), jobMarks(ctx.redis, ctx.queuePrefix, ids, ctx.queueShards)]);
  const { overhead, figures } = gatewayFigures(gateway, latencies);
  const cols: Record<string, number[]> = {};
  const add = (name: string, v: number | undefined) => {
    if (v !== undefined && Number.isFinite(v)) (cols[name] ??= []).push(v);
  };
  for (const [orderId, m] of marks) {
    const sent = phase.sentAt.get(orderId)!;
    const received = phase.receivedAt.get(orderId);
    add('published → consumer insert txn', m.created - sent);
    add('insert txn → Processing txn', m.processing !== undefined ? m.processing - m.created : undefined);
    // BullMQ's own stamps (the job hash's timestamp and processedOn): the enqueue, the wait for a worker, and the load.
    const job = jobs.get(orderId);
    add('  insert txn → job added', job?.added !== undefined ? job.added - m.created : undefined);
    add('  job added → job active', job?.added !== undefined && job.active !== undefined ? job.active - job.added : undefined);
    add('  job active → Processing txn', job?.active !== undefined && m.processing !== undefined ? m.processing - job.active : undefined);
    add('Processing txn → terminal txn', m.terminal !== undefined && m.processing !== undefined ? m.terminal - m.processing : undefined);
    add('  of which gateway call', gateway.get(orderId));
    // Published right after the commit (the relay only for leftovers): one stage, publish and confirm included.
    add('terminal txn → event received', received !== undefined && m.terminal !== undefined ? received - m.terminal : undefined);
  }
  return {
    overhead,
    figures: { ...figures, stages: Object.entries(cols).map(([name, values]) => ({ name, ms: percentiles(values) })) },
  };
}

/** Each order's end to end minus its gateway time (orders without a recorded call are left out), and their spread. */
function gatewayFigures(gateway: Map<string, number>, latencies: Map<string, number>) {
  const overhead = new Map<string, number>();
  for (const [orderId, e2e] of latencies) {
    const g = gateway.get(orderId);
    if (g !== undefined) overhead.set(orderId, e2e - g);
  }
  const gatewayValues = [...gateway.values()];
  return {
    overhead,
    figures: {
      gatewayMs: percentiles(gatewayValues),
      meanGatewayMs: gatewayValues.reduce((a, b) => a + b, 0) / Math.max(1, gatewayValues.length),
      overheadMs: percentiles([...overhead.values()]),
    },
  };
}
