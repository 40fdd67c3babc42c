import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import type { RedisCluster } from '../lib/redis-cluster.js';
import type { FaultKind, PlannedFault } from './fault-plan.js';
import { killRunClients, wipeRunKeys } from './redis-faults.js';
import type { WorkerPool } from './worker-pool.js';

const run = promisify(execFile);

/** Everything a fault may hit, all of it this run's own. */
export interface FaultTargets {
  pool: WorkerPool;
  vhost: string;
  redisUrl: string;
  queuePrefix: string;
  /** QUEUE_SHARDS of the run's workers: the wipe and the client kill reach every shard. */
  queueShards: number;
  /** The run's own Redis Cluster (`--redis-cluster`): the clients are killed on each node, and a master can be. */
  cluster?: RedisCluster | undefined;
  /** A PostgreSQL URL to a database other than the run's (the session that terminates the others). */
  pgAdminUrl: string;
  database: string;
  gatewayUrl: string;
}

export interface InjectedFault {
  kind: FaultKind;
  atMs: number;
  /** What was hit: a worker's name, a count of connections or keys. */
  detail: string;
  /** True when the fault could not be injected (e.g. no worker was running). */
  skipped: boolean;
  /** What it hit, counted (e.g. for a wipe: keys, queued payment jobs, connections). */
  counts?: Record<string, number>;
  /** When its effect ended (epoch ms): a window closed, a worker thawed or restarted, the command returned. */
  endsAt: number;
}

interface Applied {
  detail: string;
  counts?: Record<string, number>;
  /** When the effect ends, if later than the injection's return. */
  endsAt?: number | Promise<number>;
}

type GatewaySetting = 'errorRate' | 'timeoutRate' | 'lostResponseRate' | 'refundFailRate';

const GATEWAY_SETTING: Partial<Record<FaultKind, GatewaySetting>> = {
  'gateway-errors': 'errorRate',
  'gateway-hangs': 'timeoutRate',
  'gateway-lost-responses': 'lostResponseRate',
  // The gateway's own refusal of a refund (Stripe: `failed`, the money stays with the merchant).
  'refunds-failing': 'refundFailRate',
};

const NO_GATEWAY_FAULTS: Record<GatewaySetting, number> = { errorRate: 0, timeoutRate: 0, lostResponseRate: 0, refundFailRate: 0 };

export interface FaultInjector {
  inject(fault: PlannedFault, atMs: number): Promise<InjectedFault>;
  /** Closes every gateway fault window and waits for thaws and restarts: nothing is broken afterwards. */
  restoreAll(): Promise<void>;
}

export function createFaultInjector(t: FaultTargets): FaultInjector {
  const open = new Map<GatewaySetting, number>();
  const windows = new Set<Promise<void>>();

  async function setGateway(patch: Partial<Record<GatewaySetting, number>>): Promise<void> {
    const res = await fetch(`${t.gatewayUrl}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
    if (!res.ok) throw new Error(`simulator refused ${JSON.stringify(patch)}: HTTP ${res.status} ${await res.text()}`);
  }

  /** Opens a window of one gateway fault; overlapping windows of one kind close with the last. */
  async function gatewayWindow(setting: GatewaySetting, rate: number, ms: number): Promise<string> {
    open.set(setting, (open.get(setting) ?? 0) + 1);
    await setGateway({ [setting]: rate });
    const closing = sleep(ms).then(async () => {
      const left = (open.get(setting) ?? 1) - 1;
      open.set(setting, left);
      if (left === 0) await setGateway({ [setting]: 0 }).catch(() => undefined);
    });
    windows.add(closing);
    void closing.finally(() => windows.delete(closing));
    return `${setting}=${rate.toFixed(2)} for ${ms} ms`;
  }

  async function apply(f: PlannedFault): Promise<Applied | string | undefined> {
    const setting = GATEWAY_SETTING[f.kind];
    if (setting) return { detail: await gatewayWindow(setting, f.rate, f.holdMs), endsAt: Date.now() + f.holdMs };
    switch (f.kind) {
      case 'worker-killed': {
        const slot = t.pool.pickRunning(f.worker);
        if (slot === undefined) return undefined;
        const killed = t.pool.kill(slot, f.holdMs);
        return { detail: `SIGKILL ${killed.name}, restarted after ${f.holdMs} ms`, endsAt: killed.restarted.then(() => Date.now(), () => Date.now()) };
      }
      case 'worker-frozen': {
        const slot = t.pool.pickRunning(f.worker);
        return slot === undefined ? undefined : { detail: `SIGSTOP ${t.pool.freeze(slot, f.holdMs)} for ${f.holdMs} ms`, endsAt: Date.now() + f.holdMs };
      }
      case 'broker-connections-closed':
        return closeBrokerConnections(t.vhost);
      case 'redis-clients-killed': {
        const nodes = t.cluster ? t.cluster.live().map((n) => `redis://${n.host}:${n.port}`) : t.redisUrl;
        const killed = await killRunClients(nodes, t.pool.pids(), t.queuePrefix, t.queueShards);
        return killed ? `${killed} connections killed` : undefined;
      }
      case 'redis-wiped':
        if (t.cluster) throw new Error('not on a Redis Cluster (one script cannot delete keys on every master): redis-master-killed is its fault');
        // No worker restarting: nothing started afterwards repairs what the wipe lost.
        await t.pool.restarted();
        const wiped = await wipeRunKeys(t.redisUrl, t.pool.pids(), t.queuePrefix, t.queueShards);
        return {
          detail: `${wiped.deleted} keys deleted (${wiped.queued} payment jobs queued), ${wiped.killed} connections dropped`,
          counts: { keys: wiped.deleted, queuedJobs: wiped.queued, connections: wiped.killed },
        };
      case 'redis-master-killed':
        return t.cluster ? killMaster(t.cluster, t.queuePrefix) : undefined;
      case 'postgres-sessions-terminated':
        return `${await terminateSessions(t.pgAdminUrl, t.database)} sessions terminated`;
      default:
        return undefined;
    }
  }

  return {
    async inject(fault, atMs) {
      try {
        const applied = await apply(fault);
        const a: Partial<Applied> = typeof applied === 'object' ? applied : { detail: applied };
        const result: InjectedFault = { kind: fault.kind, atMs, detail: a.detail ?? 'no target', skipped: !a.detail, endsAt: Date.now(), ...(a.counts ? { counts: a.counts } : {}) };
        if (typeof a.endsAt === 'number') result.endsAt = a.endsAt;
        else if (a.endsAt) void a.endsAt.then((at) => (result.endsAt = at));
        return result;
      } catch (err) {
        return { kind: fault.kind, atMs, detail: `failed: ${(err as Error).message}`, skipped: true, endsAt: Date.now() };
      }
    },
    async restoreAll() {
      open.clear();
      await setGateway(NO_GATEWAY_FAULTS);
      await Promise.allSettled([...windows]);
      await setGateway(NO_GATEWAY_FAULTS);
      await t.pool.quiesce();
    },
  };
}

/**
 * SIGKILLs the master holding QUEUE_PREFIX's slot: shard 0's queues, and the
 * breaker, the sweeper's schedule, the standby heartbeat and risk velocity
 * that every payment of every shard touches. Returns once its replica serves
 * every slot again (the failover time), with each master's keys just before.
 */
async function killMaster(cluster: RedisCluster, queuePrefix: string): Promise<Applied> {
  const victim = await cluster.masterOf(queuePrefix);
  const keys = await cluster.keysPerMaster();
  const killedAt = Date.now();
  await cluster.kill(victim.port);
  await cluster.waitUntilHealthy(60_000);
  const failoverMs = Date.now() - killedAt;
  const promoted = (await cluster.masters()).find((m) => !keys.some((k) => k.port === m.port))?.port;
  return {
    detail: `SIGKILL master ${victim.port} (QUEUE_PREFIX's slot), replica ${promoted} serving every slot after ${failoverMs} ms; keys per master before: ${keys.map((k) => `${k.port}=${k.keys}`).join(' ')}`,
    counts: { failoverMs, ...Object.fromEntries(keys.map((k) => [`keys@${k.port}`, k.keys])) },
  };
}

async function closeBrokerConnections(vhost: string): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['close_all_connections', '-p', vhost, 'chaos']);
  return /Closed (\d+) connections/.exec(stdout)?.[0] ?? stdout.trim().split('\n').pop() ?? '';
}

async function terminateSessions(adminUrl: string, database: string): Promise<number> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const res = await client.query<{ n: string }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n
         FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [database],
    );
    return Number(res.rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
