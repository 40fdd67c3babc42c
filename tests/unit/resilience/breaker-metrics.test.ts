import { describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../../../src/observability/metrics.js';
import { reportBreakerState, type BreakerReportDeps } from '../../../src/resilience/breaker-metrics.js';

function setup() {
  const metrics = createMetrics();
  const logger = { warn: vi.fn(), info: vi.fn() };
  const report = reportBreakerState({ metrics, logger: logger as unknown as BreakerReportDeps['logger'] });
  const gauge = async () => Object.fromEntries((await metrics.breakerState.get()).values.map((v) => [v.labels.gateway, v.value]));
  return { report, logger, gauge };
}

describe('breaker state report', () => {
  it('sets gateway_circuit_state per gateway: open 2, half-open 1, closed 0', async () => {
    const { report, gauge } = setup();
    report('open', 'stripe');
    report('half_open', 'mock');
    expect(await gauge()).toEqual({ stripe: 2, mock: 1 });
    report('closed', 'stripe');
    expect(await gauge()).toEqual({ stripe: 0, mock: 1 });
  });

  it('warns when a circuit opens and only informs when it half-opens or closes', () => {
    const { report, logger } = setup();
    report('open', 'stripe');
    expect(logger.warn).toHaveBeenCalledExactlyOnceWith({ gateway: 'stripe', breaker: 'open' }, 'gateway stripe circuit open');
    report('half_open', 'stripe');
    report('closed', 'stripe');
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.info.mock.calls).toEqual([
      [{ gateway: 'stripe', breaker: 'half_open' }, 'gateway stripe circuit half_open'],
      [{ gateway: 'stripe', breaker: 'closed' }, 'gateway stripe circuit closed'],
    ]);
  });
});
