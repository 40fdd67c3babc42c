import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../../src/gateway/simulator/simulator.js';
import { createIntent } from '../../support/sim-client.js';
import { bodyOf, createRefund } from '../../support/sim-refund-client.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/sim-webhook-receiver.js';

const SECRET = 'whsec_simulator_test';
const started: Array<Simulator | WebhookReceiver> = [];

async function receiver(answer?: (attemptForEvent: number) => number): Promise<WebhookReceiver> {
  const endpoint = await startWebhookReceiver(answer);
  started.push(endpoint);
  return endpoint;
}

async function startSimulator(endpoints: WebhookReceiver[], options: SimulatorOptions = {}): Promise<Simulator> {
  const simulator = createSimulator({ seed: 1, webhookBackoffMs: 10, webhooks: { urls: endpoints.map((e) => e.url), secret: SECRET }, ...options });
  started.push(simulator);
  await simulator.start();
  return simulator;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

async function pay(simulator: Simulator, paymentMethod = 'pm_card_visa', idempotencyKey?: string): Promise<string> {
  const body = bodyOf<{ id?: string; error?: { payment_intent: { id: string } } }>(
    await createIntent(simulator.url, { amount: '2500', currency: 'usd', payment_method: paymentMethod, orderId: randomUUID() }, { idempotencyKey }),
  );
  return body.error?.payment_intent.id ?? body.id!;
}

describe('gateway simulator webhooks', () => {
  it('when a payment succeeds, then every endpoint receives payment_intent.succeeded, signed so stripe.webhooks.constructEvent accepts it', async () => {
    const [first, second] = [await receiver(), await receiver()];
    const simulator = await startSimulator([first!, second!]);

    const intentId = await pay(simulator, 'pm_card_visa', 'order-key-1');

    for (const endpoint of [first!, second!]) {
      const [receipt] = await endpoint.received(1);
      const event = Stripe.webhooks.constructEvent(receipt!.payload, receipt!.signature, SECRET);
      expect(event).toMatchObject({
        id: expect.stringMatching(/^evt_/),
        object: 'event',
        type: 'payment_intent.succeeded',
        api_version: Stripe.API_VERSION,
        livemode: false,
        pending_webhooks: 2,
        request: { id: expect.stringMatching(/^req_/), idempotency_key: 'order-key-1' },
        data: { object: { id: intentId, object: 'payment_intent', status: 'succeeded' } },
      });
      expect(() => Stripe.webhooks.constructEvent(receipt!.payload, receipt!.signature, 'whsec_other')).toThrow(
        Stripe.errors.StripeSignatureVerificationError,
      );
    }
  });

  it('when a payment is declined and a charge refunded, then payment_intent.payment_failed and charge.refunded carry the objects as they were', async () => {
    const endpoint = await receiver();
    const simulator = await startSimulator([endpoint]);
    const declined = await pay(simulator, 'pm_card_chargeDeclined');
    const paid = await pay(simulator);
    await createRefund(simulator.url, { payment_intent: paid, amount: '500' });

    const receipts = await endpoint.received(3);
    const byType = Object.fromEntries(receipts.map((r) => [r.event.type, r.event.data.object]));
    expect(byType['payment_intent.payment_failed']).toMatchObject({ id: declined, status: 'requires_payment_method', last_payment_error: { code: 'card_declined' } });
    expect(byType['charge.refunded']).toMatchObject({ object: 'charge', payment_intent: paid, amount_refunded: 500, refunded: false });
  });

  it('when an endpoint fails, then the event is retried with backoff until it answers 2xx, and then no more', async () => {
    const endpoint = await receiver((attempt) => (attempt < 2 ? 500 : 200));
    const simulator = await startSimulator([endpoint]);
    await pay(simulator);

    const receipts = await endpoint.received(3);
    await simulator.webhooksIdle();

    expect(receipts.map((r) => r.answered)).toEqual([500, 500, 200]);
    expect(new Set(receipts.map((r) => r.event.id)).size).toBe(1);
    expect(simulator.webhookDeliveries()).toMatchObject([{ type: 'payment_intent.succeeded', outcome: 'delivered', attempts: 3, lastStatus: 200 }]);
    expect(endpoint.receipts).toHaveLength(3);
  });

  it('when an endpoint keeps failing past SIM_WEBHOOK_RETRY_S, then the simulator gives up on it', async () => {
    const endpoint = await receiver(() => 503);
    const simulator = await startSimulator([endpoint], { webhookRetryS: 0 });
    await pay(simulator);

    await simulator.webhooksIdle();

    expect(simulator.webhookDeliveries()).toMatchObject([{ outcome: 'gave_up', attempts: 1, lastStatus: 503 }]);
  });

  it('when SIM_WEBHOOK_DUPLICATE_RATE strikes, then the same event (same id) arrives twice', async () => {
    const endpoint = await receiver();
    const simulator = await startSimulator([endpoint], { webhookDuplicateRate: 1 });
    await pay(simulator);

    const receipts = await endpoint.received(2);
    await simulator.webhooksIdle();

    expect(receipts[0]!.event.id).toBe(receipts[1]!.event.id);
    expect(receipts[0]!.payload).toBe(receipts[1]!.payload);
    expect(simulator.webhookDeliveries().map((d) => [d.copy, d.outcome])).toEqual([
      [1, 'delivered'],
      [2, 'delivered'],
    ]);
  });

  it('when SIM_WEBHOOK_DROP_RATE strikes, then the event is recorded but never sent', async () => {
    const endpoint = await receiver();
    const simulator = await startSimulator([endpoint], { webhookDropRate: 1 });
    await pay(simulator);

    await simulator.webhooksIdle();

    expect(simulator.events().map((event) => event.type)).toEqual(['payment_intent.succeeded']);
    expect(simulator.webhookDeliveries()).toMatchObject([{ outcome: 'dropped', attempts: 0 }]);
    expect(endpoint.receipts).toEqual([]);
  });

  it('when SIM_WEBHOOK_DELAY_MS spreads the sends, then events arrive out of the order they happened in', async () => {
    const endpoint = await receiver();
    const simulator = await startSimulator([endpoint], { webhookDelayMs: '0-300' });
    for (let i = 0; i < 8; i += 1) await pay(simulator);

    const receipts = await endpoint.received(8);

    const happened = simulator.events().map((event) => event.id);
    expect(new Set(receipts.map((r) => r.event.id))).toEqual(new Set(happened));
    expect(receipts.map((r) => r.event.id)).not.toEqual(happened);
  });

  it('when two runs share a seed, then the same events are dropped and duplicated in both', async () => {
    async function run(): Promise<string[]> {
      const endpoint = await receiver();
      const simulator = await startSimulator([endpoint], { seed: 5, webhookDropRate: 0.4, webhookDuplicateRate: 0.4 });
      for (let i = 0; i < 10; i += 1) await pay(simulator);
      await simulator.webhooksIdle();
      const orderOf = new Map(simulator.events().map((event, index) => [event.id, index]));
      return simulator.webhookDeliveries().map((d) => `${orderOf.get(d.eventId)} ${d.copy} ${d.outcome}`);
    }

    const [first, second] = [await run(), await run()];

    expect(second).toEqual(first);
    expect(new Set(first.map((line) => line.split(' ').slice(1).join(' ')))).toEqual(new Set(['1 delivered', '2 delivered', '1 dropped']));
  });

  it('when the simulator closes with retries and a refund still waiting, then it cancels them all and leaves nothing running', async () => {
    const endpoint = await receiver(() => 500);
    const simulator = await startSimulator([endpoint], { webhookBackoffMs: 60_000, refundPendingRate: 1, refundSettleMs: 60_000 });
    const paid = await pay(simulator);
    await createRefund(simulator.url, { payment_intent: paid });
    await endpoint.received(2);
    expect(simulator.pendingWork()).toBeGreaterThan(0);

    await simulator.close();

    expect(simulator.pendingWork()).toBe(0);
  });
});
