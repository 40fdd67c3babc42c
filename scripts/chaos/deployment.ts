import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { createKnex } from '../../src/persistence/db.js';
import type { Isolated } from '../lib/isolation.js';
import { startProcess, type Proc } from '../lib/processes.js';
import { startWebhookRelay, type WebhookRelay } from '../lib/compensation-webhook-relay.js';
import { connectChaosClient, type ChaosClient } from './chaos-client.js';
import { waitForConsumers } from '../lib/input-queue.js';
import { createWorkerPool, type WorkerPool } from './worker-pool.js';

/**
 * A chaos run's deployment in its isolation: the gateway simulator, the
 * worker processes, the saga's other side, and a database handle for the
 * checks.
 */
export interface ChaosDeployment {
  gatewayUrl: string;
  pool: WorkerPool;
  client: ChaosClient;
  knex: Knex;
  /** Why the simulator is gone, if it exited on its own. */
  simulatorExit(): string | undefined;
  /** Writes every process's output (one file each, killed ones included) into `dir`. */
  writeLogs(dir: string): Promise<string[]>;
  close(): Promise<void>;
}

/** A job lock short enough that a frozen worker loses its jobs within a freeze. */
export const LOCK_MS = 2000;
export const SHUTDOWN_TIMEOUT_MS = 10_000;
/** Stripe's search lags writes by up to a minute normally: every chaos run has the simulator lag as much. */
export const SEARCH_LAG_MS = 60_000;
export const WEBHOOK_SECRET = 'whsec_chaos_run';

/**
 * Refunds and webhooks as Stripe gives them, all run long: a refund is often
 * pending first (settled by webhook or look-up), webhooks arrive late, out of
 * order, twice or never. Failing refunds are a fault of their own (fault-plan.ts).
 */
const SIMULATOR_REFUNDS_AND_WEBHOOKS = {
  SIM_REFUND_PENDING_RATE: '0.25',
  SIM_REFUND_SETTLE_MS: '1500',
  SIM_WEBHOOK_SECRET: WEBHOOK_SECRET,
  SIM_WEBHOOK_DUPLICATE_RATE: '0.2',
  SIM_WEBHOOK_DELAY_MS: '0-2000',
  // Some never arrive: a pending refund must then be settled by asking the gateway.
  SIM_WEBHOOK_DROP_RATE: '0.1',
};

export async function startDeployment(iso: Isolated, o: { workers: number; seed: number }, log: (line: string) => void): Promise<ChaosDeployment> {
  const started: { simulator?: Proc; pool?: WorkerPool; client?: ChaosClient; knex?: Knex; relay?: WebhookRelay } = {};
  const close = async () => {
    await started.relay?.close().catch(() => undefined);
    await started.client?.close().catch(() => undefined);
    await started.knex?.destroy().catch(() => undefined);
    await started.pool?.killAll();
    await started.simulator?.stop('SIGKILL');
  };
  try {
    // Workers come and go on new ports: the simulator posts webhooks to one relay endpoint per slot.
    const relay = (started.relay = await startWebhookRelay({ slots: o.workers }));
    const simulator = (started.simulator = startProcess('gateway', 'src/gateway/simulator/main.ts', {
      GATEWAY_PORT: '0',
      SIM_SEED: String(o.seed),
      SIM_SEARCH_LAG_MS: String(SEARCH_LAG_MS),
      SIM_WEBHOOK_URL: relay.urls.join(','),
      ...SIMULATOR_REFUNDS_AND_WEBHOOKS,
    }));
    const gatewayUrl = String((JSON.parse(await simulator.waitForLine(/simulator listening/)) as { url: string }).url);
    const simulatorExit = watchSimulator(simulator, log);
    const pool = (started.pool = createWorkerPool(o.workers, workerEnv(iso, gatewayUrl), {
      ready: (slot, httpUrl) => relay.route(slot, `${httpUrl}/webhooks/stripe`),
      down: (slot) => relay.route(slot, undefined),
    }));
    log(`seed ${o.seed}: starting ${o.workers} workers in ${iso.vhost} (database, vhost and Redis prefix ${iso.queuePrefix} of its own)`);
    await pool.start();
    await waitForConsumers(iso.amqpUrl, o.workers);
    const client = (started.client = await connectChaosClient(iso.amqpUrl, log));
    const knex = (started.knex = createKnex(iso.databaseUrl, { max: 3 }));
    const writeLogs = async (dir: string) => {
      await mkdir(dir, { recursive: true });
      const procs = [simulator, ...pool.incarnations.map((i) => i.proc)];
      await Promise.all(procs.map((p) => writeFile(path.join(dir, `${p.name}.log`), `${p.lines.join('\n')}\n`)));
      return procs.map((p) => path.join(dir, `${p.name}.log`));
    };
    return { gatewayUrl, pool, client, knex, simulatorExit, writeLogs, close };
  } catch (err) {
    await close();
    throw err;
  }
}

function workerEnv(iso: Isolated, gatewayUrl: string): Record<string, string> {
  return {
    ...iso.env,
    GATEWAY: 'stripe',
    GATEWAY_URL: gatewayUrl,
    // A hung gateway call must end well within a fault window (and before a late charge lands).
    GATEWAY_TIMEOUT_MS: '1500',
    // Payments whose every confirmation hangs give up after these, within the settle window.
    JOB_ATTEMPTS: '4',
    HTTP_PORT: '0',
    WORKER_CONCURRENCY: '20',
    JOB_BACKOFF_MS: '100',
    JOB_LOCK_MS: String(LOCK_MS),
    SWEEPER_INTERVAL_MS: '1000',
    SWEEPER_STALE_AFTER_MS: '5000',
    OUTBOX_POLL_MS: '100',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    LOG_LEVEL: 'info',
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  };
}

/** The simulator is not a target: its exit would explain every failure after it, so it is reported. */
function watchSimulator(simulator: Proc, log: (line: string) => void): () => string | undefined {
  let exit: string | undefined;
  void simulator.exited.then((e) => {
    if (simulator.child.killed) return; // stopped by the run's own cleanup
    exit = `the gateway simulator exited (${e.code ?? e.signal}) during the run; its last lines:\n${simulator.lines.slice(-10).join('\n')}`;
    log(exit);
  });
  return () => exit;
}
