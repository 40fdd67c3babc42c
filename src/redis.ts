import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * The Redis client every part of the service takes: one Redis (REDIS_URL) or
 * a Redis Cluster (REDIS_CLUSTER_NODES). Both run BullMQ, Lua scripts and
 * MULTI, provided each script's or transaction's keys share one hash slot:
 * every key here is under QUEUE_PREFIX (or a shard's prefix), whose `{…}` hash
 * tag puts all of it in one slot.
 */
export type RedisClient = Redis | Cluster;

export interface ClusterNode {
  host: string;
  port: number;
}

/**
 * How every node of a cluster is reached: REDIS_CLUSTER_NODES' scheme and
 * credentials, one for all entries. One, because the client reaches the nodes
 * it learns from the slot map with the same options as the ones listed.
 */
export interface ClusterAuth {
  username?: string | undefined;
  password?: string | undefined;
  /** rediss:// */
  tls: boolean;
}

export interface RedisTarget {
  REDIS_URL: string;
  /** Set: a cluster client that discovers the rest of the cluster from these nodes; REDIS_URL is not used. */
  REDIS_CLUSTER_NODES?: readonly ClusterNode[] | undefined;
  /** Read from REDIS_CLUSTER_NODES' URL entries (not a variable of its own); unset: no AUTH, no TLS. */
  REDIS_CLUSTER_AUTH?: ClusterAuth | undefined;
}

/**
 * A client for the service's Redis. BullMQ needs `maxRetriesPerRequest: null`
 * (a Redis blip blocks a command instead of failing the worker) and
 * `enableReadyCheck`; `options` adds to them (a script may want
 * `maxRetriesPerRequest: 1` to fail fast).
 */
export function createRedis(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  const redisOptions: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: true, ...options };
  const nodes = target.REDIS_CLUSTER_NODES;
  if (!nodes?.length) return new Redis(target.REDIS_URL, redisOptions);
  const auth = target.REDIS_CLUSTER_AUTH;
  const clusterOptions: ClusterOptions = {
    redisOptions: { ...nodeOptionsOf(auth), ...redisOptions },
    // A certificate names the host: connect by the name given, not by the address it resolves to (ioredis' advice for ElastiCache).
    ...(auth?.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
    enableReadyCheck: true,
    // Commands wait while the client (re)learns the slot map, at start and after a failover, instead of failing.
    enableOfflineQueue: true,
    // While a replica takes over a dead master, its slots answer errors or nothing for a few seconds:
    // retry on that schedule rather than counting it against the command.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 100,
    ...(options.lazyConnect ? { lazyConnect: true } : {}),
  };
  return new Cluster(nodes.map((n) => ({ host: n.host, port: n.port })), clusterOptions);
}

function nodeOptionsOf(auth: ClusterAuth | undefined): RedisOptions {
  if (!auth) return {};
  return {
    ...(auth.username === undefined ? {} : { username: auth.username }),
    ...(auth.password === undefined ? {} : { password: auth.password }),
    ...(auth.tls ? { tls: {} } : {}),
  };
}

/**
 * What a Redis client's 'error' event says, for a log line. A cluster's own
 * ("Failed to refresh slots cache.") hides the node's answer, which is the
 * part that tells a wrong password (NOAUTH, WRONGPASS) from a node that is down.
 */
export function redisErrorOf(err: Error): string {
  const last = (err as { lastNodeError?: Error }).lastNodeError;
  return last ? `${err.message} (last node: ${last.message})` : err.message;
}

export function isCluster(redis: RedisClient): redis is Cluster {
  return (redis as Cluster).isCluster === true;
}

/** One client per master: what a SCAN, DBSIZE or INFO must visit on a cluster (each master holds its slots only). */
export function mastersOf(redis: RedisClient): Redis[] {
  return isCluster(redis) ? redis.nodes('master') : [redis];
}
