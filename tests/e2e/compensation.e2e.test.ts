import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderCancelled, publishOrderEvent, refundRequested } from '../../scripts/lib/compensation-messages.js';
import { buildCompensationPlan, type CompensationPlan } from '../../scripts/lib/compensation-plan.js';
import { startWebhookRelay, type WebhookRelay } from '../../scripts/lib/compensation-webhook-relay.js';
import { until } from '../../scripts/lib/poll.js';
import { randomSeed } from '../../src/gateway/simulator/prng.js';
import { expectEveryInvariantHeld, playAndCheck, quietFor, tally } from '../support/compensation-e2e.js';
import { deploy, type Deployment } from '../support/e2e-harness.js';

/**
 * The saga's other half, black box (CONTRACT.md §8): 300 orders over two
 * worker processes; a third cancelled before the reservation, while
 * charging, or after the charge; a sixth refunded twice in part,
 * concurrently; every compensation message sent again with its event id and
 * under a new one; some charges' outcomes unknown (answer lost, never
 * answered, charged late), so a cancellation can meet one; refunds sometimes
 * pending at the gateway and settled by webhooks that arrive late, out of
 * order and twice. Checked against the
 * gateway's ledgers and the events on payment.events. A failing run prints
 * its seed; COMPENSATION_SEED=N repeats its plan.
 */
const SECRET = 'whsec_compensation_e2e';
const ORDERS = 300;

describe('compensation end to end: cancellations and refunds over two workers, with webhooks', () => {
  const seed = Number(process.env.COMPENSATION_SEED ?? randomSeed());
  let relay: WebhookRelay;
  let d: Deployment;
  let plan: CompensationPlan;

  beforeAll(async () => {
    relay = await startWebhookRelay({ slots: 2 });
    d = await deploy({
      workers: 2,
      simEnv: {
        SIM_SEED: String(seed),
        // Charges take a while, so a cancellation sent after its reservation can meet one in flight.
        SIM_LATENCY_MS: '20-400',
        SIM_WEBHOOK_URL: relay.urls.join(','),
        SIM_WEBHOOK_SECRET: SECRET,
        SIM_WEBHOOK_DUPLICATE_RATE: '0.3',
        SIM_WEBHOOK_DELAY_MS: '0-2000',
        SIM_REFUND_PENDING_RATE: '0.3',
        SIM_REFUND_SETTLE_MS: '1000',
      },
      // An unanswered confirmation is given up on soon, so the unknown-outcome tokens settle within the run.
      workerEnv: { STRIPE_WEBHOOK_SECRET: SECRET, GATEWAY_TIMEOUT_MS: '1000', JOB_ATTEMPTS: '3' },
    });
    d.workers.forEach((w, slot) => relay.route(slot, `${d.httpUrlOf(w)}/webhooks/stripe`));
  }, 120_000);
  afterAll(async () => {
    await d?.teardown();
    await relay?.close();
  });

  it('every cancellation and refund is answered once, and what the customer paid in the end is exact', async () => {
    plan = buildCompensationPlan({ seed, orders: ORDERS, unknownOutcomes: true });
    const outcome = await playAndCheck(d, plan, { spreadMs: 15_000, answerTimeoutMs: 20_000, duringWithinMs: 600 });
    console.log(`${outcome.report}\nwebhook deliveries relayed to the workers (type, status): ${JSON.stringify(tally(relay.deliveries.map((r) => `${r.eventType} ${r.status}`)))}`);
    expectEveryInvariantHeld(outcome, seed);
    for (const w of d.workers) expect(w.child.exitCode, `${w.name} still running`).toBeNull();
  }, 300_000);

  it('bad compensation input: a refund id reused for another amount and unattributable messages are dead-lettered, bad data for a known order is answered RefundFailed(invalid_request)', async () => {
    const refunded = plan.orders.find((o) => o.refunds.length === 2 && !o.cancel && o.currency === 'USD') ?? plan.orders.find((o) => o.refunds.length === 2 && !o.cancel)!;
    const taken = refunded.refunds[0]!;
    const answered = (refundId: string) => [...new Set(d.client.received.filter((e) => e.data.refundId === refundId).map((e) => e.id))];
    const answerBefore = answered(taken.refundId);
    expect(answerBefore, `refund ${taken.refundId} answered once by the first test`).toHaveLength(1);
    const usd = plan.orders.find((o) => o.currency === 'USD' && o.charge === 'succeeds' && !o.cancel)!;

    const conflict = refundRequested({ orderId: refunded.orderId, refundId: taken.refundId, amount: refunded.refunds[1]!.amount });
    const notAUuid = refundRequested({ orderId: usd.orderId, refundId: 'refund-1', amount: '1.00' });
    const noOrder = orderCancelled({ orderId: 'order-1' });
    const badAmount = refundRequested({ orderId: usd.orderId, refundId: randomUUID(), amount: '1.5' });
    for (const event of [conflict, notAUuid, noOrder, badAmount]) await publishOrderEvent(d.client.channel, event);

    await d.client.waitFor(`an answer to the refund of ${badAmount.data.amount} USD`, () => answered(badAmount.data.refundId).length > 0, 30_000);
    const failed = d.client.received.find((e) => e.data.refundId === badAmount.data.refundId)!;
    expect(failed.type).toBe('RefundFailed');
    expect(failed.data.code).toBe('invalid_request');
    expect(String(failed.data.reason), 'the reason names the field').toMatch(/amount/);

    const wanted = new Map([[conflict.id, 'the refund id reused for another amount'], [notAUuid.id, 'a refundId that is no UUID'], [noOrder.id, 'an orderId that is no UUID']]);
    const dead: Array<{ content: Buffer; headers: Record<string, unknown> }> = [];
    await until(async () => {
      dead.push(...(await d.client.deadLetters()));
      return [...wanted.keys()].every((id) => dead.some((m) => m.content.includes(id)));
    }, 30_000, 250);
    for (const [id, what] of wanted) {
      const copy = dead.find((m) => m.content.includes(id));
      expect(copy, `${what} dead-lettered`).toBeDefined();
      expect(String(copy?.headers['x-error'] ?? ''), `${what}: the reason in x-error`).not.toBe('');
    }
    await quietFor(d.client.received);
    expect(answered(taken.refundId), `refund ${taken.refundId}: still its one answer after the conflict`).toEqual(answerBefore);
    expect(answered(badAmount.data.refundId), 'the invalid refund answered once').toHaveLength(1);
  }, 120_000);
});
