import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis.js';

/**
 * One reconciliation pass at a time, across every process: a Redis key set
 * with NX and a time to live, renewed while the pass runs and deleted by its
 * holder only (compare-and-delete). A holder that dies stops renewing, so the
 * key expires after `ttlMs` and the next pass can run: the lock survives a
 * process dying mid-pass. A single Redis key is Redis's documented pattern for
 * one instance; Redlock's multi-instance quorum would add nothing here, as the
 * service already depends on that one Redis (or cluster slot).
 */

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface HeldLock {
  /** False once the lock was lost (not renewed in time): the holder should stop. */
  held(): boolean;
  release(): Promise<void>;
}

export async function tryLock(redis: RedisClient, key: string, ttlMs: number): Promise<HeldLock | undefined> {
  const token = randomUUID();
  const asked = Date.now();
  if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return undefined;
  let held = true;
  // Ours until the time to live of the last renewal Redis confirmed runs out, counted from when it was sent:
  // a holder that cannot reach Redis must stop by then, as another process may take the lock after it.
  let validUntil = asked + ttlMs;
  const renew = setInterval(() => {
    const sent = Date.now();
    redis.eval(RENEW, 1, key, token, ttlMs).then(
      (ok) => { if (ok === 1) validUntil = sent + ttlMs; else held = false; },
      () => { /* Redis away: the next renewal tries again; the lock may expire meanwhile. */ },
    );
  }, Math.max(100, Math.floor(ttlMs / 3)));
  renew.unref();
  return {
    held: () => held && Date.now() < validUntil,
    async release() {
      clearInterval(renew);
      held = false;
      await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
    },
  };
}
