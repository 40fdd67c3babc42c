import type { Redis } from 'ioredis';

/**
 * A circuit breaker whose state lives in Redis, so every worker process sees
 * the same breaker: ten workers do not each need five failures to notice an
 * outage, and while it is open nobody calls the gateway.
 *
 * closed ──(failureThreshold transient failures within windowMs)──▶ open
 * open ──(openMs elapsed)──▶ half-open: exactly one caller (the probe) may pass
 * half-open ──probe succeeds──▶ closed;  ──probe fails──▶ open again
 *
 * Why not cockatiel or opossum: both keep the breaker's state in process
 * memory, which is exactly what a horizontally scaled worker must not do. The
 * state machine is three small Lua scripts, each atomic in Redis.
 */
export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerOptions {
  /** Transient failures, across all processes, that open the breaker. */
  failureThreshold: number;
  /** The window those failures must fall in. */
  windowMs: number;
  /** How long the breaker stays open before one probe may pass. */
  openMs: number;
  /** How long a probe may take before another caller may probe instead. */
  probeTimeoutMs: number;
}

export type Permit =
  | { allowed: true; probe: boolean }
  | { allowed: false; retryInMs: number };

// KEYS: failures, open, tripped, probe. Returns [state, ttlMs]
const ACQUIRE = `
local openTtl = redis.call('PTTL', KEYS[2])
if openTtl > 0 then return {'open', openTtl} end
if redis.call('EXISTS', KEYS[3]) == 1 then
  if redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[1]) then return {'probe', 0} end
  local probeTtl = redis.call('PTTL', KEYS[4])
  return {'half_open', probeTtl > 0 and probeTtl or tonumber(ARGV[1])}
end
return {'closed', 0}`;

// ARGV: threshold, windowMs, openMs. Returns 1 when this failure opened the breaker.
const FAILURE = `
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[4], KEYS[1])
  return 1
end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('SET', KEYS[3], '1')
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

const SUCCESS = `
local wasTripped = redis.call('EXISTS', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
return wasTripped`;

export class SharedCircuitBreaker {
  private readonly keys: string[];

  constructor(
    private readonly redis: Redis,
    readonly name: string,
    keyPrefix: string,
    private readonly opts: BreakerOptions,
    private readonly onChange: (state: BreakerState, name: string) => void = () => {},
  ) {
    const base = `${keyPrefix}:breaker:${name}`;
    this.keys = [`${base}:failures`, `${base}:open`, `${base}:tripped`, `${base}:probe`];
  }

  /** May this caller call the gateway now? When not, how long until it is worth asking again. */
  async acquire(): Promise<Permit> {
    const [state, ttl] = (await this.redis.eval(ACQUIRE, 4, ...this.keys, this.opts.probeTimeoutMs)) as [string, number];
    if (state === 'closed') return { allowed: true, probe: false };
    if (state === 'probe') {
      this.onChange('half_open', this.name);
      return { allowed: true, probe: true };
    }
    return { allowed: false, retryInMs: Math.max(50, Number(ttl)) };
  }

  /** A transient failure (network, timeout, 5xx, 429): counts toward opening. */
  async recordFailure(): Promise<void> {
    const opened = await this.redis.eval(FAILURE, 4, ...this.keys, this.opts.failureThreshold, this.opts.windowMs, this.opts.openMs);
    if (opened === 1) this.onChange('open', this.name);
  }

  /** The gateway answered (a decline is an answer too): close a half-open breaker, reset the count. */
  async recordSuccess(): Promise<void> {
    const wasTripped = await this.redis.eval(SUCCESS, 4, ...this.keys);
    if (wasTripped === 1) this.onChange('closed', this.name);
  }

  async state(): Promise<BreakerState> {
    const [open, tripped] = await Promise.all([this.redis.pttl(this.keys[1]!), this.redis.exists(this.keys[2]!)]);
    if (open > 0) return 'open';
    return tripped ? 'half_open' : 'closed';
  }
}
