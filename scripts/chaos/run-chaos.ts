import path from 'node:path';
import { buildCompensationPlan, type CompensationPlan } from '../lib/compensation-plan.js';
import { driveCompensation, missingAnswers, type DriveResult } from '../lib/compensation-traffic.js';
import type { LedgerRefund } from '../lib/compensation-invariants.js';
import { isolate } from '../lib/isolation.js';
import { sleep, until } from '../lib/poll.js';
import { startRedisCluster, type RedisCluster } from '../lib/redis-cluster.js';
import { LOCK_MS, SHUTDOWN_TIMEOUT_MS, startDeployment, type ChaosDeployment } from './deployment.js';
import { createFaultInjector, type FaultInjector, type InjectedFault } from './fault-injector.js';
import { faultKindsFor, planFaults, type FaultKind, type PlannedFault } from './fault-plan.js';
import { collectFigures } from './figures.js';
import { checkInvariants, type InvariantResult, type LedgerCharge, type Observed, type PaymentRow } from './invariants.js';
import { buildOrderMix, type OrderMix } from './order-mix.js';
import { countFaults, formatReport, type ChaosFigures, type FaultCount } from './report.js';
import { compensationPorts, isSettled, publishMix, settleState, type Progress } from './traffic.js';

export interface ChaosOptions {
  orders: number;
  /** The fault window, seconds; orders are published over most of it. */
  durationS: number;
  workers: number;
  seed: number;
  /** `each-once` for the short test run; `mixed` repeats faults every `faultEveryMs`. */
  mode: 'each-once' | 'mixed';
  faultEveryMs: number;
  settleTimeoutS: number;
  log: (line: string) => void;
  /** When set, every process's output is written there at the end (for a failed run's post-mortem). */
  logDir?: string;
  /** Only these fault kinds (to narrow down a failure); all by default. */
  kinds?: readonly FaultKind[];
  /** Orders of their own that are cancelled and refunded while the faults run; 30% of `orders` by default. */
  compensationOrders?: number;
  /**
   * `cluster`: the queues on a throwaway local Redis Cluster (three masters, a
   * replica each) with QUEUE_SHARDS=3, and a master killed instead of the wipe.
   * `single` (default): the isolation's Redis (TEST_REDIS_URL, or TEST_REDIS_CLUSTER_NODES).
   */
  redis?: 'single' | 'cluster';
}

/** QUEUE_SHARDS of a `--redis-cluster` run: one shard per master. */
export const CLUSTER_QUEUE_SHARDS = 3;

export const DEFAULT_CHAOS_OPTIONS: Omit<ChaosOptions, 'seed' | 'log'> = {
  orders: 1000,
  durationS: 60,
  workers: 3,
  mode: 'mixed',
  faultEveryMs: 2500,
  settleTimeoutS: 240,
};

export interface ChaosReport {
  seed: number;
  ok: boolean;
  faults: FaultCount[];
  injected: InjectedFault[];
  invariants: InvariantResult[];
  figures: ChaosFigures;
  /** On a cluster run: each master's keys once settled (the killed master gone, its replica in its place). */
  keysPerMaster?: Array<{ port: number; keys: number }>;
  /** The report as a table for people. */
  text: string;
}

const PG_ADMIN = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * The chaos run: orders through several worker processes while
 * processes, connections, Redis data and the gateway fail on a seeded
 * schedule; then the invariants, checked against PostgreSQL, the gateway's
 * ledger and what the saga's other side received.
 */
export async function runChaos(options: Partial<ChaosOptions> & Pick<ChaosOptions, 'seed' | 'log'>): Promise<ChaosReport> {
  const o: ChaosOptions = { ...DEFAULT_CHAOS_OPTIONS, ...options };
  const log = (line: string) => o.log(`chaos: ${line}`);
  const kinds = o.kinds ?? faultKindsFor(o.redis ?? 'single');
  let cluster: RedisCluster | undefined;
  if (o.redis === 'cluster') {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    log(`Redis Cluster of 3 masters with a replica each on ${cluster.nodesEnv}, QUEUE_SHARDS=${CLUSTER_QUEUE_SHARDS}`);
  }
  const iso = await isolate(cluster ? { redisClusterNodes: cluster.servers.map(({ host, port }) => ({ host, port })), queueShards: CLUSTER_QUEUE_SHARDS } : {}).catch(async (err: Error) => {
    await cluster?.stop();
    throw err;
  });
  let d: ChaosDeployment | undefined;
  try {
    d = await startDeployment(iso, o, log);
    const mix = buildOrderMix(o.seed, o.orders);
    const plan = planFaults({ seed: o.seed, windowMs: o.durationS * 1000, workers: o.workers, mode: o.mode, everyMs: o.faultEveryMs, lockMs: LOCK_MS, kinds });
    const injector = createFaultInjector({
      pool: d.pool,
      vhost: iso.vhost,
      redisUrl: iso.redisUrl,
      queuePrefix: iso.queuePrefix,
      queueShards: iso.queueShards,
      pgAdminUrl: PG_ADMIN,
      database: new URL(iso.databaseUrl).pathname.slice(1),
      gatewayUrl: d.gatewayUrl,
      cluster,
    });
    const compensation = buildCompensationPlan({
      seed: o.seed,
      orders: o.compensationOrders ?? Math.round(o.orders * 0.3),
      // Under gateway faults a refund may fail at the gateway, and any charge may give up.
      refundsMayFail: true,
      extraFailCodes: ['gateway_unavailable'],
      unknownOutcomes: true,
    });
    log(`${mix.orders.length} orders, ${mix.duplicates} duplicates, ${mix.poison.length} poison messages; ${describePlan(compensation)}; ${plan.length} faults over ${o.durationS} s`);

    const driving = trackDrive(driveCompensation(compensation, compensationPorts(d.client), { spreadMs: o.durationS * 800, answerTimeoutMs: 60_000, duringWithinMs: 1500 }));
    const window = await runFaultWindow(d, mix, plan, injector, o.durationS * 1000, log);
    log('waiting for the system to settle');
    const settled = await waitForSettle(d, iso.amqpUrl, mix, o.settleTimeoutS * 1000, compensation, driving);
    const settledAt = Date.now();
    const drive = await driving.result;
    if (drive instanceof Error) throw new Error(`publishing the compensation messages failed: ${drive.message}`, { cause: drive });
    const observed = await observe(d, mix, settled, { ...compensation, cancelConfirmedFirst: drive?.cancelConfirmedFirst ?? [] });
    const invariants = checkInvariants(observed);
    const figures = collectFigures({ ...window, observed, incarnations: d.pool.incarnations, settledAt, clientReconnects: d.client.disconnects() });
    const faults = countFaults(window.injected, kinds);
    const ok = invariants.every((i) => i.violations.length === 0);
    // Before the cleanup drops the run's keys: on the throwaway cluster they are all the run's.
    const keysPerMaster = await cluster?.keysPerMaster();
    const text = formatReport({ seed: o.seed, faults, injected: window.injected, invariants, figures, ...(keysPerMaster ? { keysPerMaster } : {}) });
    return { seed: o.seed, ok, faults, injected: window.injected, invariants, figures, ...(keysPerMaster ? { keysPerMaster } : {}), text };
  } finally {
    if (d && o.logDir) log(`process logs written to ${path.resolve(o.logDir)} (${(await d.writeLogs(o.logDir)).length} files)`);
    await d?.close();
    await iso.cleanup();
    await cluster?.stop();
  }
}

/** Publishes the mix while the plan's faults are injected; returns once every fault is lifted and all is published. */
async function runFaultWindow(d: ChaosDeployment, mix: OrderMix, plan: PlannedFault[], injector: FaultInjector, windowMs: number, log: (l: string) => void) {
  const startedAt = Date.now();
  const progress: Progress = { published: 0, total: mix.stream.length + mix.conflicts.length };
  // Settled (never rejected) right away: a failure is rethrown once the faults are lifted.
  const publishing = publishMix(d.client, mix, windowMs * 0.8, d.knex, progress).then(
    () => undefined,
    (err: Error) => err,
  );
  const scraper = setInterval(() => void d.pool.scrape(), 2000);
  const reporter = setInterval(() => log(`t=${((Date.now() - startedAt) / 1000).toFixed(0)}s published ${progress.published}/${progress.total}, answered ${answered(d, mix)}/${mix.orders.length}`), 5000);
  try {
    const injected = await injectAll(plan, injector, startedAt, log);
    await sleep(startedAt + windowMs - Date.now());
    const answeredUnderFaults = answered(d, mix);
    log('fault window over: lifting every fault');
    await injector.restoreAll().catch((err: Error) => {
      throw new Error(d.simulatorExit() ?? `could not lift the faults: ${err.message}`, { cause: err });
    });
    const lastFaultAt = Date.now();
    const publishFailed = await publishing;
    if (publishFailed) throw new Error(`publishing the orders failed: ${publishFailed.message}`, { cause: publishFailed });
    return { injected, startedAt, windowMs, answeredUnderFaults, lastFaultAt, messagesPublished: progress.published };
  } finally {
    clearInterval(scraper);
    clearInterval(reporter);
    await publishing;
  }
}

/** Injects each planned fault at its time; gateway windows, thaws and restarts run on in the background. */
async function injectAll(plan: PlannedFault[], injector: FaultInjector, startedAt: number, log: (l: string) => void): Promise<InjectedFault[]> {
  const injected: InjectedFault[] = [];
  for (const fault of plan) {
    await sleep(startedAt + fault.atMs - Date.now());
    const result = await injector.inject(fault, Date.now() - startedAt);
    injected.push(result);
    log(`t=${(result.atMs / 1000).toFixed(1)}s ${result.kind}${result.skipped ? ' (skipped)' : ''}: ${result.detail}`);
  }
  return injected;
}

interface Driving {
  done: boolean;
  /** The drive's result, or the error that stopped it (never rejects). */
  result: Promise<DriveResult | Error>;
}

function trackDrive(drive: Promise<DriveResult>): Driving {
  const driving: Driving = { done: false, result: drive.then((r) => r, (err: Error) => err) };
  void driving.result.then(() => (driving.done = true));
  return driving;
}

function describePlan(plan: CompensationPlan): string {
  const count = (moment: string) => plan.orders.filter((x) => x.cancel === moment).length;
  const refunds = plan.orders.reduce((n, x) => n + x.refunds.length, 0);
  return `${plan.orders.length} compensation orders (cancelled before ${count('before')}, during ${count('during')}, after ${count('after')}; ${refunds} refunds)`;
}

async function waitForSettle(d: ChaosDeployment, amqpUrl: string, mix: OrderMix, timeoutMs: number, compensation: CompensationPlan, driving: Driving): Promise<Observed['settled']> {
  let last: Awaited<ReturnType<typeof settleState>> | undefined;
  let missing: string[] = [];
  const ok = await until(async () => {
    last = await settleState(d.knex, amqpUrl, d.client, mix);
    missing = missingAnswers(compensation, d.client.received);
    return isSettled(last, mix) && driving.done && missing.length === 0;
  }, timeoutMs, 500);
  const waiting = `${driving.done ? '' : 'compensation messages still being sent; '}${missing.length} compensation answers missing${missing.length ? ` (${missing.slice(0, 5).join('; ')})` : ''}`;
  return { ok, detail: ok ? 'settled' : `not settled after ${timeoutMs / 1000} s: ${JSON.stringify(last)}; ${waiting}` };
}

/** Stops the workers (SIGTERM, as an operator would) and gathers what the checks need. */
async function observe(d: ChaosDeployment, mix: OrderMix, settled: Observed['settled'], compensation: Observed['compensation']): Promise<Observed> {
  await d.pool.scrape();
  const shutdownExits = await d.pool.stopAll(SHUTDOWN_TIMEOUT_MS + 15_000);
  return {
    mix,
    rows: (await d.knex('payments').select('id', 'order_id', 'status', 'amount', 'currency', 'transaction_id', 'failure_code')) as PaymentRow[],
    ledger: (await (await fetch(`${d.gatewayUrl}/_sim/charges`)).json()) as LedgerCharge[],
    refunds: (await (await fetch(`${d.gatewayUrl}/_sim/refunds`)).json()) as LedgerRefund[],
    compensation,
    received: d.client.received,
    deadLetters: await d.client.deadLetters(),
    unexpectedExits: d.pool.unexpectedExits,
    shutdownExits,
    workerProcesses: d.pool.incarnations.length,
    settled,
  };
}

function answered(d: ChaosDeployment, mix: OrderMix): number {
  const wanted = new Set(mix.orders.map((x) => x.orderId));
  return new Set(d.client.received.map((e) => e.data?.orderId).filter((id) => wanted.has(id))).size;
}
