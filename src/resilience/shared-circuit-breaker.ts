import type { RedisClient } from '../redis.js';

/**
 * A circuit breaker whose state lives in Redis, so every worker process sees
 * the same breaker: ten workers do not each need five failures to notice an
 * outage, and while it is open nobody calls the gateway.
 *
 * closed ──(failureThreshold transient failures, and at least failureRatio of
 *           all calls, within windowMs)──▶ open
 * open ──(openMs elapsed)──▶ half-open: up to halfOpenProbes callers (probes) may pass
 * half-open ──a probe succeeds──▶ closed;  ──halfOpenProbes probes fail──▶ open again
 *
 * Several probes, not one (Resilience4j's permittedNumberOfCallsInHalfOpenState):
 * when the only payments left are ones whose own calls keep failing (a card the
 * gateway hangs on), a single probe is always one of them, each failure reopens
 * the breaker, and they drain one attempt per open period: 15 such payments took
 * minutes. With K probes they drain K attempts per period, and in mixed traffic
 * one healthy probe among the K closes it at once. In an outage it costs K calls
 * per open period instead of one.
 *
 * A process that found the breaker closed with no failure window open trusts
 * that for `localCacheMs` and skips Redis on the happy path, so the failure
 * ratio counts the calls made since the window's first failure.
 *
 * Why not cockatiel or opossum: both keep the breaker's state in process
 * memory, which is exactly what a horizontally scaled worker must not do. The
 * state machine is three small Lua scripts, each atomic in Redis.
 */
export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerOptions {
  /** Transient failures, across all processes, that open the breaker... */
  failureThreshold: number;
  /** ...provided they are at least this share of the calls in the window (0..1), so a busy gateway with a few errors stays closed. */
  failureRatio: number;
  /** The window those failures must fall in. */
  windowMs: number;
  /** How long the breaker stays open before one probe may pass. */
  openMs: number;
  /** How long a probe may take before another caller may probe instead. */
  probeTimeoutMs: number;
  /** Probes let through per half-open period; that many failed probes open it again (default 1). */
  halfOpenProbes?: number;
  /**
   * How long this process trusts a "closed, no failures" answer without asking
   * Redis again (default 200 ms): saves two Redis round trips per payment on the
   * happy path, at the price of seeing another process open the breaker that late.
   */
  localCacheMs?: number;
}

export type Permit =
  | { allowed: true; probe: boolean }
  | { allowed: false; retryInMs: number };

// KEYS (all scripts): failures, calls, open, tripped, probe.

// ARGV: probeTimeoutMs, halfOpenProbes. Returns [state, ttlMs]. The probe key counts the probes let through.
const ACQUIRE = `
local openTtl = redis.call('PTTL', KEYS[3])
if openTtl > 0 then return {'open', openTtl} end
if redis.call('EXISTS', KEYS[4]) == 1 then
  local probes = tonumber(redis.call('GET', KEYS[5]) or '0')
  if probes < tonumber(ARGV[2]) then
    redis.call('INCR', KEYS[5])
    if probes == 0 then redis.call('PEXPIRE', KEYS[5], ARGV[1]) end
    return {'probe', 0}
  end
  local probeTtl = redis.call('PTTL', KEYS[5])
  return {'half_open', probeTtl > 0 and probeTtl or tonumber(ARGV[1])}
end
return {'closed', 0, redis.call('EXISTS', KEYS[1]) + redis.call('EXISTS', KEYS[4])}`;

// ARGV: threshold, ratio, windowMs, openMs, halfOpenProbes. Returns 1 when the breaker is open after this failure.
// Tripped: already open again (a late call's failure) stays so; half-open counts failed probes in the failures key.
const FAILURE = `
if redis.call('EXISTS', KEYS[4]) == 1 then
  if redis.call('PTTL', KEYS[3]) > 0 then return 1 end
  local failed = redis.call('INCR', KEYS[1])
  if failed == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  if failed < tonumber(ARGV[5]) then return 0 end
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
  redis.call('DEL', KEYS[5], KEYS[1], KEYS[2])
  return 1
end
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
local calls = redis.call('INCR', KEYS[2])
if calls == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
if failures >= tonumber(ARGV[1]) and failures >= tonumber(ARGV[2]) * calls then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
  redis.call('SET', KEYS[4], '1')
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0`;

// ARGV: windowMs. Returns 1 when this success closed a tripped breaker.
const SUCCESS = `
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[4], KEYS[5])
  return 1
end
local calls = redis.call('INCR', KEYS[2])
if calls == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return 0`;

export class SharedCircuitBreaker {
  private readonly keys: string[];
  /** Until when this process may skip Redis: the breaker was closed with no failure window open. */
  private quietUntil = 0;

  constructor(
    private readonly redis: RedisClient,
    readonly name: string,
    keyPrefix: string,
    private readonly opts: BreakerOptions,
    private readonly onChange: (state: BreakerState, name: string) => void = () => {},
  ) {
    const base = `${keyPrefix}:breaker:${name}`;
    this.keys = [`${base}:failures`, `${base}:calls`, `${base}:open`, `${base}:tripped`, `${base}:probe`];
  }

  private get probes(): number {
    return this.opts.halfOpenProbes ?? 1;
  }

  /** May this caller call the gateway now? When not, how long until it is worth asking again. */
  async acquire(): Promise<Permit> {
    if (Date.now() < this.quietUntil) return { allowed: true, probe: false };
    const [state, ttl, failuresActive] = (await this.redis.eval(ACQUIRE, 5, ...this.keys, this.opts.probeTimeoutMs, this.probes)) as [string, number, number?];
    if (state === 'closed') {
      if (!failuresActive) this.quietUntil = Date.now() + (this.opts.localCacheMs ?? 200);
      return { allowed: true, probe: false };
    }
    if (state === 'probe') {
      this.onChange('half_open', this.name);
      return { allowed: true, probe: true };
    }
    return { allowed: false, retryInMs: Math.max(50, Number(ttl)) };
  }

  /**
   * A transient failure (network, timeout, 5xx, 429): counts toward opening.
   * Resolves true when the breaker is open after it (this failure opened it, the
   * last probe of a half-open period failed, or it was open already): the failure
   * belongs to an outage, not to the payment.
   */
  async recordFailure(): Promise<boolean> {
    this.quietUntil = 0;
    const opened = await this.redis.eval(FAILURE, 5, ...this.keys, this.opts.failureThreshold, this.opts.failureRatio, this.opts.windowMs, this.opts.openMs, this.probes);
    if (opened === 1) this.onChange('open', this.name);
    return opened === 1;
  }

  /** How long an opened breaker stays open. */
  get openMs(): number {
    return this.opts.openMs;
  }

  /** The gateway answered (a decline is an answer too): close a half-open breaker, reset the count. */
  async recordSuccess(): Promise<void> {
    // Quiet (no failure window, not tripped): nothing to count or close.
    if (Date.now() < this.quietUntil) return;
    const wasTripped = await this.redis.eval(SUCCESS, 5, ...this.keys, this.opts.windowMs);
    if (wasTripped === 1) this.onChange('closed', this.name);
  }

  async state(): Promise<BreakerState> {
    const [open, tripped] = await Promise.all([this.redis.pttl(this.keys[2]!), this.redis.exists(this.keys[3]!)]);
    if (open > 0) return 'open';
    return tripped ? 'half_open' : 'closed';
  }
}
