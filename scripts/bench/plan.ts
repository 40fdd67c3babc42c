import type { Isolated } from '../lib/isolation.js';
import { bullmqCeilings, postgresCeilings, rabbitCeilings, type Ceiling } from './ceilings.js';
import { deploy, type BenchDeployment, type DeploySpec } from './deployment.js';
import type { BenchOptions } from './options.js';
import { fmtDuration } from './stats.js';
import { runPhase, type BenchContext, type PhaseResult, type PhaseSpec } from './phase.js';

export interface ScenarioSpec {
  label: string;
  kind: 'pipeline' | 'naive';
  /** The naive peer also charges through the simulator. */
  gateway?: boolean;
  workers: number;
  latency: string;
  concurrency: number;
}

export interface BenchResults {
  ceilings: Ceiling[];
  phases: PhaseResult[];
}

type Measure = (p: Pick<PhaseSpec, 'mode' | 'orders' | 'ratePerS' | 'window'>) => Promise<PhaseResult>;

/** Deploys a scenario, warms it up (JIT, pools, connections: not measured), runs `body`'s phases, stops it. */
export async function withScenario<T>(
  ctx: BenchContext & { iso: Isolated; o: BenchOptions; logDir: string },
  s: ScenarioSpec,
  body: (measure: Measure, d: BenchDeployment) => Promise<T>,
  extra: Partial<DeploySpec> = {},
): Promise<T> {
  ctx.say(`${s.label}: starting ${s.workers} ${s.kind === 'pipeline' ? 'worker' : 'naive peer'} process(es), concurrency ${s.concurrency}${s.kind === 'pipeline' ? `, gateway latency ${s.latency} ms` : ''}`);
  const d = await deploy(ctx.iso, { ...s, logLevel: ctx.o.logLevel, logDir: ctx.logDir, label: s.label.replace(/\W+/g, '-'), ...extra, env: { ...ctx.o.workerEnv, ...extra.env } });
  try {
    const warm = ctx.collector.phase(`${s.label} warm-up`, ctx.o.quick ? 100 : 300);
    await Promise.all([ctx.publisher.flatOut(warm, warm.expected), ctx.collector.done(warm)]);
    return await body(async (p) => {
      const label = `${s.label}, ${p.mode === 'flat' ? 'flat out' : `${Math.round(p.ratePerS!)}/s offered`}`;
      ctx.say(`${label}: ${p.orders} orders`);
      const r = await runPhase(ctx, d, { ...s, ...p, label });
      ctx.say(`${label}: ${Math.round(r.paymentsPerS)} payments/s, p50 ${fmtDuration(r.e2e.p50)}, p95 ${fmtDuration(r.e2e.p95)}`);
      return r;
    }, d);
  } finally {
    await d.stop();
  }
}

/** The whole benchmark: ceilings, the naive peer, the pipeline at 1 and 2 workers, zero and realistic gateway latency. */
export async function runBenchmark(ctx: BenchContext & { iso: Isolated; o: BenchOptions; logDir: string }): Promise<BenchResults> {
  const { o, iso } = ctx;
  // --only takes these names; "pipeline" means both the 2-worker and the 1-worker runs at gateway 0 ms.
  const part = (name: string) => !o.only || o.only.has(name) || (['p1', 'p2'].includes(name) && o.only.has('pipeline'));
  const n = o.orders;
  const out: BenchResults = { ceilings: [], phases: [] };
  const keep = (r: PhaseResult) => (out.phases.push(r), r);
  // A steady-load phase needs enough orders for its p99, not N: about 30 s of load (10 s with --quick), at most N/2.
  const [seconds, least] = o.quick ? [10, 300] : [30, 1000];
  const steady = (rate: number) => Math.min(Math.ceil(n / 2), Math.max(least, Math.round(rate * seconds)));
  const half = (flat: PhaseResult) => Math.max(1, Math.round(flat.paymentsPerS / 2));

  if (part('ceilings')) {
    ctx.say('ceilings: BullMQ');
    out.ceilings.push(...(await bullmqCeilings(iso.redisUrl, iso.queuePrefix, n)));
    ctx.say('ceilings: PostgreSQL');
    out.ceilings.push(...(await postgresCeilings(iso.databaseUrl, o.pgSeconds * 1000)));
    ctx.say('ceilings: RabbitMQ');
    out.ceilings.push(...(await rabbitCeilings(iso.amqpUrl, n)));
  }
  const naive: ScenarioSpec = { label: 'naive peer', kind: 'naive', workers: 1, latency: '0', concurrency: o.concurrency };
  if (part('naive')) {
    await withScenario(ctx, naive, async (m) => keep(await m({ mode: 'flat', orders: n })));
    // For reading the gap, not a target: the same peer plus the gateway call every payment makes (SDK, HTTP, simulator).
    const withGateway: ScenarioSpec = { ...naive, label: 'naive peer + gateway call', gateway: true };
    await withScenario(ctx, withGateway, async (m) => keep(await m({ mode: 'flat', orders: n })));
  }

  let rate = o.rate;
  const two: ScenarioSpec = { label: 'pipeline 2 workers, gateway 0 ms', kind: 'pipeline', workers: 2, latency: '0', concurrency: o.concurrency };
  if (part('p2')) {
    await withScenario(ctx, two, async (m) => {
      const flat = keep(await m({ mode: 'flat', orders: n }));
      rate ??= half(flat);
      keep(await m({ mode: 'offered', orders: steady(rate), ratePerS: rate }));
    });
    if (part('naive')) await withScenario(ctx, naive, async (m) => keep(await m({ mode: 'offered', orders: steady(rate!), ratePerS: rate! })));
  }
  if (part('p1')) {
    const one: ScenarioSpec = { ...two, label: 'pipeline 1 worker, gateway 0 ms', workers: 1 };
    await withScenario(ctx, one, async (m) => {
      const flat = keep(await m({ mode: 'flat', orders: n }));
      const r1 = o.rate ?? half(flat);
      keep(await m({ mode: 'offered', orders: steady(r1), ratePerS: r1 }));
    });
  }
  if (part('latency')) {
    const rates: number[] = [];
    for (const workers of [1, 2]) {
      const s: ScenarioSpec = { label: `pipeline ${workers} worker${workers > 1 ? 's' : ''}, gateway ${o.latency} ms`, kind: 'pipeline', workers, latency: o.latency, concurrency: o.latencyConcurrency };
      await withScenario(ctx, s, async (m) => {
        // Throughput here is concurrency / latency, the same at any N: half the orders shows it as well.
        const flat = keep(await m({ mode: 'flat', orders: Math.ceil(n / 2) }));
        rates.push(half(flat));
        keep(await m({ mode: 'offered', orders: steady(half(flat)), ratePerS: half(flat) }));
      });
    }
    if (part('naive')) {
      // The overhead's peer: the naive peer charging through the same slow simulator at the same offered rates,
      // with as many slots as the two workers have, so a slot is never what it waits for.
      const slow: ScenarioSpec = { ...naive, label: `naive peer + gateway call, gateway ${o.latency} ms`, gateway: true, latency: o.latency, concurrency: 2 * o.latencyConcurrency };
      await withScenario(ctx, slow, async (m) => {
        for (const rate of rates) keep(await m({ mode: 'offered', orders: steady(rate), ratePerS: rate }));
      });
    }
  }
  return out;
}
