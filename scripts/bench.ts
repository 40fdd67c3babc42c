// `npm run bench`: the benchmark of CONTRACT.md §7. In a fresh
// isolated setup (its own database, vhost and Redis prefix, removed at the
// end, also on failure or Ctrl-C) it measures the parts' raw ceilings, the
// naive peer, and the service at 1 and 2 workers with the gateway simulator
// at 0 ms and at 50-300 ms (the naive peer again, charging through the slow
// simulator at the same offered rates); prints the tables; the last line is
// the JSON.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { runCli, UserFacingError } from '../src/cli.js';
import { ensureServices } from '../src/preflight.js';
import { servicesOf } from '../src/services.js';
import type { Isolated } from './lib/isolation.js';
import { startCollector } from './bench/collector.js';
import { isolateBench } from './bench/isolation.js';
import { liveChildren } from './bench/deployment.js';
import { parseOptions, UsageError, type BenchOptions } from './bench/options.js';
import { runBenchmark } from './bench/plan.js';
import { runProfile } from './bench/profile.js';
import { startPublisher } from './bench/publisher.js';
import { printBenchmark } from './bench/print.js';
import { runSoak } from './bench/soak.js';

const t0 = performance.now();
const say = (line: string) => process.stderr.write(`bench [${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s]: ${line}\n`);

await runCli('bench', async () => {
  let o: BenchOptions;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) throw new UserFacingError(err.message);
    throw err;
  }
  const config = loadConfig();
  const problems = await ensureServices(servicesOf(config), say);
  if (problems.length) throw new UserFacingError(problems.join('; '));

  const logDir = mkdtempSync(path.join(tmpdir(), 'payment-bench-'));
  let iso: Isolated | undefined;
  // The benchmark's own connections: closed before the database and vhost are dropped under them.
  const closers: Array<() => Promise<unknown>> = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await Promise.allSettled([...liveChildren].map((c) => c.stop('SIGKILL')));
      await Promise.allSettled(closers.map((close) => close()));
      await iso?.cleanup();
    })());
  const stopNow = (why: string, code: number) => {
    if (cleaning) return; // already on the way out: a connection dropped by the cleanup is no news
    say(why);
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => stopNow('SIGINT: stopping the processes and removing the isolated setup', 130));
  process.once('SIGTERM', () => stopNow('SIGTERM: stopping the processes and removing the isolated setup', 143));
  process.on('unhandledRejection', (err) => stopNow(`unexpected failure: ${(err as Error)?.stack ?? String(err)}`, 1));
  process.on('uncaughtException', (err) => stopNow(`unexpected failure: ${err?.stack ?? String(err)}`, 1));
  // Last resort when the process dies anyway: no worker outlives the benchmark.
  process.once('exit', () => {
    for (const c of liveChildren) c.child.kill('SIGKILL');
  });

  let failed = true;
  try {
    iso = await isolateBench();
    say(`isolated setup ${iso.tag} (database ${new URL(iso.databaseUrl).pathname.slice(1)}, vhost ${iso.vhost}, Redis prefix ${iso.queuePrefix}); logs in ${logDir}`);
    // Connections kept open (no idle timeout): on a shared PostgreSQL near max_connections, reconnecting may fail.
    const pool = new pg.Pool({ connectionString: iso.databaseUrl, max: 2, idleTimeoutMillis: 0 });
    pool.on('error', () => {}); // an idle connection cut (the database dropped at the end) is not a failure
    closers.push(() => pool.end());
    const redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: 3 });
    closers.push(async () => redis.disconnect());
    const collector = await startCollector(iso.amqpUrl, 'bench.terminal-events');
    closers.push(() => collector.close());
    const publisher = await startPublisher(iso.amqpUrl);
    closers.push(() => publisher.close());
    const database = decodeURIComponent(new URL(iso.databaseUrl).pathname.slice(1));
    // The workers inherit this environment, and --worker-env on top of it.
    const queueShards = loadConfig({ ...process.env, ...o.workerEnv }).QUEUE_SHARDS;
    const ctx = { iso, o, logDir, database, collector, publisher, pool, redis, queuePrefix: iso.queuePrefix, queueShards, say };
    const load = loadavg()[0]!.toFixed(2);
    const about = `${availableParallelism()} cores, load average ${load} at start, node ${process.version}, LOG_LEVEL=${o.logLevel}`;
    if (o.soak) console.log(await runSoak(ctx, about));
    else if (o.profile) console.log(await runProfile(ctx, about));
    else printBenchmark(await runBenchmark(ctx), o, about);
    failed = false;
  } finally {
    await cleanup();
    if (!failed && !o.keepLogs) rmSync(logDir, { recursive: true, force: true });
    else say(`process logs kept in ${logDir}`);
  }
});
