import type { RedisClient } from '../redis.js';

/**
 * One atomic step per screening: drop the customer's entries older than the
 * window, add this order (once: a redelivered order keeps its first entry and
 * is not counted again), count, and let the key expire with the window.
 * Redis's own clock is the window's: processes on other hosts agree on it.
 *
 * A new order counts every entry in the window (itself included); an order
 * seen before counts the entries up to its own, so screening it again gives
 * the answer it first had while those entries are in the window. That needs
 * every entry's score to be its own: orders screened in the same millisecond
 * would tie, and "up to its own" would count those after it. A new entry
 * therefore goes 1 ms after the newest when the clock has not passed it yet.
 */
const SCREEN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local windowMs = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - windowMs)
local count
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if seen then
  count = redis.call('ZCOUNT', KEYS[1], '-inf', seen)
else
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
  if newest and tonumber(newest) >= now then now = tonumber(newest) + 1 end
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  count = redis.call('ZCARD', KEYS[1])
end
redis.call('PEXPIRE', KEYS[1], windowMs)
return count
`;

export function velocityKey(prefix: string, customerId: string): string {
  return `${prefix}:risk:velocity:${customerId}`;
}

/** The customer's payments in the window, this order included, counted once however often it is screened. */
export async function countInWindow(redis: RedisClient, prefix: string, customerId: string, orderId: string, windowSeconds: number): Promise<number> {
  return Number(await redis.eval(SCREEN, 1, velocityKey(prefix, customerId), orderId, windowSeconds * 1000));
}
