import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { countRiskDecisions, createMetrics } from '../../../src/observability/metrics.js';
import type { RiskDecision, RiskScreen, RiskSubject } from '../../../src/risk/risk.port.js';

const subject: RiskSubject = { orderId: 'o-1', paymentId: 'p-1', customerId: 'cus_1', paymentMethod: 'pm_card_visa', amountMinor: 4999n, currency: 'USD' };
const answering = (...verdicts: RiskDecision[]): RiskScreen => ({ screen: async () => verdicts.shift() ?? { decision: 'allow' } });

describe('metrics', () => {
  it('when a counted screen answers, then risk_decisions_total counts each answer by decision and blocking rule, and passes it on unchanged', async () => {
    const metrics = createMetrics(new client.Registry());
    const block = { decision: 'block', rule: 'maxAmount', reason: 'amount over maxAmount for USD' } as const;
    const screen = countRiskDecisions(answering({ decision: 'allow' }, block, { decision: 'allow' }), metrics);

    expect(await screen.screen(subject)).toEqual({ decision: 'allow' });
    expect(await screen.screen(subject)).toEqual(block);
    await screen.screen(subject);

    const text = await metrics.register.metrics();
    expect(text).toContain('risk_decisions_total{decision="allow",rule=""} 2');
    expect(text).toContain('risk_decisions_total{decision="block",rule="maxAmount"} 1');
  });

  it('when the screen cannot answer, then the error goes to the caller and nothing is counted', async () => {
    const metrics = createMetrics(new client.Registry());
    const screen = countRiskDecisions({ screen: async () => Promise.reject(new Error('Redis unreachable')) }, metrics);
    await expect(screen.screen(subject)).rejects.toThrow('Redis unreachable');
    expect((await metrics.riskDecisions.get()).values).toEqual([]);
  });

  it('when the process starts, then the counters an alert fires on at their first increase are already there at 0', async () => {
    const text = await createMetrics(new client.Registry()).register.metrics();
    for (const outcome of ['succeeded', 'pending', 'failed', 'refused']) expect(text).toContain(`refunds_total{outcome="${outcome}"} 0`);
    for (const reason of ['card_data', 'unattributable', 'conflict', 'gave_up']) expect(text).toContain(`payment_dead_letters_total{reason="${reason}"} 0`);
  });
});
