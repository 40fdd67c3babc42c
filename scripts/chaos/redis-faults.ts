import { readdir, readFile, readlink } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { PAYMENTS_QUEUE } from '../../src/queues/payments.queue.js';
import { queueKey, queueShards, shardKeyPatterns, shardPrefixes, type QueueShard } from '../../src/queues/queue-shards.js';

/**
 * Redis faults that hit only this run (on one Redis, or on each node of a cluster). The service names no Redis
 * connection itself (BullMQ names only some), so a connection is this run's
 * when its client address is a socket owned by one of the run's worker
 * processes (found through /proc), or when BullMQ named it with one of the
 * run's queue prefixes (a shard's included). Other tests and services sharing
 * the Redis are untouched.
 */
export async function killRunClients(redisUrls: string | readonly string[], pids: number[], queuePrefix: string, shards = 1): Promise<number> {
  // On a Redis Cluster every node is asked: each worker holds connections to each master (and BullMQ's own).
  const nodes = (typeof redisUrls === 'string' ? [redisUrls] : [...redisUrls]).map((url) => ({ url, redis: new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true }) }));
  try {
    await Promise.all(nodes.map((n) => n.redis.connect()));
    // Right after an earlier kill the clients may still be reconnecting: give them a moment.
    for (let waited = 0; ; waited += 250) {
      const ids = await Promise.all(nodes.map((n) => runClientIds(n.redis, n.url, pids, shardPrefixes(queuePrefix, shards))));
      if (ids.some((x) => x.length > 0) || waited >= 3000) {
        let killed = 0;
        for (const [i, n] of nodes.entries()) for (const id of ids[i]!) killed += Number(await n.redis.client('KILL', 'ID', id));
        return killed;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    for (const n of nodes) n.redis.disconnect();
  }
}

async function runClientIds(redis: Redis, redisUrl: string, pids: number[], queuePrefixes: string[]): Promise<string[]> {
  const ports = await localPortsTo(pids, Number(new URL(redisUrl).port || 6379));
  const list = (await redis.client('LIST')) as string;
  return list
    .split('\n')
    .filter(Boolean)
    .map(parseClient)
    .filter((c) => ports.has(c.port) || queuePrefixes.some((prefix) => c.name.startsWith(`${prefix}:`)))
    .map((c) => c.id);
}

/**
 * What a Redis restart without persistence does to this run: every key under
 * its prefix is gone at once (one script, so BullMQ cannot write in between),
 * then its connections drop.
 */
export async function wipeRunKeys(redisUrl: string, pids: number[], queuePrefix: string, shards = 1): Promise<{ deleted: number; killed: number; queued: number }> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    // A wipe with nothing queued would lose nothing: wait (a little) for jobs waiting or retrying.
    let queued = 0;
    for (let waited = 0; waited < 5000 && queued < 3; waited += 100) {
      queued = await queuedJobs(redis, queueShards(PAYMENTS_QUEUE, queuePrefix, shards));
      if (queued < 3) await new Promise((r) => setTimeout(r, 100));
    }
    const deleted = Number(await redis.eval(WIPE_SCRIPT, 0, ...shardKeyPatterns(queuePrefix)));
    const killed = await killRunClients(redisUrl, pids, queuePrefix, shards);
    return { deleted, killed, queued };
  } finally {
    redis.disconnect();
  }
}

/** Payment jobs waiting, retrying later or prioritised, in every shard: what a Redis restart without persistence loses. */
async function queuedJobs(redis: Redis, shards: QueueShard[]): Promise<number> {
  const counts = await Promise.all(
    shards.flatMap((shard) => [redis.llen(queueKey(shard, 'wait')), redis.zcard(queueKey(shard, 'delayed')), redis.zcard(queueKey(shard, 'prioritized'))]),
  );
  return counts.reduce((sum, n) => sum + n, 0);
}

/** Deletes the keys matching any of the patterns (ARGV) in one script, so BullMQ cannot write in between. */
const WIPE_SCRIPT = `
local deleted = 0
for _, pattern in ipairs(ARGV) do
  local keys = redis.call('KEYS', pattern)
  for i = 1, #keys, 1000 do
    redis.call('DEL', unpack(keys, i, math.min(i + 999, #keys)))
  end
  deleted = deleted + #keys
end
return deleted`;

function parseClient(line: string): { id: string; port: number; name: string } {
  const field = (key: string) => new RegExp(`(?:^| )${key}=(\\S*)`).exec(line)?.[1] ?? '';
  const addr = field('addr');
  return { id: field('id'), port: Number(addr.slice(addr.lastIndexOf(':') + 1)), name: field('name') };
}

/** Local TCP ports of the sockets these processes hold open towards `remotePort`. */
export async function localPortsTo(pids: number[], remotePort: number): Promise<Set<number>> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const row of text.split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      // local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (cols.length < 10 || !inodes.has(cols[9]!)) continue;
      const local = parseInt(cols[1]!.split(':')[1]!, 16);
      const remote = parseInt(cols[2]!.split(':')[1]!, 16);
      if (remote === remotePort) ports.add(local);
    }
  }
  return ports;
}
