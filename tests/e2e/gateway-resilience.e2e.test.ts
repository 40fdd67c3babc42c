import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { inventoryReserved, type InventoryReserved } from '../../scripts/lib/saga-client.js';
import { parseAmount } from '../../src/money.js';
import { deploy, successfulChargesByOrder, type Deployment } from '../support/e2e-harness.js';

function ordersOf(n: number, declineEvery = 5): Array<Required<InventoryReserved>> {
  return Array.from({ length: n }, (_, i) => ({
    orderId: randomUUID(),
    amount: '19.99',
    currency: 'USD',
    customerId: `cus_${i}`,
    paymentMethod: i % declineEvery === declineEvery - 1 ? 'pm_card_chargeDeclined' : 'pm_card_visa',
  }));
}

describe('gateway resilience, end to end through three workers', () => {
  let d: Deployment | undefined;
  afterEach(async () => {
    await d?.teardown();
    d = undefined;
  });

  it('when the gateway errs, hangs and loses responses, then nobody is charged twice and every order settles truthfully', async () => {
    d = await deploy({
      workers: 3,
      simEnv: { SIM_ERROR_RATE: '0.1', SIM_TIMEOUT_RATE: '0.03', SIM_LOST_RESPONSE_RATE: '0.1', SIM_SEED: '20261126' },
      workerEnv: { GATEWAY_TIMEOUT_MS: '1000', JOB_BACKOFF_MS: '50', WORKER_CONCURRENCY: '30' },
    });
    const orders = ordersOf(1000);
    for (const o of orders) await d.client.publish(inventoryReserved(o));

    await d.client.waitFor('a terminal event for all 1,000 orders', () => d!.client.byOrder().size === orders.length, 180_000);

    const charges = successfulChargesByOrder(await d.ledger());
    const events = d.client.byOrder();
    let goodCardsUnavailable = 0;
    for (const o of orders) {
      const charged = charges.get(o.orderId) ?? [];
      expect(charged.length, `successful charges for ${o.orderId}`).toBeLessThanOrEqual(1);
      const received = events.get(o.orderId)!;
      expect(new Set(received.map((e) => e.id)).size).toBe(1);
      const event = received[0]!;
      // Success if and only if the gateway charged.
      expect(event.type).toBe(charged.length === 1 ? 'PaymentCompleted' : 'PaymentFailed');
      if (charged.length === 1) {
        expect(event.data.transactionId).toBe(charged[0]!.id);
        expect(charged[0]!.amount).toBe(parseAmount(o.amount, o.currency).toString());
      }
      if (o.paymentMethod === 'pm_card_chargeDeclined') expect(event.data.code).toBe('card_declined');
      else if (event.data.code === 'gateway_unavailable') goodCardsUnavailable++;
    }
    const goodCards = orders.filter((o) => o.paymentMethod === 'pm_card_visa').length;
    console.log(`fault run: ${goodCardsUnavailable} of ${goodCards} good cards failed as gateway_unavailable`);
    expect(goodCardsUnavailable / goodCards).toBeLessThan(0.01);
  }, 300_000);

  it('when the gateway is down under load, then the breaker opens across workers, calls stay bounded, no attempt is burnt, and all orders complete after it returns', async () => {
    const outageMs = Number(process.env.TEST_OUTAGE_MS ?? 10_000);
    d = await deploy({
      workers: 3,
      workerEnv: { BREAKER_FAILURES: '5', BREAKER_OPEN_MS: '2000', JOB_ATTEMPTS: '4', JOB_BACKOFF_MS: '200', GATEWAY_TIMEOUT_MS: '2000' },
    });
    const warmup = ordersOf(50, 1000);
    for (const o of warmup) await d.client.publish(inventoryReserved(o));
    await d.client.waitFor('warm-up orders settled', () => d!.client.byOrder().size === warmup.length);

    const refusedBefore = await d.metricSum('gateway_call_seconds_count', { operation: 'charge', outcome: 'not_sent' });
    await fetch(`${d.gatewayUrl}/_sim/outage?ms=${outageMs}`, { method: 'POST' });
    const during = ordersOf(300, 1000);
    const started = Date.now();
    for (const [i, o] of during.entries()) {
      await d.client.publish(inventoryReserved(o));
      // Spread the load over the outage.
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, Math.floor(outageMs / 2 / 30)));
    }
    const publishedWithin = Date.now() - started;
    // The outage ends when the simulator answers again; count what was refused until then.
    await untilAnswers(`${d.gatewayUrl}/_sim/charges`, outageMs + 30_000);
    const refusedDuring = (await d.metricSum('gateway_call_seconds_count', { operation: 'charge', outcome: 'not_sent' })) - refusedBefore;

    await d.client.waitFor('every order completed after the gateway returned', () => d!.client.byOrder().size === warmup.length + during.length, 120_000);
    const failed = d.client.received.filter((e) => e.type === 'PaymentFailed');
    console.log(`outage run: ${outageMs} ms down, ${during.length} orders published over ${publishedWithin} ms, ` +
      `${refusedDuring} charge calls refused while down (3 workers x 20 concurrency)`);
    expect(failed).toEqual([]);
    // Without the breaker every job would call the gateway on each of its attempts: 300 orders x 4 attempts.
    expect(refusedDuring).toBeLessThan(100);
    expect(await d.metricSum('payment_job_attempts_total', { result: 'exhausted' })).toBe(0);
    const charges = successfulChargesByOrder(await d.ledger());
    for (const o of during) expect(charges.get(o.orderId)?.length).toBe(1);
  }, 300_000);
});

async function untilAnswers(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // still down
    }
    if (Date.now() > deadline) throw new Error(`${url} did not come back within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
