import type { BreakerState, Permit } from '../../../src/resilience/shared-circuit-breaker.js';
import type { RoutedGateway } from '../../../src/workers/gateway-router.js';

/** What the router asks of a breaker: gateway-router.ts picks it from SharedCircuitBreaker, so the fake needs no cast. */
export type BreakerPort = NonNullable<RoutedGateway['breaker']>;

export interface InMemoryBreakerOptions {
  state?: BreakerState;
  /** Consecutive failures (while closed) that open it; default: never opens on its own. */
  failureThreshold?: number;
  openMs?: number;
}

/**
 * SharedCircuitBreaker's state machine without Redis or a clock: closed until
 * `failureThreshold` failures, then open (every caller refused, told to come
 * back in `openMs`); half-open lets exactly one caller through as the probe,
 * whose failure opens it again and whose success closes it. Time does not pass
 * here: a test moves an open breaker on with `set('half_open')`. The Redis
 * scripts themselves are covered by tests/integration/resilience.
 */
export function createInMemoryBreaker(o: InMemoryBreakerOptions = {}) {
  let state: BreakerState = o.state ?? 'closed';
  let failures = 0;
  let probing = false;
  const openMs = o.openMs ?? 1000;
  const calls = { acquire: 0, failure: 0, success: 0 };
  const open = () => {
    state = 'open';
    failures = 0;
    probing = false;
  };

  const breaker = {
    async acquire(): Promise<Permit> {
      calls.acquire++;
      if (state === 'closed') return { allowed: true, probe: false };
      if (state === 'half_open' && !probing) {
        probing = true;
        return { allowed: true, probe: true };
      }
      return { allowed: false, retryInMs: openMs };
    },
    async recordFailure(): Promise<boolean> {
      calls.failure++;
      if (state === 'half_open') {
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
      probing = false;
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
      probing = false;
    },
  };
}

export type InMemoryBreaker = ReturnType<typeof createInMemoryBreaker>;
