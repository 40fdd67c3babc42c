import { readdir, readFile, readlink } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { PAYMENTS_QUEUE } from '../../src/queues/payments.queue.js';

/**
 * Redis faults that hit only this run. The service names no Redis
 * connection itself (BullMQ names only some), so a connection is this run's
 * when its client address is a socket owned by one of the run's worker
 * processes (found through /proc), or when BullMQ named it with the run's
 * queue prefix. Other tests and services sharing the Redis are untouched.
 */
export async function killRunClients(redisUrl: string, pids: number[], queuePrefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    // Right after an earlier kill the clients may still be reconnecting: give them a moment.
    for (let waited = 0; ; waited += 250) {
      const ids = await runClientIds(redis, redisUrl, pids, queuePrefix);
      if (ids.length > 0 || waited >= 3000) {
        let killed = 0;
        for (const id of ids) killed += Number(await redis.client('KILL', 'ID', id));
        return killed;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    redis.disconnect();
  }
}

async function runClientIds(redis: Redis, redisUrl: string, pids: number[], queuePrefix: string): Promise<string[]> {
  const ports = await localPortsTo(pids, Number(new URL(redisUrl).port || 6379));
  const list = (await redis.client('LIST')) as string;
  return list
    .split('\n')
    .filter(Boolean)
    .map(parseClient)
    .filter((c) => ports.has(c.port) || c.name.startsWith(`${queuePrefix}:`))
    .map((c) => c.id);
}

/**
 * What a Redis restart without persistence does to this run: every key under
 * its prefix is gone at once (one script, so BullMQ cannot write in between),
 * then its connections drop.
 */
export async function wipeRunKeys(redisUrl: string, pids: number[], queuePrefix: string): Promise<{ deleted: number; killed: number; queued: number }> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    // A wipe with nothing queued would lose nothing: wait (a little) for jobs waiting or retrying.
    let queued = 0;
    for (let waited = 0; waited < 5000 && queued < 3; waited += 100) {
      queued = await queuedJobs(redis, queuePrefix);
      if (queued < 3) await new Promise((r) => setTimeout(r, 100));
    }
    const deleted = Number(await redis.eval(WIPE_SCRIPT, 0, `${escapeGlob(queuePrefix)}*`));
    const killed = await killRunClients(redisUrl, pids, queuePrefix);
    return { deleted, killed, queued };
  } finally {
    redis.disconnect();
  }
}

/** Payment jobs waiting, retrying later or prioritised: what a Redis restart without persistence loses. */
async function queuedJobs(redis: Redis, queuePrefix: string): Promise<number> {
  const key = (name: string) => `${queuePrefix}:${PAYMENTS_QUEUE}:${name}`;
  const [waiting, delayed, prioritized] = await Promise.all([redis.llen(key('wait')), redis.zcard(key('delayed')), redis.zcard(key('prioritized'))]);
  return waiting + delayed + prioritized;
}

const WIPE_SCRIPT = `
local keys = redis.call('KEYS', ARGV[1])
for i = 1, #keys, 1000 do
  redis.call('DEL', unpack(keys, i, math.min(i + 999, #keys)))
end
return #keys`;

/** The prefix's braces and brackets are glob characters to SCAN's MATCH. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

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
