import { afterAll, beforeAll, describe, it } from 'vitest';
import { buildCompensationPlan } from '../../scripts/lib/compensation-plan.js';
import { randomSeed } from '../../src/gateway/simulator/prng.js';
import { expectEveryInvariantHeld, playAndCheck } from '../support/compensation-e2e.js';
import { deploy, type Deployment } from '../support/e2e-harness.js';

/**
 * A pending refund is answered once it settles, "by webhook or look-up"
 * (CONTRACT.md §8): here no webhook endpoint is configured at all and half of
 * the refunds start pending, so every one of those must be settled by asking
 * the gateway. Same plan and invariants as compensation.e2e.test.ts, smaller.
 */
describe('compensation without webhooks: pending refunds settled by look-up', () => {
  const seed = Number(process.env.COMPENSATION_SEED ?? randomSeed());
  let d: Deployment;

  beforeAll(async () => {
    d = await deploy({ workers: 2, simEnv: { SIM_SEED: String(seed), SIM_REFUND_PENDING_RATE: '0.5', SIM_REFUND_SETTLE_MS: '1500' } });
  }, 120_000);
  afterAll(async () => {
    await d?.teardown();
  });

  it('every cancellation and refund is answered once and exactly, though no webhook ever arrives', async () => {
    const plan = buildCompensationPlan({ seed, orders: 120 });
    const outcome = await playAndCheck(d, plan, { spreadMs: 6000, answerTimeoutMs: 30_000, duringWithinMs: 300 });
    console.log(outcome.report);
    expectEveryInvariantHeld(outcome, seed);
  }, 240_000);
});
