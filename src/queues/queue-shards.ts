import { createHash } from 'node:crypto';
import clusterKeySlot from 'cluster-key-slot';

/**
 * QUEUE_SHARDS: the payment (and compensation) jobs spread over N BullMQ
 * queues, each under its own Redis Cluster hash tag, so each is its own slot
 * and a cluster's masters share the work. Shard 0 is today's layout (the
 * configured prefix, the queue's own name): with N = 1 nothing changes.
 *
 * An order's shard is a stable hash of its id, so every process agrees on it
 * and a job id (the order id) still dedupes. Changing N moves orders to other
 * shards; the recovery sweeper re-enqueues an unfinished payment whose job is
 * not in its current shard.
 */

/** Most shards QUEUE_SHARDS allows: each one is a BullMQ worker (and its blocking connection) per queue per process. */
export const MAX_QUEUE_SHARDS = 64;

/** Redis Cluster's slot count: a key's slot is CRC16 of its hash tag (or of the whole key) modulo this. */
export const CLUSTER_SLOTS = 16_384;

/** The shard of a key (an order id) among `shards`: the first four bytes of its SHA-1, so any process, any day, agrees. */
export function shardOf(key: string, shards: number): number {
  if (shards <= 1) return 0;
  return createHash('sha1').update(key).digest().readUInt32BE(0) % shards;
}

/** Redis Cluster's hash tag of a key: what lies between its first `{` and the first `}` after it, when not empty. */
export function hashTagOf(key: string): string | undefined {
  const tag = /\{([^}]*)\}/.exec(key)?.[1];
  return tag ? tag : undefined;
}

/**
 * The cluster slot a key lives in, as Redis computes it (CRC16 of its hash tag, or of the
 * whole key, modulo 16384): `cluster-key-slot`, the function ioredis routes commands with.
 */
export function keySlot(key: string): number {
  return clusterKeySlot(key);
}

/** Queues, workers and compensations each ask for the same prefixes: searched once per process. */
const derived = new Map<string, readonly string[]>();

/**
 * The key prefix of each shard, shard k at index k. Shard 0 keeps `prefix`.
 * Shard k replaces the prefix's hash tag `{t}` with `{t-k.j}`, j the first
 * number that puts it in slot `slot(t) + k·16384/N`: N shards sit evenly
 * around the slot ring from today's slot, so on a cluster of N masters with
 * equal slot ranges each master holds one. Names alone would not spread them
 * (`{payment-service}`, `-1` and `-2` all hash into the middle third). The
 * search is deterministic, so every process derives the same prefixes, and
 * takes some 16 thousand slot computations (milliseconds) per shard, once at start.
 *
 * A prefix without a hash tag (only valid on a single Redis) gets `-k`.
 */
export function shardPrefixes(prefix: string, shards: number): string[] {
  const known = derived.get(`${shards}:${prefix}`);
  if (known) return [...known];
  const tag = hashTagOf(prefix);
  const prefixes = Array.from({ length: shards }, (_, k) => {
    if (k === 0) return prefix;
    if (tag === undefined) return `${prefix}-${k}`;
    return prefix.replace(`{${tag}}`, `{${spreadTag(tag, k, shards)}}`);
  });
  derived.set(`${shards}:${prefix}`, prefixes);
  return [...prefixes];
}

function spreadTag(tag: string, k: number, shards: number): string {
  const target = (keySlot(`{${tag}}`) + Math.round((k * CLUSTER_SLOTS) / shards)) % CLUSTER_SLOTS;
  for (let j = 0; ; j++) {
    const candidate = `${tag}-${k}.${j}`;
    if (keySlot(candidate) === target) return candidate;
  }
}

/** A queue's name in shard k: the name itself in shard 0 (today's), `name-k` after, so Bull Board and logs tell them apart. */
export function shardQueueName(name: string, k: number): string {
  return k === 0 ? name : `${name}-${k}`;
}

/** Where one shard of a queue lives: BullMQ builds its keys as `prefix:name:…`. */
export interface QueueShard {
  name: string;
  prefix: string;
}

/** A queue's shards, shard k at index k: what the queues, the workers and the scripts that read jobs all build on. */
export function queueShards(name: string, prefix: string, shards: number): QueueShard[] {
  return shardPrefixes(prefix, shards).map((shardPrefix, k) => ({ name: shardQueueName(name, k), prefix: shardPrefix }));
}

/** A key BullMQ keeps in a shard: a job's hash by its id, or the queue's `wait`, `delayed`, … */
export function queueKey(shard: QueueShard, suffix: string): string {
  return `${shard.prefix}:${shard.name}:${suffix}`;
}

/** The queue name without its shard suffix: `payments-2` → `payments`. */
export function baseQueueName(name: string): string {
  return name.replace(/-\d+$/, '');
}

/** Glob patterns (Redis SCAN MATCH) covering every key of a prefix and of all its shards, whatever N was. */
export function shardKeyPatterns(prefix: string): string[] {
  const tag = hashTagOf(prefix);
  if (tag === undefined) return [`${escapeGlob(prefix)}*`];
  const before = prefix.slice(0, prefix.indexOf(`{${tag}}`));
  return [`${escapeGlob(prefix)}*`, `${escapeGlob(`${before}{${tag}-`)}*`];
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** One thing per shard (a queue, a worker), and the one a key belongs to. */
export interface Sharded<T> {
  /** Shard k at index k. */
  readonly shards: readonly T[];
  /** The shard of a key (an order id): always the same one for the same N. */
  of(key: string): T;
}

export function sharded<T>(shards: readonly T[]): Sharded<T> {
  return { shards, of: (key) => shards[shardOf(key, shards.length)]! };
}

/** Keys by the shard they belong to, for one round trip per shard (a cluster refuses a batch that spans slots). */
export function groupByShard<T>(s: Sharded<T>, keys: readonly string[]): Map<T, string[]> {
  const groups = new Map<T, string[]>();
  for (const key of keys) {
    const shard = s.of(key);
    const group = groups.get(shard);
    if (group) group.push(key);
    else groups.set(shard, [key]);
  }
  return groups;
}

/** Splits a per-process concurrency over the shards' workers: they add up to `total`, each gets at least one. */
export function concurrencyOfShard(total: number, shards: number, k: number): number {
  return Math.max(1, Math.floor(total / shards) + (k < total % shards ? 1 : 0));
}
