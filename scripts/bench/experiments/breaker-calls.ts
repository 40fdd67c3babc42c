// An experiment behind the benchmark's advice (not part of `npm run bench`):
// what the shared circuit breaker costs per payment: acquire + recordSuccess
// as two EVALs that send the whole Lua source (the breaker up to a77ee6f),
// the same scripts registered once (EVALSHA), EVALSHA acquire with the
// successes flushed as one INCRBY every 50 ms, and the breaker as it is in
// src/resilience now.
//   npx tsx scripts/bench/experiments/breaker-calls.ts [payments=20000] [concurrency=20]
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { SharedCircuitBreaker } from '../../../src/resilience/shared-circuit-breaker.js';
import { dropRedisPrefix } from '../../../tests/support/isolation.js';
import { servicesCpu } from '../proc-stats.js';

const N = Number(process.argv[2] ?? 20_000);
const CONCURRENCY = Number(process.argv[3] ?? 20);
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const OPTS = { failureThreshold: 5, failureRatio: 0.5, windowMs: 30_000, openMs: 10_000, probeTimeoutMs: 11_000 };

// The ACQUIRE and SUCCESS scripts of src/resilience/shared-circuit-breaker.ts, as registered commands.
const ACQUIRE = `local openTtl = redis.call('PTTL', KEYS[3])
if openTtl > 0 then return {'open', openTtl} end
if redis.call('EXISTS', KEYS[4]) == 1 then
  if redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[1]) then return {'probe', 0} end
  local probeTtl = redis.call('PTTL', KEYS[5])
  return {'half_open', probeTtl > 0 and probeTtl or tonumber(ARGV[1])}
end
return {'closed', 0}`;
const SUCCESS = `if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[4], KEYS[5])
  return 1
end
local calls = redis.call('INCRBY', KEYS[2], ARGV[2])
if calls == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return 0`;

type Registered = Redis & {
  breakerAcquire(...args: Array<string | number>): Promise<[string, number]>;
  breakerSuccess(...args: Array<string | number>): Promise<number>;
};

async function measure(name: string, one: () => Promise<void>) {
  for (let i = 0; i < 500; i++) await one();
  const cpu = process.cpuUsage();
  const redisBefore = servicesCpu().redis;
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next++ < N) await one();
  }));
  const wallS = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const redisS = servicesCpu().redis - redisBefore;
  console.log(`${name.padEnd(52)} ${(N / wallS).toFixed(0).padStart(7)} payments/s   client CPU ${((used.user + used.system) / 1000 / N).toFixed(4)} ms/payment   Redis CPU ${((redisS * 1000) / N).toFixed(4)} ms/payment (server-wide)`);
}

const prefix = `{bench${randomBytes(3).toString('hex')}}`;
const redis = new Redis(REDIS_URL) as Registered;
try {
  const breaker = new SharedCircuitBreaker(redis, 'stripe', prefix, OPTS);
  const base = `${prefix}:breaker:x`;
  const keys = [`${base}:failures`, `${base}:calls`, `${base}:open`, `${base}:tripped`, `${base}:probe`];
  redis.defineCommand('breakerAcquire', { numberOfKeys: 5, lua: ACQUIRE });
  redis.defineCommand('breakerSuccess', { numberOfKeys: 5, lua: SUCCESS });
  let pending = 0;
  const flusher = setInterval(() => {
    if (pending === 0) return;
    const n = pending;
    pending = 0;
    void redis.breakerSuccess(...keys, OPTS.windowMs, n);
  }, 50);

  console.log(`${N} charges' breaker calls, concurrency ${CONCURRENCY}`);
  for (let round = 0; round < 2; round++) {
    await measure('EVAL acquire + EVAL success (source sent each call)', async () => {
      await redis.eval(ACQUIRE, 5, ...keys, OPTS.probeTimeoutMs);
      await redis.eval(SUCCESS, 5, ...keys, OPTS.windowMs, 1);
    });
    await measure('EVALSHA acquire + EVALSHA success', async () => {
      await redis.breakerAcquire(...keys, OPTS.probeTimeoutMs);
      await redis.breakerSuccess(...keys, OPTS.windowMs, 1);
    });
    await measure('EVALSHA acquire, successes flushed every 50 ms', async () => {
      await redis.breakerAcquire(...keys, OPTS.probeTimeoutMs);
      pending++;
    });
    await measure('src/resilience breaker as it is now', async () => {
      await breaker.acquire();
      await breaker.recordSuccess();
    });
  }
  clearInterval(flusher);
} finally {
  await dropRedisPrefix(REDIS_URL, prefix);
  redis.disconnect();
}
