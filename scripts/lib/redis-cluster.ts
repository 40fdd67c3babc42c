import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { keySlot } from '../../src/queues/queue-shards.js';
import type { ClusterNode } from '../../src/redis.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';

/** One redis-server of the local cluster. */
export interface ClusterServer extends ClusterNode {
  process: ChildProcess;
}

export interface ClusterMaster extends ClusterNode {
  /** Its slot ranges, inclusive: [[0, 5460]]. */
  slots: Array<[number, number]>;
}

/**
 * A throwaway Redis Cluster on loopback ports it picks: `masters` masters with
 * `replicasPerMaster` replicas each, no persistence, its files in a temporary
 * directory. Each node is a child process (not `--daemonize`), so a test can
 * SIGKILL a master and see the replica take over, and no node outlives the
 * test run.
 */
export interface RedisCluster {
  servers: ClusterServer[];
  /** REDIS_CLUSTER_NODES for these nodes: `redis://:password@host:port` entries when the cluster has a password. */
  nodesEnv: string;
  /** The masters now, as the cluster sees them (a failed-over replica is one). */
  masters(): Promise<ClusterMaster[]>;
  /** Keys held by each master now (DBSIZE). */
  keysPerMaster(): Promise<Array<{ port: number; keys: number }>>;
  /** Resolves once every slot is served, the state is ok and every replica has synced. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  /** Ports of the replicas of the master on `port`, as the cluster sees them now. */
  replicasOf(port: number): Promise<number[]>;
  /** The master serving `key`'s slot now. */
  masterOf(key: string): Promise<ClusterMaster>;
  /** SIGKILLs the server on `port` (a crash: no shutdown, no last write); resolves once it has exited. */
  kill(port: number): Promise<void>;
  /** The server listening on `port`. */
  server(port: number): ClusterServer;
  /** The servers not killed. */
  live(): ClusterServer[];
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  nodeTimeoutMs?: number;
  /** Every node's requirepass, and its masterauth so a replica can sync; unset: no AUTH, as before. */
  password?: string | undefined;
}

export async function startRedisCluster({ masters = 3, replicasPerMaster = 1, nodeTimeoutMs = 2000, password }: RedisClusterOptions = {}): Promise<RedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'redis-cluster-'));
  const ports = await freePortsWithBus(masters * (1 + replicasPerMaster));
  const servers = ports.map((port) => startServer(port, dir, nodeTimeoutMs, password));
  const withNode = <T>(port: number, fn: (redis: Redis) => Promise<T>) => withNodeAt(port, password, fn);
  const withAnyNode = <T>(fn: (redis: Redis) => Promise<T>) => withAnyNodeOf(servers, withNode, fn);
  const stopAtExit = () => servers.forEach((s) => s.process.kill('SIGKILL'));
  process.once('exit', stopAtExit);
  const cluster: RedisCluster = {
    servers,
    nodesEnv: ports.map((port) => (password === undefined ? `${HOST}:${port}` : `redis://:${encodeURIComponent(password)}@${HOST}:${port}`)).join(','),
    masters: () => withAnyNode(async (redis) => parseMasters(String(await redis.call('CLUSTER', 'NODES')))),
    async keysPerMaster() {
      const current = await cluster.masters();
      return Promise.all(current.map(async ({ port }) => ({ port, keys: await withNode(port, (redis) => redis.dbsize()) })));
    },
    waitUntilHealthy: (timeoutMs = 30_000) => waitUntilHealthy(servers, withNode, timeoutMs),
    replicasOf: (port) => withAnyNode(async (redis) => {
      const nodes = String(await redis.call('CLUSTER', 'NODES')).split('\n').map((line) => line.trim().split(' '));
      const portOf = (f: string[]) => Number(f[1]!.split(':')[1]!.split('@')[0]);
      const id = nodes.find((f) => f.length >= 8 && portOf(f) === port)?.[0];
      return nodes.filter((f) => f.length >= 8 && f[3] === id).map(portOf);
    }),
    async masterOf(key) {
      const slot = keySlot(key);
      const found = (await cluster.masters()).find((m) => m.slots.some(([from, to]) => slot >= from && slot <= to));
      if (!found) throw new Error(`no master serves slot ${slot} (of ${key})`);
      return found;
    },
    kill: (port) => stopServer(cluster.server(port)),
    live: () => servers.filter(isAlive),
    server(port) {
      const found = servers.find((s) => s.port === port);
      if (!found) throw new Error(`no cluster node on port ${port}`);
      return found;
    },
    async stop() {
      process.removeListener('exit', stopAtExit);
      await Promise.all(servers.map(stopServer));
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(ports.map((port) => waitFor(`redis-server on ${port}`, () => withNode(port, (r) => r.ping()).then(() => true, () => false), 10_000)));
    const auth = password === undefined ? [] : ['-a', password, '--no-auth-warning'];
    await run('redis-cli', [...auth, '--cluster', 'create', ...ports.map((p) => `${HOST}:${p}`), '--cluster-replicas', String(replicasPerMaster), '--cluster-yes']);
    await cluster.waitUntilHealthy();
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

function startServer(port: number, dir: string, nodeTimeoutMs: number, password: string | undefined): ClusterServer {
  const child = spawn('redis-server', [
    '--port', String(port),
    '--bind', HOST,
    '--cluster-enabled', 'yes',
    '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout', String(nodeTimeoutMs),
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
  ], { stdio: 'ignore' });
  return { host: HOST, port, process: child };
}

const isAlive = (s: ClusterServer) => s.process.exitCode === null && s.process.signalCode === null;

async function stopServer(s: ClusterServer): Promise<void> {
  if (!isAlive(s)) return;
  const exited = once(s.process, 'exit');
  s.process.kill('SIGKILL');
  await exited;
}

/** Ports whose cluster bus port (port + 10000) is free too. */
async function freePortsWithBus(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await listenOnce(0);
    if (port + 10_000 > 65_535 || ports.includes(port)) continue;
    if (await listenOnce(port + 10_000).then(() => true, () => false)) ports.push(port);
  }
  return ports;
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, HOST, () => {
      const { port: bound } = server.address() as net.AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}

type WithNode = <T>(port: number, fn: (redis: Redis) => Promise<T>) => Promise<T>;

async function withNodeAt<T>(port: number, password: string | undefined, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: HOST, port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  redis.on('error', () => {}); // a node not up yet, or killed by the test: the caller sees the rejection
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** Asks the first node that answers: a test may have killed some. */
async function withAnyNodeOf<T>(servers: ClusterServer[], withNode: WithNode, fn: (redis: Redis) => Promise<T>): Promise<T> {
  let last: unknown;
  for (const s of servers.filter(isAlive)) {
    try {
      return await withNode(s.port, fn);
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`no node of the cluster answers: ${(last as Error)?.message}`);
}

function parseMasters(nodes: string): ClusterMaster[] {
  return nodes
    .split('\n')
    .map((line) => line.trim().split(' '))
    .filter((f) => f.length >= 8 && f[2]!.split(',').includes('master') && !f[2]!.includes('fail'))
    .map((f) => ({
      host: f[1]!.split(':')[0]!,
      port: Number(f[1]!.split(':')[1]!.split('@')[0]),
      slots: f.slice(8).filter((r) => !r.startsWith('[')).map((r) => {
        const [from, to] = r.split('-').map(Number);
        return [from!, to ?? from!] as [number, number];
      }),
    }))
    .filter((m) => m.slots.length > 0)
    .sort((a, b) => a.slots[0]![0] - b.slots[0]![0]);
}

async function waitUntilHealthy(servers: ClusterServer[], withNode: WithNode, timeoutMs: number): Promise<void> {
  await waitFor('the cluster to be healthy', async () => {
    const states = await Promise.all(servers.filter(isAlive).map((s) => withNode(s.port, async (redis) => {
      const info = String(await redis.call('CLUSTER', 'INFO'));
      const replication = await redis.info('replication');
      const replicaSynced = !/role:slave/.test(replication) || /master_link_status:up/.test(replication);
      return /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && replicaSynced;
    }).catch(() => false)));
    return states.every(Boolean);
  }, timeoutMs);
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
