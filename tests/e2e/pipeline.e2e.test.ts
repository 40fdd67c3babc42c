import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAmount } from '../../src/money.js';
import { inventoryReserved, type InventoryReserved } from '../../scripts/lib/saga-client.js';
import { createKnex } from '../../src/persistence/db.js';
import { deploy, successfulChargesByOrder, type Deployment } from '../support/e2e-harness.js';

const METHODS = ['pm_card_visa', 'pm_card_visa', 'pm_card_chargeDeclined', 'pm_card_visa', 'pm_card_chargeDeclinedInsufficientFunds'];
const AMOUNTS: Array<[string, string]> = [['49.99', 'USD'], ['120.00', 'EUR'], ['5000', 'JPY'], ['1.250', 'BHD'], ['99999.99', 'USD']];
const EXPECTED: Record<string, { type: string; code?: string }> = {
  pm_card_visa: { type: 'PaymentCompleted' },
  pm_card_chargeDeclined: { type: 'PaymentFailed', code: 'card_declined' },
  pm_card_chargeDeclinedInsufficientFunds: { type: 'PaymentFailed', code: 'insufficient_funds' },
};

describe('the pipeline end to end, with two worker processes and the gateway simulator', () => {
  let d: Deployment;
  const orders: Array<Required<InventoryReserved>> = Array.from({ length: 200 }, (_, i) => {
    const [amount, currency] = AMOUNTS[i % AMOUNTS.length]!;
    return { orderId: randomUUID(), amount, currency, customerId: `cus_${i}`, paymentMethod: METHODS[i % METHODS.length]! };
  });

  beforeAll(async () => {
    // Two processes on one host: the deployment worker standby is for (it is off by default).
    d = await deploy({ workers: 2, workerEnv: { WORKER_STANDBY: 'true' } });
  }, 120_000);
  afterAll(async () => {
    await d?.teardown();
  });

  it('200 orders with 100 duplicate deliveries give exactly one terminal event and one charge per order', async () => {
    const events = orders.map((o) => inventoryReserved(o));
    for (const e of events) await d.client.publish(e);
    // 50 redeliveries of the same event, 50 of the same order and data under a new event id.
    for (const e of events.slice(0, 50)) await d.client.publish(e);
    for (const o of orders.slice(50, 100)) await d.client.publish(inventoryReserved(o));

    await d.client.waitFor('a terminal event for every order', () => d.client.byOrder().size === orders.length, 90_000);
    // Let any duplicate that is still in flight settle: every outbox row published, no job left.
    const knex = createKnex(d.iso.databaseUrl);
    try {
      await expectEventually(async () => Number((await knex('outbox').whereNull('published_at').count('* as n').first())!.n) === 0);

      const rows = await knex('payments').select('order_id', 'status', 'amount', 'amount_minor', 'currency', 'transaction_id');
      expect(rows).toHaveLength(orders.length);

      const byOrder = d.client.byOrder();
      const ledger = successfulChargesByOrder(await d.ledger());
      for (const o of orders) {
        const received = byOrder.get(o.orderId) ?? [];
        const distinct = new Map(received.map((e) => [e.id, e]));
        expect(distinct.size, `distinct terminal events for ${o.orderId}`).toBe(1);
        const event = [...distinct.values()][0]!;
        expect(event.messageId).toBe(event.id);
        expect(event.contentType).toBe('application/cloudevents+json');
        const expected = EXPECTED[o.paymentMethod]!;
        expect(event.type).toBe(expected.type);
        const charges = ledger.get(o.orderId) ?? [];
        expect(charges.length, `charges for ${o.orderId}`).toBeLessThanOrEqual(1);
        const row = rows.find((r) => r.order_id === o.orderId)!;
        if (expected.type === 'PaymentCompleted') {
          // The amount round-trips exactly: event → row → gateway (minor units) → event.
          expect(event.data).toMatchObject({ amount: o.amount, currency: o.currency, transactionId: row.transaction_id });
          expect(row.amount_minor).toBe(parseAmount(o.amount, o.currency).toString());
          expect(charges).toHaveLength(1);
          expect(charges[0]).toMatchObject({ amount: parseAmount(o.amount, o.currency).toString(), currency: o.currency, id: row.transaction_id });
          expect(row.status).toBe('Success');
        } else {
          expect(event.data.code).toBe(expected.code);
          expect(row.status).toBe('Failed');
        }
      }
      // A decline is the payment's answer, not a broken job: Bull Board's failed lists stay empty.
      expect(await d.paymentJobCounts('failed', 'completed')).toEqual({ failed: 0, completed: orders.length });
    } finally {
      await knex.destroy();
    }
  }, 180_000);

  it('bad input is dead-lettered or answered, and the workers keep going', async () => {
    const before = d.client.received.length;
    const invalidOrder = randomUUID();
    await d.client.publishRaw(Buffer.from('{"not":"a cloud event"'));
    await d.client.publishRaw(inventoryReserved({ orderId: randomUUID(), amount: '10.00', currency: 'USD', paymentMethod: '4242 4242 4242 4242' }));
    await d.client.publishRaw(inventoryReserved({ orderId: invalidOrder, amount: '10.5', currency: 'USD' }));
    const good = randomUUID();
    await d.client.publish(inventoryReserved({ orderId: good, amount: '10.00', currency: 'USD' }));

    await d.client.waitFor('the invalid order answered and the good one completed', (evs) =>
      evs.some((e) => e.data.orderId === invalidOrder) && evs.some((e) => e.data.orderId === good));
    const answered = d.client.received.slice(before).find((e) => e.data.orderId === invalidOrder)!;
    expect(answered.type).toBe('PaymentFailed');
    expect(answered.data.code).toBe('invalid_request');
    expect(String(answered.data.reason)).toMatch(/amount/);

    const dead = await expectEventually(async () => {
      const got = await d.client.deadLetters();
      return got.length >= 2 ? got : undefined;
    });
    const reasons = dead.map((m) => String(m.headers['x-error']));
    expect(reasons).toContain('card data not accepted');
    expect(reasons.some((r) => /JSON/i.test(r))).toBe(true);
    const cardCopy = dead.find((m) => m.headers['x-error'] === 'card data not accepted')!;
    expect(cardCopy.content.toString()).not.toMatch(/4242 4242 4242 4242/);
    for (const w of d.workers) expect(w.child.exitCode).toBeNull();
  });

  it('with a steady trickle of orders the process taking them runs them and the other stands by; with none, both pull again', async () => {
    const standingBy = () => d.metricSum('payment_worker_standing_by');
    const trickle: string[] = [];
    // Load, not synchronisation: one order every 50 ms until a process reports standing by.
    const seen = await expectEventually(async () => {
      const orderId = randomUUID();
      trickle.push(orderId);
      await d.client.publish(inventoryReserved({ orderId, amount: '10.00', currency: 'EUR', paymentMethod: 'pm_card_visa' }));
      await new Promise((r) => setTimeout(r, 50));
      return (await standingBy()) === 1;
    });
    expect(seen).toBe(true);

    await d.client.waitFor('a terminal event for every order of the trickle', () => trickle.every((id) => d.client.byOrder().has(id)));
    // No input now: the heartbeat of the process that took it expires, and every process pulls again.
    expect(await expectEventually(async () => (await standingBy()) === 0)).toBe(true);
  });

  it('on SIGTERM each worker drains and exits 0', async () => {
    const exits = await Promise.all(d.workers.map((w) => w.stop('SIGTERM')));
    expect(exits.map((e) => e.code)).toEqual(d.workers.map(() => 0));
  });
});

async function expectEventually<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
