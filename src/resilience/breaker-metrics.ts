import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { BreakerState } from './shared-circuit-breaker.js';

/** gateway_circuit_state's value per state, as its help text says: 0 closed, 1 half-open, 2 open. */
const GAUGE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export interface BreakerReportDeps {
  metrics: Pick<Metrics, 'breakerState'>;
  logger: Pick<Logger, 'warn' | 'info'>;
}

/** The breakers' onChange: sets the gauge and logs the change, a warning when a gateway's circuit opens. */
export function reportBreakerState({ metrics, logger }: BreakerReportDeps): (state: BreakerState, name: string) => void {
  return (state, name) => {
    metrics.breakerState.set({ gateway: name }, GAUGE[state]);
    logger[state === 'open' ? 'warn' : 'info']({ gateway: name, breaker: state }, `gateway ${name} circuit ${state}`);
  };
}
