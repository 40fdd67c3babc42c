import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Isolated } from '../lib/isolation.js';
import { summarizeProfile } from './cpu-profile.js';
import type { BenchOptions } from './options.js';
import type { BenchContext, PhaseResult } from './phase.js';
import { withScenario } from './plan.js';
import { fmtDuration, fmtRate } from './stats.js';
import { table } from './table.js';
import { startPgWireCounter, startRedisCommandCounter } from './wire-counters.js';
import { shardPrefixes } from '../../src/queues/queue-shards.js';

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * `--profile`: where a worker's time goes. One worker, gateway 0 ms (or
 * `--profile-latency`), flat out (or at `--rate` offered: where a payment's
 * cost goes when batches are small),
 * with `node --cpu-prof`, PostgreSQL behind a proxy that counts round trips
 * and statements, and Redis MONITOR counting commands on the run's keys. The
 * proxy and MONITOR slow things down: read the counts and the CPU split, not
 * the throughput.
 */
export async function runProfile(ctx: BenchContext & { iso: Isolated; o: BenchOptions; logDir: string }, about: string): Promise<string> {
  const { o, iso } = ctx;
  const profDir = path.join(ctx.logDir, 'cpu-profiles');
  const db = new URL(iso.databaseUrl);
  const proxy = await startPgWireCounter({ host: db.hostname, port: Number(db.port) || 5432 });
  db.port = String(proxy.port);
  const spec = { label: `profile: pipeline 1 worker, gateway ${o.profileLatency} ms`, kind: 'pipeline' as const, workers: 1, latency: o.profileLatency, concurrency: o.concurrency };
  let window = { from: 0, to: 0 };
  let result: PhaseResult | undefined;
  let wire = { roundTrips: 0, statements: new Map<string, number>(), redis: new Map<string, number>(), scriptCalls: 0 };
  try {
    await withScenario(ctx, spec, async (measure) => {
      const rt = proxy.roundTrips();
      const st = proxy.statements();
      const redis = await startRedisCommandCounter(iso.redisUrl, shardPrefixes(iso.queuePrefix, ctx.queueShards), ctx.redis.stream?.localPort);
      window.from = monotonicUs();
      try {
        result = await measure(o.rate ? { mode: 'offered', orders: o.orders, ratePerS: o.rate } : { mode: 'flat', orders: o.orders });
      } finally {
        window.to = monotonicUs();
        wire = { roundTrips: proxy.roundTrips() - rt, statements: minus(proxy.statements(), st), redis: redis.counts(), scriptCalls: redis.scriptCalls() };
        await redis.close();
      }
    }, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=500'], env: { DATABASE_URL: db.toString() } });
  } finally {
    await proxy.close();
  }
  const n = o.orders;
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (tsx's loader runs on another).
  const file = readdirSync(profDir).find((f) => /\.0\.\d+\.cpuprofile$/.test(f));
  const prof = file ? summarizeProfile(path.join(profDir, file), 25, window) : undefined;
  const per = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, (v / n).toFixed(2)]);
  const out = [
    `\nprofile: ${n.toLocaleString('en-US')} orders, 1 worker, ${o.rate ? `${o.rate}/s offered` : 'flat out'}, WORKER_CONCURRENCY ${o.concurrency}, gateway ${o.profileLatency} ms; ${about}`,
    `(PostgreSQL through a counting proxy and Redis under MONITOR: throughput here is not the benchmark's)`,
    `${fmtRate(result?.paymentsPerS)} payments/s; worker CPU ${result?.usage.processes[0]?.msPerPayment.toFixed(2)} ms per payment; p50 ${fmtDuration(result?.e2e.p50)}\n`,
    `PostgreSQL round trips per payment: ${(wire.roundTrips / n).toFixed(2)} (each simple Query or Sync = one wait for ReadyForQuery)`,
    table(['SQL statement (as sent)', 'per payment'], per(wire.statements)),
    '',
    `Redis commands per payment on the run's keys: ${([...wire.redis.values()].reduce((a, b) => a + b, 0) / n).toFixed(2)} sent by clients, ${(wire.scriptCalls / n).toFixed(1)} run inside Lua scripts`,
    table(['Redis command', 'per payment'], per(wire.redis)),
  ];
  if (prof) {
    const ms = (rows: Array<[string, number]>) => rows.map(([k, v]) => [k, v.toFixed(0), `${((100 * v) / prof.busyMs).toFixed(1)}%`, (v / n).toFixed(3)]);
    out.push(
      '',
      `worker CPU profile ${prof.windowed ? 'during the measured phase' : '(whole process life: the phase window matched no sample)'} (${path.join(profDir, file!)}): ${prof.busyMs.toFixed(0)} ms busy, ${prof.idleMs.toFixed(0)} ms idle`,
      table(['self time by part', 'ms', 'share', 'ms/payment'], ms(prof.self.slice(0, 20))),
      '',
      table(['inclusive (on the synchronous stack)', 'ms', 'share', 'ms/payment'], ms(prof.inclusive.slice(0, 20))),
      '',
      table(['hottest functions (self)', 'ms', 'share', 'ms/payment'], ms(prof.topFunctions.slice(0, 25))),
    );
  }
  const redisSent = [...wire.redis.values()].reduce((a, b) => a + b, 0);
  out.push('', JSON.stringify({
    profile_orders: n,
    worker_cpu_ms_per_payment: Number(result?.usage.processes[0]?.msPerPayment.toFixed(3) ?? 0),
    pg_round_trips_per_payment: Number((wire.roundTrips / n).toFixed(2)),
    redis_commands_per_payment: Number((redisSent / n).toFixed(2)),
  }));
  return out.join('\n');
}

function minus(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) > 0) out.set(k, v - (before.get(k) ?? 0));
  return out;
}
