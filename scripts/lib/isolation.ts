import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { migrate } from '../../src/persistence/db.js';
import { servicesOf, type ServiceCheck } from '../../src/services.js';
import { shardKeyPatterns } from '../../src/queues/queue-shards.js';
import { createRedis, mastersOf, type ClusterAuth, type ClusterNode, type RedisClient, type RedisTarget } from '../../src/redis.js';
import { clusterNodesValue } from '../../src/redis-cluster-nodes.js';

/**
 * A database, a vhost and a Redis prefix of one's own: each test file gets
 * one, and so do `npm run bench` and `npm run chaos`, which is why this lives
 * in scripts/lib (imported by both) rather than under tests/.
 */
const run = promisify(execFile);

const PG_ADMIN = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const AMQP_BASE = process.env.TEST_AMQP_BASE_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** `postgres://user@host:port` of a pooler (PgBouncer) the child processes go through; see `routedVia`. */
const DATABASE_VIA = process.env.TEST_DATABASE_VIA;

/**
 * The database URL with host, port (and user, when `via` names one) taken
 * from `via`: how a child process reaches its database through a pooler,
 * while the database is still created, migrated and inspected directly
 * (`Isolated.databaseUrl`). Unset `via`: the URL unchanged.
 */
export function routedVia(databaseUrl: string, via: string | undefined): string {
  if (!via) return databaseUrl;
  const url = new URL(databaseUrl);
  const pooler = new URL(via);
  url.host = pooler.host;
  if (pooler.username) {
    url.username = pooler.username;
    url.password = pooler.password;
  }
  return url.toString();
}

/** A child process's DATABASE_URL for a database made here: through TEST_DATABASE_VIA when set. */
export const childDatabaseUrl = (databaseUrl: string): string => routedVia(databaseUrl, DATABASE_VIA);

/** The servers every isolation is made on, for a preflight check before any is made. */
export const isolationServices = (): ServiceCheck[] => servicesOf({ DATABASE_URL: PG_ADMIN, REDIS_URL, AMQP_URL: AMQP_BASE });
// Parsed as the service parses REDIS_CLUSTER_NODES and QUEUE_SHARDS: a bad value stops the run, named.
const { REDIS_CLUSTER_NODES, REDIS_CLUSTER_AUTH, QUEUE_SHARDS } = loadConfig({ REDIS_CLUSTER_NODES: process.env.TEST_REDIS_CLUSTER_NODES, QUEUE_SHARDS: process.env.TEST_QUEUE_SHARDS });

export interface Isolated {
  /** A short unique tag: use it in queue names, prefixes and file names. */
  tag: string;
  /** Direct to PostgreSQL, for the test's own queries. */
  databaseUrl: string;
  amqpUrl: string;
  vhost: string;
  redisUrl: string;
  /** TEST_REDIS_CLUSTER_NODES: a Redis Cluster, used instead of `redisUrl` (as REDIS_CLUSTER_NODES is). */
  redisClusterNodes?: ClusterNode[] | undefined;
  /** The credentials and TLS of TEST_REDIS_CLUSTER_NODES' URL entries. */
  redisClusterAuth?: ClusterAuth | undefined;
  /** BullMQ prefix (a Redis Cluster hash tag, as in production). */
  queuePrefix: string;
  /** TEST_QUEUE_SHARDS (default 1): the QUEUE_SHARDS of the service under test, for reading its jobs. */
  queueShards: number;
  /** Environment for a child process (`npm start`, the simulator) in this isolation; its DATABASE_URL goes through TEST_DATABASE_VIA when set. */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

function newTag(): string {
  return `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export async function dropDatabase(name: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export async function createDatabase(tag: string, { migrated = true } = {}): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `pay_${tag}`;
  const url = PG_ADMIN.replace(/\/[^/]*$/, `/${name}`);
  if (migrated) await migrate(url);
  return {
    url,
    drop: () => dropDatabase(name),
  };
}

const MGMT = process.env.TEST_RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';

/**
 * Vhosts are made with rabbitmqctl where it is installed (this machine, CI),
 * else through the management API (the docker-compose RabbitMQ has it).
 */
async function rabbitAdmin(action: 'add' | 'delete', vhost: string): Promise<void> {
  try {
    if (action === 'add') {
      await run('rabbitmqctl', ['add_vhost', vhost]);
      await run('rabbitmqctl', ['set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
    } else {
      await run('rabbitmqctl', ['delete_vhost', vhost]);
    }
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
  const auth = { Authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
  const path = `${MGMT}/api/vhosts/${encodeURIComponent(vhost)}`;
  const res = await fetch(path, { method: action === 'add' ? 'PUT' : 'DELETE', headers: auth });
  if (!res.ok && res.status !== 404) {
    throw new Error(`RabbitMQ management API ${action} vhost ${vhost}: HTTP ${res.status}; install rabbitmqctl or enable rabbitmq_management`);
  }
}

export async function createVhost(tag: string): Promise<{ url: string; vhost: string; drop(): Promise<void> }> {
  const vhost = `pay_${tag}`;
  await rabbitAdmin('add', vhost);
  return {
    url: `${AMQP_BASE}/${encodeURIComponent(vhost)}`,
    vhost,
    drop: () => rabbitAdmin('delete', vhost),
  };
}

type RedisOf = Pick<Isolated, 'redisUrl' | 'redisClusterNodes' | 'redisClusterAuth'>;

/** A client for an isolation's Redis, single or cluster, built as the service builds its own. */
export async function connectRedis(target: RedisOf, options: { maxRetriesPerRequest?: number | null } = {}): Promise<RedisClient> {
  const redis = createRedis(redisTarget(target), { ...options, lazyConnect: true });
  await redis.connect();
  return redis;
}

export function redisTarget(target: RedisOf): RedisTarget {
  return { REDIS_URL: target.redisUrl, REDIS_CLUSTER_NODES: target.redisClusterNodes, REDIS_CLUSTER_AUTH: target.redisClusterAuth };
}

/** Deletes every Redis key under a prefix and under its shards' prefixes (on every master of a cluster). */
export async function dropRedisPrefix(target: string | RedisOf, prefix: string): Promise<void> {
  const redis = await connectRedis(typeof target === 'string' ? { redisUrl: target } : target, { maxRetriesPerRequest: 1 });
  try {
    for (const node of mastersOf(redis)) {
      for (const pattern of shardKeyPatterns(prefix)) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          // One key per command: a cluster refuses a DEL whose keys span slots.
          const batch = node.pipeline();
          for (const key of keys) batch.unlink(key);
          if (keys.length) await batch.exec();
        } while (cursor !== '0');
      }
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * Where an isolation puts its queues, instead of TEST_REDIS_CLUSTER_NODES and
 * TEST_QUEUE_SHARDS: a test or script that starts a cluster of its own (to
 * kill one of its masters) names it here.
 */
export interface RedisPlacement {
  redisClusterNodes?: ClusterNode[] | undefined;
  /** Its credentials, if it has a password. */
  redisClusterAuth?: ClusterAuth | undefined;
  queueShards?: number | undefined;
}

/** A database, a vhost and a Redis prefix of the test's own; `cleanup` leaves no trace. */
export async function isolate(placement: RedisPlacement = {}): Promise<Isolated> {
  const tag = newTag();
  const [db, vh] = await Promise.all([createDatabase(tag), createVhost(tag)]);
  const queuePrefix = `{${tag}}`;
  const redisClusterNodes = placement.redisClusterNodes ?? REDIS_CLUSTER_NODES;
  const redisClusterAuth = placement.redisClusterNodes ? placement.redisClusterAuth : REDIS_CLUSTER_AUTH;
  const queueShards = placement.queueShards ?? QUEUE_SHARDS;
  const redis = { redisUrl: REDIS_URL, redisClusterNodes, redisClusterAuth };
  return {
    tag,
    databaseUrl: db.url,
    amqpUrl: vh.url,
    vhost: vh.vhost,
    ...redis,
    queuePrefix,
    queueShards,
    env: {
      DATABASE_URL: childDatabaseUrl(db.url),
      AMQP_URL: vh.url,
      REDIS_URL,
      // Always set, so a REDIS_CLUSTER_NODES or QUEUE_SHARDS in the caller's environment cannot reach the workers behind the test's back.
      REDIS_CLUSTER_NODES: clusterNodesValue(redisClusterNodes ?? [], redisClusterAuth),
      QUEUE_PREFIX: queuePrefix,
      QUEUE_SHARDS: String(queueShards),
    },
    async cleanup() {
      await Promise.allSettled([db.drop(), vh.drop(), dropRedisPrefix(redis, queuePrefix)]);
    },
  };
}
