import type { JobType } from 'bullmq';
import { startProcess, type Proc } from '../../scripts/lib/processes.js';
import { connectSagaClient, type SagaClient } from '../../scripts/lib/saga-client.js';
import { connectRedis, isolate, type Isolated, type RedisPlacement } from '../../scripts/lib/isolation.js';
import { createPaymentQueues } from '../../src/queues/payments.queue.js';

export interface LedgerCharge {
  id: string;
  orderId: string;
  amount: string;
  currency: string;
  status: string;
}

/**
 * A whole deployment in miniature, in its own database, vhost and Redis
 * prefix: the gateway simulator and worker processes started as `npm start`
 * would, and a saga client on the other side of RabbitMQ.
 */
export interface Deployment {
  iso: Isolated;
  gatewayUrl: string;
  simulator: Proc;
  workers: Proc[];
  client: SagaClient;
  workerEnv: Record<string, string>;
  startWorker(extraEnv?: Record<string, string>): Promise<Proc>;
  /** The ops server address of each worker started, by process. */
  httpUrlOf(worker: Proc): string;
  /** Sums a counter or histogram-count sample over every running worker's /metrics, filtered by labels. */
  metricSum(name: string, labels?: Record<string, string>): Promise<number>;
  ledger(): Promise<LedgerCharge[]>;
  /** The payments queues' job counts in these states, summed over every shard (what Bull Board shows). */
  paymentJobCounts(...states: JobType[]): Promise<Record<string, number>>;
  teardown(): Promise<void>;
}

/** `redis`: a cluster and shard count of the test's own instead of TEST_REDIS_CLUSTER_NODES / TEST_QUEUE_SHARDS. */
export async function deploy(opts: { workers: number; simEnv?: Record<string, string>; workerEnv?: Record<string, string>; redis?: RedisPlacement }): Promise<Deployment> {
  const iso = await isolate(opts.redis);
  const simulator = startProcess('gateway', 'src/gateway/simulator/main.ts', { GATEWAY_PORT: '0', ...opts.simEnv });
  const line = await simulator.waitForLine(/simulator listening/);
  const gatewayUrl = String(JSON.parse(line).url);
  const workerEnv = {
    ...iso.env,
    GATEWAY: 'stripe',
    GATEWAY_URL: gatewayUrl,
    HTTP_PORT: '0',
    WORKER_CONCURRENCY: '20',
    JOB_BACKOFF_MS: '100',
    JOB_LOCK_MS: '2000',
    SWEEPER_INTERVAL_MS: '1000',
    SWEEPER_STALE_AFTER_MS: '3000',
    OUTBOX_POLL_MS: '100',
    SHUTDOWN_TIMEOUT_MS: '10000',
    ...opts.workerEnv,
  };
  const workers: Proc[] = [];
  const urls = new Map<Proc, string>();
  const startWorker = async (extraEnv: Record<string, string> = {}) => {
    const w = startProcess(`worker-${workers.length + 1}`, 'src/main.ts', { ...workerEnv, ...extraEnv });
    workers.push(w);
    const ready = await w.waitForLine(/worker ready/, 60_000);
    urls.set(w, String(JSON.parse(ready).http));
    return w;
  };
  const metricSum = async (name: string, labels: Record<string, string> = {}) => {
    let total = 0;
    for (const w of workers.filter((p) => p.child.exitCode === null && p.child.signalCode === null)) {
      const text = await (await fetch(`${urls.get(w)}/metrics`)).text();
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const got = Object.fromEntries((m[2] ?? '').split(',').filter(Boolean).map((kv) => {
          const [k, v] = kv.split('=');
          return [k, v?.replace(/^"|"$/g, '')];
        }));
        if (Object.entries(labels).every(([k, v]) => got[k] === v)) total += Number(m[3]);
      }
    }
    return total;
  };
  for (let i = 0; i < opts.workers; i++) await startWorker();
  const client = await connectSagaClient(iso.amqpUrl);
  return {
    iso,
    gatewayUrl,
    simulator,
    workers,
    client,
    workerEnv,
    startWorker,
    httpUrlOf: (w) => urls.get(w) ?? '',
    metricSum,
    async ledger() {
      const res = await fetch(`${gatewayUrl}/_sim/charges`);
      return (await res.json()) as LedgerCharge[];
    },
    paymentJobCounts: (...states) => paymentJobCounts(iso, states),
    async teardown() {
      await client.close();
      await Promise.allSettled(workers.map((w) => w.stop('SIGKILL')));
      await simulator.stop('SIGKILL');
      await iso.cleanup();
    },
  };
}

async function paymentJobCounts(iso: Isolated, states: JobType[]): Promise<Record<string, number>> {
  const redis = await connectRedis(iso);
  // Read only: the job options are never used.
  const queues = createPaymentQueues({ connection: redis, prefix: iso.queuePrefix, shards: iso.queueShards, attempts: 1, backoffMs: 1, retentionS: 1 });
  try {
    const totals: Record<string, number> = Object.fromEntries(states.map((s) => [s, 0]));
    for (const counts of await Promise.all(queues.shards.map((q) => q.getJobCounts(...states)))) {
      for (const [state, n] of Object.entries(counts)) totals[state] = (totals[state] ?? 0) + n;
    }
    return totals;
  } finally {
    await Promise.all(queues.shards.map((q) => q.close()));
    redis.disconnect();
  }
}

/** Charges that succeeded, counted per order. */
export function successfulChargesByOrder(ledger: LedgerCharge[]): Map<string, LedgerCharge[]> {
  const map = new Map<string, LedgerCharge[]>();
  for (const c of ledger.filter((l) => l.status === 'succeeded')) map.set(c.orderId, [...(map.get(c.orderId) ?? []), c]);
  return map;
}
