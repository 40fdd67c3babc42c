// `npm run chaos`: 1,000 orders through three workers (and 300 more that are
// cancelled and refunded, CONTRACT.md §8) while processes,
// connections, Redis data and the gateway fail on a seeded schedule; prints
// the faults injected, the invariants checked and the figures, and exits
// non-zero on any violation. Options: --orders N, --duration S (the fault
// window), --workers N, --seed N (repeat a run), --each-once (one fault of
// each kind instead of a mix), --logs DIR (keep every process's output),
// --faults kind,kind (only those kinds, to narrow a failure down),
// --compensations N (orders of their own cancelled and refunded meanwhile;
// 30% of --orders by default), --redis-cluster (the queues on a throwaway
// local Redis Cluster of three masters with a replica each, QUEUE_SHARDS=3,
// and one master SIGKILLed instead of the Redis wipe).
import { parseArgs } from 'node:util';
import { runCli, UserFacingError } from '../src/cli.js';
import { randomSeed } from '../src/gateway/simulator/prng.js';
import { ensureServices } from '../src/preflight.js';
import { servicesOf } from '../src/services.js';
import { ALL_FAULT_KINDS, type FaultKind } from './chaos/fault-plan.js';
import { DEFAULT_CHAOS_OPTIONS, runChaos } from './chaos/run-chaos.js';

function faultKinds(list: string): FaultKind[] {
  const kinds = list.split(',').map((k) => k.trim());
  const unknown = kinds.filter((k) => !(ALL_FAULT_KINDS as readonly string[]).includes(k));
  if (unknown.length) throw new UserFacingError(`--faults: unknown kind(s) ${unknown.join(', ')}; known: ${ALL_FAULT_KINDS.join(', ')}`);
  return kinds as FaultKind[];
}

await runCli('chaos', async () => {
  const { values } = parseArgs({
    options: {
      orders: { type: 'string' },
      duration: { type: 'string' },
      workers: { type: 'string' },
      seed: { type: 'string' },
      'each-once': { type: 'boolean' },
      logs: { type: 'string' },
      faults: { type: 'string' },
      compensations: { type: 'string' },
      'redis-cluster': { type: 'boolean' },
    },
  });
  const number = (name: string, value: string | undefined, fallback: number, min: number) => {
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min) throw new UserFacingError(`--${name} must be a whole number of at least ${min}`);
    return Number(value);
  };
  const problems = await ensureServices(
    servicesOf({
      DATABASE_URL: process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      AMQP_URL: process.env.TEST_AMQP_BASE_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    }),
    (line) => console.log(`chaos: ${line}`),
  );
  if (problems.length) throw new UserFacingError(problems.join('; '));

  const report = await runChaos({
    orders: number('orders', values.orders, DEFAULT_CHAOS_OPTIONS.orders, 1),
    durationS: number('duration', values.duration, DEFAULT_CHAOS_OPTIONS.durationS, 10),
    workers: number('workers', values.workers, DEFAULT_CHAOS_OPTIONS.workers, 2),
    seed: number('seed', values.seed, randomSeed(), 0),
    mode: values['each-once'] ? 'each-once' : 'mixed',
    ...(values.logs ? { logDir: values.logs } : {}),
    ...(values.faults ? { kinds: faultKinds(values.faults) } : {}),
    ...(values['redis-cluster'] ? { redis: 'cluster' as const } : {}),
    ...(values.compensations !== undefined ? { compensationOrders: number('compensations', values.compensations, 0, 0) } : {}),
    log: (line) => console.log(line),
  });
  console.log(`\n${report.text}`);
  if (!report.ok) process.exit(1);
});
