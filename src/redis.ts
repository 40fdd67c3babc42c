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

export interface RedisTarget {
  REDIS_URL: string;
  /** Set: a cluster client that discovers the rest of the cluster from these nodes; REDIS_URL is not used. */
  REDIS_CLUSTER_NODES?: readonly ClusterNode[] | undefined;
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
  const clusterOptions: ClusterOptions = {
    redisOptions,
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

export function isCluster(redis: RedisClient): redis is Cluster {
  return (redis as Cluster).isCluster === true;
}

/** One client per master: what a SCAN, DBSIZE or INFO must visit on a cluster (each master holds its slots only). */
export function mastersOf(redis: RedisClient): Redis[] {
  return isCluster(redis) ? redis.nodes('master') : [redis];
}
