import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../../../src/gateway/simulator/simulator.js';
import { createIntent } from '../../support/sim-client.js';
import { bodyOf, createRefund, getJson } from '../../support/sim-refund-client.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/sim-webhook-receiver.js';

let simulator: Simulator;
let receiver: WebhookReceiver;

afterEach(async () => {
  await Promise.all([simulator.close(), receiver.close()]);
});

async function start(): Promise<void> {
  receiver = await startWebhookReceiver();
  simulator = createSimulator({ seed: 1, webhooks: { urls: [receiver.url], secret: 'whsec_disputes' } });
  await simulator.start();
}

async function intentPaidWith(paymentMethod: string): Promise<{ id: string; latest_charge: string }> {
  const seen = await createIntent(simulator.url, { amount: '4999', currency: 'eur', payment_method: paymentMethod, orderId: randomUUID() });
  const body = bodyOf<{ id: string; latest_charge: string; error?: { payment_intent: { id: string; latest_charge: string } } }>(seen);
  return body.error?.payment_intent ?? body;
}

async function openDispute(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${simulator.url}/_sim/disputes`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('gateway simulator disputes', () => {
  it('when a succeeded charge is disputed, then the dispute is returned, the charge is marked disputed and charge.dispute.created follows', async () => {
    await start();
    const paid = await intentPaidWith('pm_card_visa');
    await createRefund(simulator.url, { payment_intent: paid.id, amount: '999' });

    const opened = await openDispute({ paymentIntent: paid.id, reason: 'fraudulent' });

    expect(opened).toMatchObject({
      status: 200,
      body: { object: 'dispute', id: expect.stringMatching(/^dp_/), amount: 4000, currency: 'eur', charge: paid.latest_charge, payment_intent: paid.id, reason: 'fraudulent', status: 'needs_response' },
    });
    const [created] = await receiver.received(1, (r) => r.event.type === 'charge.dispute.created');
    expect(created!.event.data.object).toEqual(opened.body);
    expect(bodyOf(await getJson(simulator.url, `/v1/charges/${paid.latest_charge}`))).toMatchObject({ disputed: true });
    expect(bodyOf(await getJson(simulator.url, `/v1/disputes/${String(opened.body.id)}`))).toEqual(opened.body);
  });

  it('when the charge is already disputed, declined, never made, or unknown, or the body is not JSON, then it is refused with 400 saying why', async () => {
    await start();
    const paid = await intentPaidWith('pm_card_visa');
    await openDispute({ paymentIntent: paid.id });
    const declined = await intentPaidWith('pm_card_chargeDeclined');
    const unconfirmed = bodyOf<{ id: string }>(await createIntent(simulator.url, { amount: '1', currency: 'usd', orderId: randomUUID() }, { confirm: false }));

    const refusals = await Promise.all([
      openDispute({ paymentIntent: paid.id }),
      openDispute({ paymentIntent: declined.id }),
      openDispute({ paymentIntent: unconfirmed.id }),
      openDispute({ paymentIntent: 'pi_unknown' }),
      openDispute('not json'),
      openDispute({ paymentIntent: paid.id, reason: 'bored' }),
    ]);

    expect(refusals.map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 400]);
    expect(refusals.map((r) => r.body.error)).toEqual([
      expect.stringContaining('already disputed'),
      expect.stringContaining('has status requires_payment_method'),
      expect.stringContaining('has status requires_payment_method'),
      expect.stringContaining('no payment intent pi_unknown'),
      expect.stringContaining('must be JSON'),
      expect.stringContaining('reason must be one of'),
    ]);
    expect(simulator.disputes()).toHaveLength(1);
  });
});
