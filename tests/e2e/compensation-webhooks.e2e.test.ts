import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebhookRelay, type RelayedDelivery, type WebhookRelay } from '../../scripts/lib/compensation-webhook-relay.js';
import { eventually } from '../../scripts/lib/processes.js';
import { inventoryReserved } from '../../scripts/lib/saga-client.js';
import { quietFor } from '../support/compensation-e2e.js';
import { deploy, type Deployment } from '../support/e2e-harness.js';

/**
 * `POST /webhooks/stripe` as Stripe calls it (CONTRACT.md §6): the
 * simulator's real, signed `charge.dispute.created` deliveries are kept by a
 * recording relay and sent to the worker by the test, untouched, tampered
 * with, or a thousand times over. Observed from outside only: the HTTP
 * status, `GET /payments/:orderId` and the events on payment.events.
 */
const SECRET = 'whsec_compensation_webhooks_e2e';
const REPLAYS = 1000;

describe('Stripe webhooks into a worker: signatures and replays', () => {
  let relay: WebhookRelay;
  let d: Deployment;
  let webhookUrl: string;
  let opsUrl: string;
  const disputes = new Map<string, RelayedDelivery>();
  const [x, y] = [randomUUID(), randomUUID()];
  /** The payment of order x before any webhook reached the worker. */
  let xUntouched: Record<string, unknown>;

  const post = async (payload: string, signature?: string) => {
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' };
    if (signature !== undefined) headers['stripe-signature'] = signature;
    const response = await fetch(webhookUrl, { method: 'POST', headers, body: payload });
    return { status: response.status, body: await response.text() };
  };
  const payment = async (orderId: string) => {
    const response = await fetch(`${opsUrl}/payments/${orderId}`, { headers: { accept: 'application/json' } });
    expect(response.status, `GET /payments/${orderId}`).toBe(200);
    return (await response.json()) as Record<string, unknown>;
  };
  const disputedEvents = (orderId: string) => [...new Set(d.client.received.filter((e) => e.type === 'PaymentDisputed' && e.data.orderId === orderId).map((e) => e.id))];

  beforeAll(async () => {
    relay = await startWebhookRelay({ slots: 1, mode: 'record' });
    d = await deploy({ workers: 1, simEnv: { SIM_WEBHOOK_URL: relay.urls[0]!, SIM_WEBHOOK_SECRET: SECRET }, workerEnv: { STRIPE_WEBHOOK_SECRET: SECRET } });
    opsUrl = d.httpUrlOf(d.workers[0]!);
    webhookUrl = `${opsUrl}/webhooks/stripe`;
    for (const orderId of [x, y]) await d.client.publish(inventoryReserved({ orderId, amount: '80.00', currency: 'USD', paymentMethod: 'pm_card_visa' }));
    await d.client.waitFor('both orders completed', (es) => [x, y].every((id) => es.some((e) => e.type === 'PaymentCompleted' && e.data.orderId === id)));
    xUntouched = await payment(x);
    const charges = await d.ledger();
    for (const orderId of [x, y]) {
      const intent = charges.find((c) => c.orderId === orderId && c.status === 'succeeded')!.id;
      const opened = await fetch(`${d.gatewayUrl}/_sim/disputes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ paymentIntent: intent }) });
      expect(opened.status, await opened.clone().text()).toBe(200);
      disputes.set(orderId, await eventually(`the signed charge.dispute.created for ${intent}`, async () => relay.deliveries.find((r) => r.eventType === 'charge.dispute.created' && r.payload.includes(`"${intent}"`))));
    }
  }, 120_000);
  afterAll(async () => {
    await d?.teardown();
    await relay?.close();
  });

  it('a delivery with a bad, tampered, stale or missing signature is answered 400 and changes nothing', async () => {
    const real = disputes.get(y)!;
    const before = await payment(y);
    const tampered = JSON.stringify({ ...JSON.parse(real.payload), livemode: true }, null, 2);
    const now = Math.floor(Date.now() / 1000);
    const bad: Array<[string, string, string | undefined]> = [
      ['signed with another secret', real.payload, Stripe.webhooks.generateTestHeaderString({ payload: real.payload, secret: 'whsec_not_the_one' })],
      ['body changed after signing', tampered, real.signature],
      ['signed 10 minutes ago (tolerance 300 s)', real.payload, Stripe.webhooks.generateTestHeaderString({ payload: real.payload, secret: SECRET, timestamp: now - 600 })],
      ['no Stripe-Signature header', real.payload, undefined],
    ];
    for (const [what, payload, signature] of bad) expect((await post(payload, signature)).status, what).toBe(400);

    // The other order's genuine delivery goes through the same door afterwards: once it has
    // been acted on, anything the refused ones had set off would have been too.
    const genuine = disputes.get(x)!;
    expect((await post(genuine.payload, genuine.signature)).status, 'the genuine delivery for the other order').toBeLessThan(300);
    await d.client.waitFor(`PaymentDisputed for ${x}`, () => disputedEvents(x).length > 0, 30_000);

    expect(await payment(y), 'the payment after the refused deliveries').toEqual(before);
    expect(disputedEvents(y), 'PaymentDisputed for the order whose deliveries were refused').toEqual([]);

    // The refused event itself, signed as sent, is accepted: it was the signatures that were refused.
    expect((await post(real.payload, real.signature)).status).toBeLessThan(300);
    await d.client.waitFor(`PaymentDisputed for ${y}`, () => disputedEvents(y).length > 0, 30_000);
  }, 120_000);

  it(`one genuine delivery replayed ${REPLAYS} times changes the payment once and sends one PaymentDisputed`, async () => {
    const real = disputes.get(x)!;
    await d.client.waitFor(`PaymentDisputed for ${x}`, () => disputedEvents(x).length > 0, 30_000);
    await quietFor(d.client.received);
    const once = await payment(x);
    expect(once, 'the payment once the dispute was delivered (it shows the dispute)').not.toEqual(xUntouched);
    const eventsOnce = new Set(d.client.received.filter((e) => e.data.orderId === x).map((e) => e.id));

    const statuses = new Map<number, number>();
    for (let sent = 0; sent < REPLAYS; sent += 25) {
      const batch = await Promise.all(Array.from({ length: Math.min(25, REPLAYS - sent) }, () => post(real.payload, real.signature)));
      for (const { status } of batch) statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    const refused = Object.fromEntries([...statuses].filter(([status]) => status >= 300));
    expect(refused, 'replays answered other than 2xx, by status (Stripe would retry those)').toEqual({});
    await quietFor(d.client.received);

    expect(await payment(x), 'the payment (status, history, dispute) after the replays').toEqual(once);
    expect(disputedEvents(x), 'distinct PaymentDisputed events').toHaveLength(1);
    const eventsAfter = new Set(d.client.received.filter((e) => e.data.orderId === x).map((e) => e.id));
    expect([...eventsAfter].filter((id) => !eventsOnce.has(id)), 'events for the order that the replays set off').toEqual([]);
    const disputed = d.client.received.find((e) => e.type === 'PaymentDisputed' && e.data.orderId === x)!;
    const dispute = JSON.parse(real.payload).data.object as { id: string; amount: number; currency: string };
    expect(disputed.data).toMatchObject({ orderId: x, disputeId: dispute.id, amount: '80.00', currency: 'USD' });
    expect(disputed.messageId).toBe(disputed.id);
  }, 180_000);
});
