import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig: Redis Cluster and queue shards', () => {
  it('when neither is set, then the service uses REDIS_URL and one queue, as before', () => {
    const config = loadConfig({});
    expect(config.REDIS_CLUSTER_NODES).toBeUndefined();
    expect(config).toMatchObject({ QUEUE_SHARDS: 1, QUEUE_PREFIX: '{payment-service}' });
  });

  it('when REDIS_CLUSTER_NODES lists host:port entries, then they are parsed in order, an IPv6 host unbracketed', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'redis-a:7000, 10.0.0.2:7001,[::1]:7002' }).REDIS_CLUSTER_NODES).toEqual([
      { host: 'redis-a', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
  });

  it('when an entry of REDIS_CLUSTER_NODES is not host:port, then that entry is named in one line', () => {
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'redis-a:7000,redis-b,redis-c:70000' })).toEqual([
      'REDIS_CLUSTER_NODES="redis-a:7000,redis-b,redis-c:70000" entry "redis-b" must be host:port (port 1-65535)',
      'REDIS_CLUSTER_NODES="redis-a:7000,redis-b,redis-c:70000" entry "redis-c:70000" must be host:port (port 1-65535)',
    ]);
    expect(problemsOf({ REDIS_CLUSTER_NODES: ' , ' })).toEqual(['REDIS_CLUSTER_NODES=" , " must list at least one host:port']);
  });

  it('when a cluster is configured with a QUEUE_PREFIX that has no hash tag, then it is refused (BullMQ needs one slot per queue)', () => {
    expect(problemsOf({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', QUEUE_PREFIX: 'payment-service' })).toEqual([
      'QUEUE_PREFIX="payment-service" must hold a Redis Cluster hash tag (e.g. {payment-service}) when REDIS_CLUSTER_NODES is set',
    ]);
    expect(loadConfig({ QUEUE_PREFIX: 'payment-service' }).QUEUE_PREFIX).toBe('payment-service');
  });

  it('when QUEUE_SHARDS is 1 to 64, then it is taken; otherwise it is refused by name', () => {
    expect(loadConfig({ QUEUE_SHARDS: '64' }).QUEUE_SHARDS).toBe(64);
    expect(problemsOf({ QUEUE_SHARDS: '0' })).toEqual(['QUEUE_SHARDS="0" must be between 1 and 64']);
    expect(problemsOf({ QUEUE_SHARDS: '65' })).toEqual(['QUEUE_SHARDS="65" must be between 1 and 64']);
    expect(problemsOf({ QUEUE_SHARDS: 'three' })).toEqual(['QUEUE_SHARDS="three" must be a whole number']);
  });
});
