import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CLUSTER_SLOTS,
  concurrencyOfShard,
  groupByShard,
  hashTagOf,
  keySlot,
  queueShards,
  sharded,
  shardOf,
  shardPrefixes,
} from '../../../src/queues/queue-shards.js';

describe('shardOf: the shard of an order', () => {
  it('when the same order id is asked for again, in any process on any day, then it is the same shard', () => {
    // Pinned: a release that changed these would strand every job in flight in a shard its orders no longer map to.
    expect(shardOf('9a6b1f0e-2d55-4c1e-8f35-7c1d2b4e9f10', 3)).toBe(1);
    expect(shardOf('9a6b1f0e-2d55-4c1e-8f35-7c1d2b4e9f10', 8)).toBe(7);
    expect(shardOf('2f1c6a2e-6a1b-4f57-9d87-0e1b9c2b7a11', 3)).toBe(0);
    expect(shardOf('00000000-0000-4000-8000-000000000000', 64)).toBe(24);
    const id = randomUUID();
    expect(new Set(Array.from({ length: 20 }, () => shardOf(id, 5)))).toEqual(new Set([shardOf(id, 5)]));
  });

  it('when there is one shard, then every order is in shard 0 (today\'s queue)', () => {
    expect(Array.from({ length: 100 }, () => shardOf(randomUUID(), 1))).toEqual(Array(100).fill(0));
  });

  it.each([2, 3, 8, 64])('when 10,000 order ids are spread over %i shards, then each shard gets its share within 25%', (shards) => {
    const counts = Array<number>(shards).fill(0);
    // Fixed ids (not random ones), so the check gives the same answer on every run.
    for (let i = 0; i < 10_000; i++) counts[shardOf(fixedOrderId(i), shards)]!++;
    const share = 10_000 / shards;
    for (const n of counts) expect(Math.abs(n - share) / share).toBeLessThan(0.25);
  });
});

describe('cluster slots, as Redis computes them', () => {
  it('when a key is hashed, then the slot is the one Redis gives (CRC16-XMODEM of the hash tag, or of the key)', () => {
    expect(keySlot('123456789')).toBe(0x31c3); // the Redis Cluster specification's CRC16 check value (under 16384, so its slot)
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('bar')).toBe(5061);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
  });

  it('when a key has braces, then its hash tag is what lies between the first { and the next }', () => {
    expect(hashTagOf('{payment-service}:payments:wait')).toBe('payment-service');
    expect(hashTagOf('a{b}{c}')).toBe('b');
    expect(hashTagOf('{}x{y}')).toBeUndefined();
    expect(hashTagOf('no-tag')).toBeUndefined();
  });
});

describe('shardPrefixes: where each shard lives', () => {
  const slotOf = (prefix: string) => keySlot(`${prefix}:payments:wait`);

  it('when there is one shard, then it is today\'s prefix, so QUEUE_SHARDS=1 changes no key', () => {
    expect(shardPrefixes('{payment-service}', 1)).toEqual(['{payment-service}']);
    expect(queueShards('payments', '{payment-service}', 1)).toEqual([{ name: 'payments', prefix: '{payment-service}' }]);
  });

  it('when there are N shards, then shard 0 keeps the prefix and the others sit evenly around the slot ring from it', () => {
    for (const shards of [2, 3, 4, 7]) {
      const prefixes = shardPrefixes('{payment-service}', shards);
      expect(prefixes[0]).toBe('{payment-service}');
      const first = slotOf(prefixes[0]!);
      prefixes.forEach((prefix, k) => {
        expect(prefix).toMatch(/^\{payment-service(-\d+\.\d+)?\}$/);
        expect((slotOf(prefix) - first + CLUSTER_SLOTS) % CLUSTER_SLOTS).toBe(Math.round((k * CLUSTER_SLOTS) / shards));
      });
    }
  });

  it('when 3 shards meet a 3-master cluster with the usual equal slot ranges, then each master holds one', () => {
    const master = (slot: number) => (slot < 5461 ? 0 : slot < 10923 ? 1 : 2);
    for (const prefix of ['{payment-service}', '{t1abc}', 'x{tenant-7}y']) {
      expect(new Set(shardPrefixes(prefix, 3).map((p) => master(slotOf(p))))).toEqual(new Set([0, 1, 2]));
    }
  });

  it('when the prefix has text around its hash tag, then only the tag changes; without a tag, a suffix tells the shards apart', () => {
    const [, second] = shardPrefixes('x{tenant-7}y', 2);
    expect(second).toMatch(/^x\{tenant-7-1\.\d+\}y$/);
    expect(shardPrefixes('plain', 3)).toEqual(['plain', 'plain-1', 'plain-2']);
  });

  it('when any process derives them, then it gets the same prefixes and queue names', () => {
    expect(queueShards('payments', '{p}', 3)).toEqual(queueShards('payments', '{p}', 3));
    expect(queueShards('payments', '{p}', 3).map((s) => s.name)).toEqual(['payments', 'payments-1', 'payments-2']);
  });
});

describe('a process serving every shard', () => {
  it('when WORKER_CONCURRENCY is split over the shards, then the workers add up to it, each with at least one', () => {
    expect([0, 1, 2].map((k) => concurrencyOfShard(50, 3, k))).toEqual([17, 17, 16]);
    expect([0, 1, 2, 3].map((k) => concurrencyOfShard(2, 4, k))).toEqual([1, 1, 1, 1]);
    expect(concurrencyOfShard(50, 1, 0)).toBe(50);
  });

  it('when keys are grouped by shard, then each group holds exactly the keys of its shard', () => {
    const s = sharded(['a', 'b', 'c']);
    const ids = Array.from({ length: 50 }, () => randomUUID());
    const groups = groupByShard(s, ids);
    expect([...groups.values()].flat().sort()).toEqual([...ids].sort());
    for (const [shard, keys] of groups) for (const key of keys) expect(s.of(key)).toBe(shard);
  });
});

/** The i-th of a fixed list of UUID-shaped order ids. */
function fixedOrderId(i: number): string {
  const hex = createHash('md5').update(`order-${i}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
