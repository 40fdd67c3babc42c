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

/**
 * The gateway refuses a share of refunds outright or after they were pending
 * (Stripe: `failed`, the money stays with the merchant), and some requests,
 * refunds included, go unanswered (made or not). A RefundRequested may then
 * be answered RefundFailed, but a cancellation still owes the customer
 * everything: the service must try again until its refund succeeds, and
 * never take an earlier attempt's outcome for a later one's.
 */
describe('compensation when the gateway fails refunds, with no webhooks', () => {
  const seed = Number(process.env.COMPENSATION_SEED ?? randomSeed());
  let d: Deployment;

  beforeAll(async () => {
    d = await deploy({
      workers: 2,
      simEnv: {
        SIM_SEED: String(seed),
        SIM_REFUND_PENDING_RATE: '0.4',
        SIM_REFUND_FAIL_RATE: '0.3',
        SIM_REFUND_SETTLE_MS: '1000',
        SIM_TIMEOUT_RATE: '0.1',
        SIM_LOST_RESPONSE_RATE: '0.1',
      },
      workerEnv: { GATEWAY_TIMEOUT_MS: '1000' },
    });
  }, 120_000);
  afterAll(async () => {
    await d?.teardown();
  });

  it('a refund request may fail, but every cancelled order still gets all its money back, once', async () => {
    const plan = buildCompensationPlan({ seed, orders: 150, refundsMayFail: true, extraFailCodes: ['gateway_unavailable'] });
    const outcome = await playAndCheck(d, plan, { spreadMs: 6000, answerTimeoutMs: 45_000, duringWithinMs: 300 });
    console.log(outcome.report);
    expectEveryInvariantHeld(outcome, seed);
  }, 240_000);
});
