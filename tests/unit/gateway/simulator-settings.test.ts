import { describe, expect, it } from 'vitest';
import {
  applySettingsPatch,
  DEFAULT_SETTINGS,
  loadSimulatorConfig,
  SimulatorSettingsError,
} from '../../../src/gateway/simulator/simulator.settings.js';

describe('simulator settings', () => {
  it('when nothing is set, then it listens on 12111 with the seed success rate, no faults, no search lag and Stripe\'s 24 h key lifetime', () => {
    expect(loadSimulatorConfig({})).toEqual({
      port: 12111,
      seed: undefined,
      logLevel: 'info',
      settings: {
        successRate: 0.8,
        errorRate: 0,
        timeoutRate: 0,
        lostResponseRate: 0,
        rateLimitRate: 0,
        latencyMs: { min: 0, max: 0 },
        searchLagMs: 0,
        idempotencyTtlS: 86_400,
      },
    });
  });

  it('when every SIM_ variable is set, then each one is read', () => {
    const config = loadSimulatorConfig({
      GATEWAY_PORT: '0',
      SIM_SEED: '7',
      SIM_SUCCESS_RATE: '1',
      SIM_ERROR_RATE: '0.1',
      SIM_TIMEOUT_RATE: '0.2',
      SIM_LOST_RESPONSE_RATE: '0.3',
      SIM_RATE_LIMIT_RATE: '0.4',
      SIM_LATENCY_MS: '50-300',
      SIM_SEARCH_LAG_MS: '60000',
      SIM_IDEMPOTENCY_TTL_S: '3600',
    });
    expect(config).toMatchObject({
      port: 0,
      seed: 7,
      settings: { successRate: 1, errorRate: 0.1, timeoutRate: 0.2, lostResponseRate: 0.3, rateLimitRate: 0.4, latencyMs: { min: 50, max: 300 } },
    });
    expect(config.settings).toMatchObject({ searchLagMs: 60_000, idempotencyTtlS: 3600 });
  });

  it.each([
    ['50', { min: 50, max: 50 }],
    ['50-300', { min: 50, max: 300 }],
    [' 5 - 6 ', { min: 5, max: 6 }],
  ])('when SIM_LATENCY_MS is "%s", then the latency range is %o', (text, range) => {
    expect(loadSimulatorConfig({ SIM_LATENCY_MS: text }).settings.latencyMs).toEqual(range);
  });

  it('when several values are bad, then one message names each of them', () => {
    const error = (() => {
      try {
        loadSimulatorConfig({
          GATEWAY_PORT: '70000',
          SIM_ERROR_RATE: '-0.1',
          SIM_LATENCY_MS: '300-50',
          SIM_SEED: 'abc',
          SIM_SEARCH_LAG_MS: '1.5',
          SIM_IDEMPOTENCY_TTL_S: '0',
        });
      } catch (e) {
        return e;
      }
    })() as SimulatorSettingsError;
    expect(error).toBeInstanceOf(SimulatorSettingsError);
    expect(error.message.split('\n')).toHaveLength(1);
    for (const key of ['GATEWAY_PORT="70000"', 'SIM_SEED="abc"', 'SIM_ERROR_RATE="-0.1"', 'SIM_LATENCY_MS="300-50"']) {
      expect(error.message).toContain(key);
    }
    expect(error.message).toContain('SIM_SEARCH_LAG_MS="1.5" must be whole milliseconds from 0 to 86400000');
    expect(error.message).toContain('SIM_IDEMPOTENCY_TTL_S="0" must be whole seconds from 1 to 31536000');
  });

  it('when a runtime patch is applied, then only the named settings change, and unknown keys are refused', () => {
    const next = applySettingsPatch({ ...DEFAULT_SETTINGS }, { lostResponseRate: 0.5, latencyMs: 20 });
    expect(next).toEqual({ ...DEFAULT_SETTINGS, lostResponseRate: 0.5, latencyMs: { min: 20, max: 20 } });
    expect(() => applySettingsPatch(next, { lostRate: 1 })).toThrow(SimulatorSettingsError);
    expect(applySettingsPatch(next, { searchLagMs: '60000', idempotencyTtlS: 60 })).toMatchObject({ searchLagMs: 60_000, idempotencyTtlS: 60 });
    expect(() => applySettingsPatch(next, { searchLagMs: -1 })).toThrow('searchLagMs must be whole milliseconds from 0 to 86400000');
  });
});
