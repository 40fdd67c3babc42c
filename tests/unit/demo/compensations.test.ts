import { describe, expect, it } from 'vitest';
import {
  answerTo,
  awaitAnswers,
  compensationRows,
  halfOf,
  planCompensations,
  type CompensationPlan,
} from '../../../scripts/demo/compensations.js';
import { buildOrders } from '../../../scripts/lib/demo-report.js';
import type { ReceivedEvent, SagaClient } from '../../../scripts/lib/saga-client.js';

const ORDER = '9a6b1f0e-2d55-4c1e-8f35-7c1d2b4e9f10';
const OTHER = '2f1c6a2e-6a1b-4f57-9d87-0e1b9c2b7a11';
const REFUND = '0e8b3d8c-5f0a-4d8e-9d44-5a1c9f0f6b21';

function received(type: string, data: Record<string, unknown>, id = `${type}-${String(data.orderId)}`): ReceivedEvent {
  return { id, type, routingKey: '', messageId: id, contentType: undefined, data: { orderId: ORDER, ...data }, body: {}, receivedAt: 0 };
}

function plan(): CompensationPlan {
  return {
    before: new Set(),
    during: new Set(),
    later: [],
    asked: [
      { kind: 'cancel after success', orderId: ORDER, currency: 'USD' },
      { kind: 'partial refund', orderId: OTHER, refundId: REFUND, amount: '0.625', currency: 'BHD' },
    ],
  };
}

/** Only what awaitAnswers reads of the client: its events and a waitFor that never sees its predicate hold. */
function silentClient(events: ReceivedEvent[]): SagaClient {
  return {
    received: events,
    waitFor: (what: string) => Promise.reject(new Error(`timed out waiting for ${what}`)),
  } as unknown as SagaClient;
}

describe('the demo compensations', () => {
  it('when half of an amount is asked for, then it is computed in minor units with the currency digits', () => {
    expect(halfOf('49.99', 'USD')).toBe('24.99');
    expect(halfOf('5000', 'JPY')).toBe('2500');
    expect(halfOf('1.250', 'BHD')).toBe('0.625');
    expect(halfOf('0.01', 'USD')).toBe('0.01');
  });

  it('when orders are planned, then the cancelled and the later ones are distinct good-card orders', () => {
    const orders = buildOrders(40);
    const p = planCompensations(orders);
    const all = [...p.before, ...p.during, ...p.later.map((o) => o.orderId)];
    expect(new Set(all).size).toBe(all.length);
    expect(p.before.size).toBe(3);
    expect(p.during.size).toBe(3);
    for (const id of all) expect(orders.find((o) => o.orderId === id)?.paymentMethod).toMatch(/^pm_card_(visa|mastercard)$/);
  });

  it('when answers arrive, then a cancellation is matched by its order and a refund only by its refundId', () => {
    const [cancellation, refund] = plan().asked;
    expect(answerTo(cancellation!, [received('PaymentCompleted', {})])).toBeUndefined();
    expect(answerTo(cancellation!, [received('PaymentRefunded', { amount: '49.99', currency: 'USD' })])?.type).toBe('PaymentRefunded');
    expect(answerTo(refund!, [received('PaymentRefunded', { orderId: OTHER, refundId: 'someone-else' })])).toBeUndefined();
    expect(answerTo(refund!, [received('RefundFailed', { orderId: OTHER, refundId: REFUND, code: 'exceeds_refundable' })])?.type).toBe('RefundFailed');
  });

  it('when the worker does not answer in time, then the wait ends with a message naming each missing answer', async () => {
    const events = [received('PaymentCancelled', { paymentId: null })];
    const message = await awaitAnswers(silentClient(events), plan(), 1000);
    expect(message).toContain('no answer within 1 s to 1 of 2 compensations');
    expect(message).toContain(`partial refund: refund ${REFUND} of order ${OTHER}`);
    expect(message).not.toContain(`order ${ORDER}`);
  });

  it('when answers are summed, then the summary counts them by type and adds refunded amounts per currency without floats', () => {
    const events = [
      received('PaymentRefunded', { amount: '0.10', currency: 'USD' }, 'a'),
      received('PaymentRefunded', { amount: '0.20', currency: 'USD' }, 'b'),
      received('PaymentRefunded', { amount: '0.20', currency: 'USD' }, 'b'),
      received('RefundFailed', { orderId: OTHER, refundId: REFUND }, 'c'),
    ];
    const rows = Object.fromEntries(compensationRows(plan(), events));
    expect(rows['answered: PaymentRefunded']).toBe('2');
    expect(rows['answered: RefundFailed']).toBe('1');
    expect(rows.refunded).toBe('0.30 USD');
    expect(rows['compensations unanswered']).toBe('0');
  });
});
