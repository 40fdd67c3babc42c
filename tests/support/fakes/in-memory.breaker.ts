import type { BreakerState, Permit } from '../../../src/resilience/shared-circuit-breaker.js';
import type { RoutedGateway } from '../../../src/workers/gateway-router.js';

/** What the router asks of a breaker: gateway-router.ts picks it from SharedCircuitBreaker, so the fake needs no cast. */
export type BreakerPort = NonNullable<RoutedGateway['breaker']>;

export interface InMemoryBreakerOptions {
  state?: BreakerState;
  /** Consecutive failures (while closed) that open it; default: never opens on its own. */
  failureThreshold?: number;
  openMs?: number;
  /** Probes let through while half-open; that many failures open it again (default 1). */
  halfOpenProbes?: number;
}

/**
 * SharedCircuitBreaker's state machine without Redis or a clock: closed until
 * `failureThreshold` failures, then open (every caller refused, told to come
 * back in `openMs`); half-open lets `halfOpenProbes` callers through as probes:
 * one success closes it, that many failures open it again. Time does not pass
 * here: a test moves an open breaker on with `set('half_open')`. The Redis
 * scripts themselves are covered by tests/integration/resilience.
 */
export function createInMemoryBreaker(o: InMemoryBreakerOptions = {}) {
  let state: BreakerState = o.state ?? 'closed';
  let failures = 0;
  let probes = 0;
  let probeFailures = 0;
  const maxProbes = o.halfOpenProbes ?? 1;
  const openMs = o.openMs ?? 1000;
  const calls = { acquire: 0, failure: 0, success: 0 };
  const open = () => {
    state = 'open';
    failures = 0;
    probes = 0;
    probeFailures = 0;
  };

  const breaker = {
    async acquire(): Promise<Permit> {
      calls.acquire++;
      if (state === 'closed') return { allowed: true, probe: false };
      if (state === 'half_open' && probes < maxProbes) {
        probes++;
        return { allowed: true, probe: true };
      }
      return { allowed: false, retryInMs: openMs };
    },
    async recordFailure(): Promise<boolean> {
      calls.failure++;
      if (state === 'open') return true;
      if (state === 'half_open') {
        if (++probeFailures < maxProbes) return false;
        open();
        return true;
      }
      failures++;
      if (failures >= (o.failureThreshold ?? Number.POSITIVE_INFINITY)) {
        open();
        return true;
      }
      return false;
    },
    async recordSuccess(): Promise<void> {
      calls.success++;
      state = 'closed';
      failures = 0;
      probes = 0;
      probeFailures = 0;
    },
    get openMs() {
      return openMs;
    },
  } satisfies BreakerPort;

  return {
    breaker,
    calls,
    state: () => state,
    set(next: BreakerState): void {
      state = next;
      failures = 0;
      probes = 0;
      probeFailures = 0;
    },
  };
}

export type InMemoryBreaker = ReturnType<typeof createInMemoryBreaker>;
