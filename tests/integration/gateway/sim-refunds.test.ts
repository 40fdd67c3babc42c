import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../../src/gateway/simulator/simulator.js';
import { createIntent, type Observed } from '../../support/sim-client.js';
import { bodyOf, createRefund, getJson } from '../../support/sim-refund-client.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/sim-webhook-receiver.js';

const started: Array<Simulator | WebhookReceiver> = [];

async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const simulator = createSimulator({ seed: 1, ...options });
  started.push(simulator);
  await simulator.start();
  return simulator;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

interface Refund {
  id: string;
  amount: number;
  status: string;
  payment_intent: string;
  charge: string;
  failure_reason?: string;
}

/** A succeeded payment intent of `amount` minor units; answers its id, charge id and order id. */
async function paidIntent(simulator: Simulator, amount = '4999') {
  const orderId = randomUUID();
  const intent = bodyOf<{ id: string; latest_charge: string; status: string }>(
    await createIntent(simulator.url, { amount, currency: 'usd', payment_method: 'pm_card_visa', orderId }),
  );
  expect(intent.status).toBe('succeeded');
  return { id: intent.id, charge: intent.latest_charge, orderId };
}

function errorOf(seen: Observed): { status: number; type?: string; code?: string; param?: string; message?: string } {
  if (seen.kind !== 'answered') throw new Error(`expected an answer, saw ${seen.kind}`);
  return { status: seen.status, ...(seen.body as { error: object }).error };
}

async function chargeOf(simulator: Simulator, chargeId: string) {
  return bodyOf<{ amount_refunded: number; refunded: boolean; refunds: { data: Refund[] } }>(await getJson(simulator.url, `/v1/charges/${chargeId}`));
}

describe('gateway simulator refunds', () => {
  it('when a refund names only the payment intent, then everything is refunded at once and the charge, the ledger and the look-ups agree', async () => {
    const simulator = await startSimulator();
    const paid = await paidIntent(simulator);

    const refund = bodyOf<Refund>(await createRefund(simulator.url, { payment_intent: paid.id, metadata: { refundId: 'r-1' } }));

    expect(refund).toMatchObject({ object: 'refund', amount: 4999, currency: 'usd', status: 'succeeded', payment_intent: paid.id, charge: paid.charge, metadata: { refundId: 'r-1' } });
    expect(await chargeOf(simulator, paid.charge)).toMatchObject({ amount_refunded: 4999, refunded: true, refunds: { data: [{ id: refund.id }] } });
    expect(bodyOf(await getJson(simulator.url, `/v1/refunds/${refund.id}`))).toEqual(refund);
    const ledger = (await (await fetch(`${simulator.url}/_sim/refunds`)).json()) as unknown[];
    expect(ledger).toEqual([
      { id: refund.id, paymentIntent: paid.id, orderId: paid.orderId, amount: '4999', currency: 'USD', status: 'succeeded', created: expect.any(Number) },
    ]);
  });

  it('when refunds are partial, then the default amount is what is left, and once nothing is left Stripe\'s charge_already_refunded refuses more', async () => {
    const simulator = await startSimulator();
    const paid = await paidIntent(simulator);

    const first = bodyOf<Refund>(await createRefund(simulator.url, { payment_intent: paid.id, amount: '1000' }));
    expect(await chargeOf(simulator, paid.charge)).toMatchObject({ amount_refunded: 1000, refunded: false });
    const rest = bodyOf<Refund>(await createRefund(simulator.url, { payment_intent: paid.id }));
    const more = await createRefund(simulator.url, { payment_intent: paid.id, amount: '1' });

    expect([first.amount, rest.amount]).toEqual([1000, 3999]);
    expect(errorOf(more)).toMatchObject({ status: 400, type: 'invalid_request_error', code: 'charge_already_refunded' });
    expect(await chargeOf(simulator, paid.charge)).toMatchObject({ amount_refunded: 4999, refunded: true });
  });

  it('when a refund asks for more than is left, then Stripe\'s amount_too_large refuses it and nothing is refunded', async () => {
    const simulator = await startSimulator();
    const paid = await paidIntent(simulator);
    await createRefund(simulator.url, { payment_intent: paid.id, amount: '1000' });

    const over = await createRefund(simulator.url, { payment_intent: paid.id, amount: '4000' });

    expect(errorOf(over)).toMatchObject({ status: 400, type: 'invalid_request_error', code: 'amount_too_large', param: 'amount' });
    expect(errorOf(over).message).toContain('greater than unrefunded amount on charge');
    expect(simulator.refunds().map((refund) => refund.amount)).toEqual(['1000']);
  });

  it('when the payment intent never charged, then the refund is refused as Stripe refuses it; an unknown one is a 404', async () => {
    const simulator = await startSimulator();
    const declined = bodyOf<{ error: { payment_intent: { id: string } } }>(
      await createIntent(simulator.url, { amount: '100', currency: 'usd', payment_method: 'pm_card_chargeDeclined', orderId: randomUUID() }),
    ).error.payment_intent;
    const unconfirmed = bodyOf<{ id: string }>(await createIntent(simulator.url, { amount: '100', currency: 'usd', orderId: randomUUID() }, { confirm: false }));

    for (const id of [declined.id, unconfirmed.id]) {
      const seen = errorOf(await createRefund(simulator.url, { payment_intent: id }));
      expect(seen).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'payment_intent' });
      expect(seen.message).toBe(`This PaymentIntent (${id}) does not have a successful charge to refund.`);
    }
    expect(errorOf(await createRefund(simulator.url, { payment_intent: 'pi_nope' }))).toMatchObject({ status: 404, code: 'resource_missing' });
    expect(simulator.refunds()).toEqual([]);
  });

  it('when a key is repeated, then the first refund is replayed and never made twice; the same key with another amount is Stripe\'s idempotency error', async () => {
    const simulator = await startSimulator();
    const paid = await paidIntent(simulator);

    const first = await createRefund(simulator.url, { payment_intent: paid.id, amount: '1000' }, { idempotencyKey: 'refund-1' });
    const replay = await createRefund(simulator.url, { payment_intent: paid.id, amount: '1000' }, { idempotencyKey: 'refund-1' });
    const conflict = await createRefund(simulator.url, { payment_intent: paid.id, amount: '2000' }, { idempotencyKey: 'refund-1' });

    expect(replay).toEqual({ ...first, replayed: true });
    expect(errorOf(conflict)).toMatchObject({ status: 400, type: 'idempotency_error' });
    expect(simulator.refunds()).toHaveLength(1);
  });

  it('when the response to a refund is lost, then the refund is made; the retry with its key gets that refund, not a second one', async () => {
    const simulator = await startSimulator();
    const paid = await paidIntent(simulator);
    simulator.setFaults({ lostResponseRate: 1 });

    expect(await createRefund(simulator.url, { payment_intent: paid.id, amount: '700' }, { idempotencyKey: 'lost' })).toEqual({ kind: 'dropped' });
    expect(simulator.refunds()).toMatchObject([{ paymentIntent: paid.id, amount: '700', status: 'succeeded' }]);
    simulator.setFaults({ lostResponseRate: 0 });
    const retried = bodyOf<Refund>(await createRefund(simulator.url, { payment_intent: paid.id, amount: '700' }, { idempotencyKey: 'lost' }));

    expect(simulator.refunds()).toEqual([expect.objectContaining({ id: retried.id })]);
  });

  it('when faults strike before the refund runs, then no refund is made', async () => {
    const simulator = await startSimulator();
    const paid = await paidIntent(simulator);
    simulator.setFaults({ errorRate: 1 });
    expect(errorOf(await createRefund(simulator.url, { payment_intent: paid.id }))).toMatchObject({ status: 500, type: 'api_error' });
    simulator.setFaults({ errorRate: 0, timeoutRate: 1 });
    expect(await createRefund(simulator.url, { payment_intent: paid.id }, { timeoutMs: 200 })).toEqual({ kind: 'no_answer' });
    expect(simulator.refunds()).toEqual([]);
  });

  it('when a refund is pending, then it holds its amount and settles as succeeded after SIM_REFUND_SETTLE_MS, announced by refund.updated', async () => {
    const receiver = await startWebhookReceiver();
    started.push(receiver);
    const simulator = await startSimulator({ refundPendingRate: 1, refundSettleMs: 30, webhooks: { urls: [receiver.url], secret: 'whsec_test' } });
    const paid = await paidIntent(simulator);

    const refund = bodyOf<Refund>(await createRefund(simulator.url, { payment_intent: paid.id, amount: '4000' }));
    expect(refund.status).toBe('pending');
    expect(errorOf(await createRefund(simulator.url, { payment_intent: paid.id, amount: '1000' }))).toMatchObject({ code: 'amount_too_large' });

    const [updated] = await receiver.received(1, (r) => r.event.type === 'refund.updated');
    expect(updated!.event.data).toMatchObject({ object: { id: refund.id, status: 'succeeded' }, previous_attributes: { status: 'pending' } });
    expect(bodyOf(await getJson(simulator.url, `/v1/refunds/${refund.id}`))).toMatchObject({ status: 'succeeded' });
    expect(simulator.refunds()).toMatchObject([{ id: refund.id, status: 'succeeded' }]);
  });

  it('when a refund fails, then it says why, refund.failed is sent, and its amount can be refunded again', async () => {
    const simulator = await startSimulator({ refundFailRate: 1 });
    const paid = await paidIntent(simulator);

    const failed = bodyOf<Refund>(await createRefund(simulator.url, { payment_intent: paid.id }));
    expect(failed).toMatchObject({ status: 'failed', failure_reason: 'unknown', amount: 4999 });
    expect(await chargeOf(simulator, paid.charge)).toMatchObject({ amount_refunded: 0, refunded: false });
    expect(simulator.events().map((event) => event.type)).toEqual(['payment_intent.succeeded', 'refund.failed']);

    simulator.setFaults({ refundFailRate: 0 });
    const again = bodyOf<Refund>(await createRefund(simulator.url, { payment_intent: paid.id }));
    expect(again).toMatchObject({ status: 'succeeded', amount: 4999 });
  });

  it('when a pending refund fails as it settles, then refund.updated and refund.failed announce it and its amount is free again', async () => {
    const receiver = await startWebhookReceiver();
    started.push(receiver);
    const simulator = await startSimulator({
      refundPendingRate: 1,
      refundFailRate: 1,
      refundSettleMs: 10,
      webhooks: { urls: [receiver.url], secret: 'whsec_test' },
    });
    const paid = await paidIntent(simulator);
    const refund = bodyOf<Refund>(await createRefund(simulator.url, { payment_intent: paid.id }));
    expect(refund.status).toBe('pending');

    await receiver.received(1, (r) => r.event.type === 'refund.failed');
    expect(simulator.events().map((event) => event.type)).toEqual(['payment_intent.succeeded', 'charge.refunded', 'refund.updated', 'refund.failed']);
    expect(await chargeOf(simulator, paid.charge)).toMatchObject({ amount_refunded: 0 });
  });

  it('when refunds are listed, then Stripe\'s list comes newest first, filtered by intent, paged by limit and starting_after', async () => {
    const simulator = await startSimulator();
    const paid = await paidIntent(simulator);
    const other = await paidIntent(simulator);
    const made: string[] = [];
    for (const amount of ['100', '200', '300']) made.push(bodyOf<Refund>(await createRefund(simulator.url, { payment_intent: paid.id, amount })).id);
    await createRefund(simulator.url, { payment_intent: other.id, amount: '50' });

    const page = bodyOf<{ object: string; url: string; has_more: boolean; data: Refund[] }>(
      await getJson(simulator.url, `/v1/refunds?payment_intent=${paid.id}&limit=2`),
    );
    const next = bodyOf<{ has_more: boolean; data: Refund[] }>(
      await getJson(simulator.url, `/v1/refunds?payment_intent=${paid.id}&limit=2&starting_after=${page.data[1]!.id}`),
    );

    expect(page).toMatchObject({ object: 'list', url: '/v1/refunds', has_more: true });
    expect(page.data.map((r) => r.id)).toEqual([made[2], made[1]]);
    expect(next).toMatchObject({ has_more: false, data: [{ id: made[0] }] });
  });

  it('when the official stripe package refunds and lists, then it reads the simulator as it reads Stripe', async () => {
    const simulator = await startSimulator();
    const paid = await paidIntent(simulator);
    const stripe = new Stripe('sk_test_package', { host: '127.0.0.1', port: simulator.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false });

    const refunds: Stripe.Refund[] = [];
    for (let i = 0; i < 12; i += 1) refunds.push(await stripe.refunds.create({ payment_intent: paid.id, amount: 100 }, { idempotencyKey: `pkg-${i}` }));
    const listed = await stripe.refunds.list({ payment_intent: paid.id, limit: 5 }).autoPagingToArray({ limit: 100 });
    const tooMuch = await stripe.refunds.create({ payment_intent: paid.id, amount: 99_999 }).catch((error: unknown) => error);

    expect(listed.map((r) => r.id)).toEqual(refunds.map((r) => r.id).reverse());
    expect(tooMuch).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(tooMuch).toMatchObject({ code: 'amount_too_large', statusCode: 400 });
  });

  it('when reconciliation lists a time window, then payment intents and refunds page through the official package, newest first, within created bounds', async () => {
    let nowMs = 1_800_000_000_000;
    const simulator = await startSimulator({ clock: () => nowMs });
    const early = await paidIntent(simulator);
    await createRefund(simulator.url, { payment_intent: early.id, amount: '1' });
    nowMs += 3_600_000;
    const late = [await paidIntent(simulator), await paidIntent(simulator), await paidIntent(simulator)];
    for (const paid of late) await createRefund(simulator.url, { payment_intent: paid.id, amount: '2' });
    const stripe = new Stripe('sk_test_package', { host: '127.0.0.1', port: simulator.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false });
    const window = { gte: 1_800_000_000 + 1800 };

    const intents = await stripe.paymentIntents.list({ created: window, limit: 2 }).autoPagingToArray({ limit: 100 });
    const refunds = await stripe.refunds.list({ created: window, limit: 2 }).autoPagingToArray({ limit: 100 });

    expect(intents.map((intent) => intent.id)).toEqual(late.map((paid) => paid.id).reverse());
    expect(refunds.map((refund) => refund.payment_intent)).toEqual(late.map((paid) => paid.id).reverse());
  });
});
