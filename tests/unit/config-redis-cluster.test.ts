import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { redactSecrets } from '../../src/observability/logger.js';
import { createRedis } from '../../src/redis.js';
import { clusterNodesValue } from '../../src/redis-cluster-nodes.js';
import { howToStart, servicesOf } from '../../src/services.js';

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

  it('when REDIS_CLUSTER_NODES lists host:port entries, then they are parsed in order, an IPv6 host unbracketed, with no credentials', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: 'redis-a:7000, 10.0.0.2:7001,[::1]:7002' });
    expect(config.REDIS_CLUSTER_NODES).toStrictEqual([
      { host: 'redis-a', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(config.REDIS_CLUSTER_AUTH).toBeUndefined();
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

const PASSWORD = 'Zq7s3cret';

describe('loadConfig: REDIS_CLUSTER_NODES as redis:// and rediss:// URLs', () => {
  it('when every entry is redis://user:password@host:port, then the nodes keep their plain shape and the credentials are said once', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: `redis://app:${PASSWORD}@redis-a:7000, redis://app:${PASSWORD}@10.0.0.2:7001,redis://app:${PASSWORD}@[::1]:7002/` });
    expect(config.REDIS_CLUSTER_NODES).toStrictEqual([
      { host: 'redis-a', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(config.REDIS_CLUSTER_AUTH).toStrictEqual({ username: 'app', password: PASSWORD, tls: false });
  });

  it('when the entries are rediss://, then the cluster is reached over TLS, with or without a password', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: `rediss://:${PASSWORD}@a.example:6379,rediss://:${PASSWORD}@b.example:6379` }).REDIS_CLUSTER_AUTH)
      .toStrictEqual({ password: PASSWORD, tls: true });
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'rediss://a.example:6379' }).REDIS_CLUSTER_AUTH).toStrictEqual({ tls: true });
  });

  it('when the password is percent-encoded, then it is decoded; an unencoded @ or comma is still read as part of it', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'redis://:p%40ss%2Fw%2Crd%25@a:7000' }).REDIS_CLUSTER_AUTH).toStrictEqual({ password: 'p@ss/w,rd%', tls: false });
    const unencoded = loadConfig({ REDIS_CLUSTER_NODES: 'redis://:p@ss,w@a:7000,redis://:p@ss,w@b:7001' });
    expect(unencoded.REDIS_CLUSTER_AUTH).toStrictEqual({ password: 'p@ss,w', tls: false });
    expect(unencoded.REDIS_CLUSTER_NODES).toStrictEqual([{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }]);
  });

  it('when plain host:port entries are mixed with redis:// entries that carry nothing, then that is the same cluster without AUTH', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: 'a:7000,redis://b:7001' });
    expect(config.REDIS_CLUSTER_NODES).toStrictEqual([{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }]);
    expect(config.REDIS_CLUSTER_AUTH).toBeUndefined();
  });

  it.each([
    ['a password on some entries only', `redis://:${PASSWORD}@a:7000,b:7001,c:7002`, '"redis://***@a:7000" and "b:7001", "c:7002" differ in password'],
    ['two passwords', `redis://:${PASSWORD}@a:7000,redis://:${PASSWORD}x@b:7001`, '"redis://***@a:7000" and "redis://***@b:7001" differ in password'],
    ['TLS on some entries only', `rediss://:${PASSWORD}@a:7000,redis://:${PASSWORD}@b:7001`, '"rediss://***@a:7000" and "redis://***@b:7001" differ in scheme (redis:// or rediss://)'],
    ['two usernames', `redis://app:${PASSWORD}@a:7000,redis://ops:${PASSWORD}@b:7001`, '"redis://***@a:7000" and "redis://***@b:7001" differ in username'],
  ])('when the entries disagree (%s), then start is refused in one line naming them, without the password', (_, value, named) => {
    const problems = problemsOf({ REDIS_CLUSTER_NODES: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`entries ${named}: every node of a cluster is reached with one scheme and one set of credentials`);
    expect(problems[0]).not.toContain(PASSWORD);
  });

  it.each([
    ['no port', `redis://:${PASSWORD}@a`, 'entry "redis://***@a" must name a host and a port 1-65535'],
    ['a database', `redis://:${PASSWORD}@a:7000/1`, 'entry "redis://***@a:7000/1" must end at host:port'],
    ['another scheme', `http://:${PASSWORD}@a:7000`, 'entry "http://***@a:7000" must be host:port, redis://[user:password@]host:port or rediss://'],
    ['a bad percent-encoding', `redis://:${PASSWORD}%zz@a:7000`, 'entry "redis://***@a:7000" has credentials that are not valid percent-encoding'],
    ['an unencoded / in the password', `redis://:${PASSWORD}/x@a:7000`, 'entry "redis://***@a:7000" must'],
  ])('when a URL entry has %s, then it is named with its credentials hidden', (_, value, named) => {
    const problems = problemsOf({ REDIS_CLUSTER_NODES: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(named);
    expect(problems[0]).not.toContain(PASSWORD);
  });

  it('when the cluster has a password, then a logged config, the preflight line and a refusal never show it', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: `redis://:${PASSWORD}@a:7000,redis://:${PASSWORD}@b:7001` });
    expect(JSON.stringify(redactSecrets(config))).not.toContain(PASSWORD);
    expect(howToStart(servicesOf(config)[1]!)).toContain('a:7000, b:7001');
    expect(howToStart(servicesOf(config)[1]!)).not.toContain(PASSWORD);
    expect(problemsOf({ REDIS_CLUSTER_NODES: `redis://:${PASSWORD}@a:7000,b` })).toEqual([
      'REDIS_CLUSTER_NODES="redis://***@a:7000,b" entry "b" must be host:port (port 1-65535)',
    ]);
  });

  it('when the cluster has a password and TLS, then createRedis gives every node connection the credentials and tls, and keeps host names', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: `rediss://app:${PASSWORD}@a.example:6379,rediss://app:${PASSWORD}@b.example:6379` });
    const cluster = createRedis(config, { lazyConnect: true }) as Cluster;
    try {
      expect(cluster.options.redisOptions).toMatchObject({ username: 'app', password: PASSWORD, tls: {}, maxRetriesPerRequest: null });
      const looked: string[] = [];
      cluster.options.dnsLookup!('a.example', (_err, address) => looked.push(address));
      expect(looked).toEqual(['a.example']);
    } finally {
      cluster.disconnect();
    }
    const plain = createRedis(loadConfig({ REDIS_CLUSTER_NODES: 'a:7000' }), { lazyConnect: true }) as Cluster;
    expect(plain.options.redisOptions).not.toHaveProperty('password');
    expect(plain.options.redisOptions).not.toHaveProperty('tls');
    plain.disconnect();
  });

  it('when the parsed nodes are written back for a child process, then they read back the same', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: 'rediss://app:p%40ss%2C@a:7000,rediss://app:p%40ss%2C@[::1]:7001' });
    const again = loadConfig({ REDIS_CLUSTER_NODES: clusterNodesValue(config.REDIS_CLUSTER_NODES!, config.REDIS_CLUSTER_AUTH) });
    expect(again.REDIS_CLUSTER_NODES).toStrictEqual(config.REDIS_CLUSTER_NODES);
    expect(again.REDIS_CLUSTER_AUTH).toStrictEqual(config.REDIS_CLUSTER_AUTH);
    expect(clusterNodesValue([{ host: '::1', port: 7000 }, { host: 'b', port: 7001 }])).toBe('[::1]:7000,b:7001');
  });
});
