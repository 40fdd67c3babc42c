import { describe, expect, it } from 'vitest';
import {
  applySettingsPatch,
  DEFAULT_SETTINGS,
  loadSimulatorConfig,
  SimulatorSettingsError,
} from '../../../src/gateway/simulator/simulator.settings.js';

describe('simulator settings', () => {
  it('when nothing is set, then it listens on 12111 with the seed success rate, no faults, no search lag, Stripe\'s 24 h key lifetime, refunds that succeed at once and no webhooks', () => {
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
        refundPendingRate: 0,
        refundFailRate: 0,
        refundSettleMs: 2000,
        webhookDropRate: 0,
        webhookDuplicateRate: 0,
        webhookDelayMs: { min: 0, max: 0 },
        webhookRetryS: 60,
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
      SIM_REFUND_PENDING_RATE: '0.25',
      SIM_REFUND_FAIL_RATE: '0.05',
      SIM_REFUND_SETTLE_MS: '500',
      SIM_WEBHOOK_URL: 'http://127.0.0.1:9000/hooks, https://example.test/stripe',
      SIM_WEBHOOK_SECRET: 'whsec_abc',
      SIM_WEBHOOK_DUPLICATE_RATE: '0.1',
      SIM_WEBHOOK_DROP_RATE: '0.2',
      SIM_WEBHOOK_DELAY_MS: '0-3000',
      SIM_WEBHOOK_RETRY_S: '120',
    });
    expect(config).toMatchObject({
      port: 0,
      seed: 7,
      settings: { successRate: 1, errorRate: 0.1, timeoutRate: 0.2, lostResponseRate: 0.3, rateLimitRate: 0.4, latencyMs: { min: 50, max: 300 } },
    });
    expect(config.settings).toMatchObject({ searchLagMs: 60_000, idempotencyTtlS: 3600 });
    expect(config.settings).toMatchObject({
      refundPendingRate: 0.25,
      refundFailRate: 0.05,
      refundSettleMs: 500,
      webhookDuplicateRate: 0.1,
      webhookDropRate: 0.2,
      webhookDelayMs: { min: 0, max: 3000 },
      webhookRetryS: 120,
    });
    expect(config.webhooks).toEqual({ urls: ['http://127.0.0.1:9000/hooks', 'https://example.test/stripe'], secret: 'whsec_abc' });
  });

  it('when webhook settings are bad, then one line names each: a URL that is not http(s), a URL without its secret, a bad rate or delay', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadSimulatorConfig(env);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('expected the settings to be refused');
    };
    expect(problems({ SIM_WEBHOOK_URL: 'ftp://x', SIM_WEBHOOK_SECRET: 's' })).toContain('SIM_WEBHOOK_URL="ftp://x" must be http(s) URLs separated by commas');
    expect(problems({ SIM_WEBHOOK_URL: 'http://x' })).toContain('SIM_WEBHOOK_SECRET="" must be set when SIM_WEBHOOK_URL is');
    const several = problems({ SIM_REFUND_FAIL_RATE: '2', SIM_WEBHOOK_DELAY_MS: '3000-0', SIM_REFUND_SETTLE_MS: 'soon' });
    expect(several.split('\n')).toHaveLength(1);
    expect(several).toContain('SIM_REFUND_FAIL_RATE="2" must be a probability between 0 and 1');
    expect(several).toContain('SIM_WEBHOOK_DELAY_MS="3000-0"');
    expect(several).toContain('SIM_REFUND_SETTLE_MS="soon" must be whole milliseconds');
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
