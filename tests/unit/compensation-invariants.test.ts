import { describe, expect, it } from 'vitest';
import { checkCompensation, type Ledgers, type PlanAsRun, type SeenEvent } from '../../scripts/lib/compensation-invariants.js';
import type { PlannedOrder } from '../../scripts/lib/compensation-plan.js';

/**
 * The compensation invariants on hand-made runs: a run that keeps every
 * rule passes them all, and each way of breaking a rule is caught by the
 * invariant for that rule, naming the order.
 */
const id = (n: string) => `00000000-0000-4000-8000-${n.padStart(12, '0')}`;
const A = id('a');
const B = id('b');
const C = id('c');
const D = id('d');
const E = id('e');
const F = id('f');
const R1 = id('1001');
const R2 = id('1002');
const R3 = id('1003');
const R4 = id('1004');

function order(o: Partial<PlannedOrder> & Pick<PlannedOrder, 'orderId' | 'amount' | 'currency'>): PlannedOrder {
  return { paymentMethod: 'pm_card_visa', charge: 'succeeds', failCodes: [], refunds: [], ...o };
}

let serial = 0;
function event(type: string, data: Record<string, unknown>, eventId = `evt-${++serial}`): SeenEvent {
  return { id: eventId, type, messageId: eventId, data };
}

/** Every rule kept: refunds, a cancellation before, during and after the charge, a decline cancelled, a refund of a decline refused. */
function goodRun(): { ledgers: Ledgers; events: SeenEvent[]; plan: PlanAsRun } {
  const plan: PlanAsRun = {
    seed: 1,
    cancelConfirmedFirst: [B],
    orders: [
      order({ orderId: A, amount: '100.00', currency: 'USD', refunds: [{ refundId: R1, amount: '10.00', expect: 'refunded' }, { refundId: R2, amount: '20.00', expect: 'refunded' }] }),
      order({ orderId: B, amount: '50.00', currency: 'EUR', cancel: 'before' }),
      order({ orderId: C, amount: '5000', currency: 'JPY', cancel: 'during' }),
      order({ orderId: D, amount: '1.250', currency: 'BHD', cancel: 'after', refunds: [{ refundId: R3, amount: '0.250', expect: 'refunded' }] }),
      order({ orderId: E, amount: '20.00', currency: 'USD', paymentMethod: 'pm_card_chargeDeclined', charge: 'declined', failCodes: ['card_declined'], cancel: 'after' }),
      order({ orderId: F, amount: '30.00', currency: 'USD', paymentMethod: 'pm_card_chargeDeclined', charge: 'declined', failCodes: ['card_declined'], refunds: [{ refundId: R4, amount: '30.00', expect: 'failed', codes: ['not_charged'] }] }),
    ],
  };
  const charge = (orderId: string, amount: string, currency: string, status = 'succeeded') => ({ id: `pi_${orderId.slice(-1)}`, orderId, amount, currency, status });
  const refund = (rid: string, orderId: string, amount: string, currency: string, status = 'succeeded') => ({ id: rid, paymentIntent: `pi_${orderId.slice(-1)}`, orderId, amount, currency, status });
  const ledgers: Ledgers = {
    charges: [charge(A, '10000', 'USD'), charge(C, '5000', 'JPY'), charge(D, '1250', 'BHD'), charge(E, '2000', 'USD', 'failed'), charge(F, '3000', 'USD', 'failed')],
    refunds: [refund('re_1', A, '1000', 'USD'), refund('re_2', A, '2000', 'USD'), refund('re_c', C, '5000', 'JPY'), refund('re_3', D, '250', 'BHD'), refund('re_d', D, '1000', 'BHD')],
  };
  const completed = event('PaymentCompleted', { orderId: A, paymentId: 'p-a', amount: '100.00', currency: 'USD' }, 'evt-a-completed');
  const events = [
    completed,
    completed, // a redelivery: same id, no second answer
    event('PaymentRefunded', { orderId: A, paymentId: 'p-a', refundId: R1, amount: '10.00', amountRefunded: '10.00', currency: 'USD', gatewayRefundId: 're_1' }),
    event('PaymentRefunded', { orderId: A, paymentId: 'p-a', refundId: R2, amount: '20.00', amountRefunded: '30.00', currency: 'USD', gatewayRefundId: 're_2' }),
    event('PaymentCancelled', { orderId: B, paymentId: null }),
    event('PaymentFailed', { orderId: B, code: 'order_cancelled' }),
    event('PaymentCompleted', { orderId: C, paymentId: 'p-c', amount: '5000', currency: 'JPY' }),
    event('PaymentRefunded', { orderId: C, paymentId: 'p-c', refundId: 'svc-c', amount: '5000', amountRefunded: '5000', currency: 'JPY', gatewayRefundId: 're_c' }),
    event('PaymentCompleted', { orderId: D, paymentId: 'p-d', amount: '1.250', currency: 'BHD' }),
    event('PaymentRefunded', { orderId: D, paymentId: 'p-d', refundId: R3, amount: '0.250', amountRefunded: '0.250', currency: 'BHD', gatewayRefundId: 're_3' }),
    event('PaymentRefunded', { orderId: D, paymentId: 'p-d', refundId: 'svc-d', amount: '1.000', amountRefunded: '1.250', currency: 'BHD', gatewayRefundId: 're_d' }, 'evt-d-cancel'),
    event('PaymentFailed', { orderId: E, code: 'card_declined' }),
    event('PaymentCancelled', { orderId: E, paymentId: 'p-e' }),
    event('PaymentFailed', { orderId: F, code: 'card_declined' }),
    event('RefundFailed', { orderId: F, refundId: R4, code: 'not_charged', reason: 'never charged' }, 'evt-f-refund'),
  ];
  return { ledgers, events, plan };
}

type Run = ReturnType<typeof goodRun>;

function violationsOf(run: Run, invariant: RegExp): string[] {
  const result = checkCompensation(run.ledgers, run.events, run.plan).find((r) => invariant.test(r.name));
  if (!result) throw new Error(`no invariant named like ${invariant}`);
  return result.violations;
}

const without = (run: Run, drop: (e: SeenEvent) => boolean) => ({ ...run, events: run.events.filter((e) => !drop(e)) });

describe('compensation invariants', () => {
  it('a run that keeps every rule passes every invariant, each having checked something', () => {
    const run = goodRun();
    for (const result of checkCompensation(run.ledgers, run.events, run.plan)) {
      expect(result.violations, result.name).toEqual([]);
      expect(result.checked, result.name).toBeGreaterThan(0);
    }
  });

  const cases: Array<{ rule: string; invariant: RegExp; names: string; mutate: (run: Run) => Run; says: RegExp }> = [
    {
      rule: 'a second distinct terminal event',
      invariant: /one distinct terminal charge event/,
      names: A,
      mutate: (r) => ({ ...r, events: [...r.events, event('PaymentFailed', { orderId: A, code: 'card_declined' })] }),
      says: /2 distinct terminal events/,
    },
    {
      rule: 'a second charge',
      invariant: /one distinct terminal charge event/,
      names: A,
      mutate: (r) => ({ ...r, ledgers: { ...r.ledgers, charges: [...r.ledgers.charges, { id: 'pi_a2', orderId: A, amount: '10000', currency: 'USD', status: 'succeeded' }] } }),
      says: /charged 2 times/,
    },
    {
      rule: 'a charged order answered PaymentFailed',
      invariant: /one distinct terminal charge event/,
      names: C,
      mutate: (r) => ({ ...without(r, (e) => e.type === 'PaymentCompleted' && e.data.orderId === C), events: [...without(r, (e) => e.type === 'PaymentCompleted' && e.data.orderId === C).events, event('PaymentFailed', { orderId: C, code: 'order_cancelled' })] }),
      says: /charged \(pi_c\) but answered PaymentFailed/,
    },
    {
      rule: 'a charge for an order cancelled before its reservation',
      invariant: /cancelled before its reservation/,
      names: B,
      mutate: (r) => ({ ...r, ledgers: { ...r.ledgers, charges: [...r.ledgers.charges, { id: 'pi_b', orderId: B, amount: '5000', currency: 'EUR', status: 'failed' }] } }),
      says: /gateway was asked to charge it \(pi_b\)/,
    },
    {
      rule: 'an order cancelled first failing with another code',
      invariant: /cancelled before its reservation/,
      names: B,
      mutate: (r) => ({ ...without(r, (e) => e.type === 'PaymentFailed' && e.data.orderId === B), events: [...without(r, (e) => e.type === 'PaymentFailed' && e.data.orderId === B).events, event('PaymentFailed', { orderId: B, code: 'gateway_unavailable' })] }),
      says: /expected PaymentFailed\(order_cancelled\)/,
    },
    {
      rule: 'a cancellation never confirmed before the reservation went out',
      invariant: /cancelled before its reservation/,
      names: B,
      mutate: (r) => ({ ...r, plan: { ...r.plan, cancelConfirmedFirst: [] } }),
      says: /not answered PaymentCancelled in time/,
    },
    {
      rule: 'a cancellation answered twice',
      invariant: /every OrderCancelled answered exactly once/,
      names: C,
      mutate: (r) => ({ ...r, events: [...r.events, event('PaymentCancelled', { orderId: C, paymentId: 'p-c' })] }),
      says: /answered 2 times/,
    },
    {
      rule: 'a cancellation never answered',
      invariant: /every OrderCancelled answered exactly once/,
      names: E,
      mutate: (r) => without(r, (e) => e.type === 'PaymentCancelled' && e.data.orderId === E),
      says: /answered 0 times/,
    },
    {
      rule: 'a charged order answered PaymentCancelled, its money kept',
      invariant: /every OrderCancelled answered exactly once/,
      names: C,
      mutate: (r) => ({ ...without(r, (e) => e.type === 'PaymentRefunded' && e.data.orderId === C), events: [...without(r, (e) => e.type === 'PaymentRefunded' && e.data.orderId === C).events, event('PaymentCancelled', { orderId: C })] }),
      says: /5000 minor units held, answered PaymentCancelled/,
    },
    {
      rule: 'a cancellation refunding what an earlier refund already returned',
      invariant: /every OrderCancelled answered exactly once/,
      names: D,
      mutate: (r) => ({ ...r, events: r.events.map((e) => (e.id === 'evt-d-cancel' ? { ...e, data: { ...e.data, amount: '1.250' } } : e)) }),
      says: /amount 1\.250, expected everything not yet refunded \(1000/,
    },
    {
      rule: 'a refund answered twice under two event ids',
      invariant: /every RefundRequested answered exactly once/,
      names: R1,
      mutate: (r) => ({ ...r, events: [...r.events, event('PaymentRefunded', { orderId: A, refundId: R1, amount: '10.00', amountRefunded: '10.00', currency: 'USD' })] }),
      says: /answered 2 times/,
    },
    {
      rule: 'a refund never answered',
      invariant: /every RefundRequested answered exactly once/,
      names: R2,
      mutate: (r) => without(r, (e) => e.data.refundId === R2),
      says: /answered 0 times/,
    },
    {
      rule: 'a refund of a charged order refused',
      invariant: /every RefundRequested answered exactly once/,
      names: R1,
      mutate: (r) => ({ ...without(r, (e) => e.data.refundId === R1), events: [...without(r, (e) => e.data.refundId === R1).events, event('RefundFailed', { orderId: A, refundId: R1, code: 'card_declined', reason: 'x' })] }),
      says: /expected PaymentRefunded/,
    },
    {
      rule: 'a refund for an order never charged answered PaymentRefunded',
      invariant: /every RefundRequested answered exactly once/,
      names: R4,
      mutate: (r) => ({ ...r, events: r.events.map((e) => (e.id === 'evt-f-refund' ? { ...e, type: 'PaymentRefunded', data: { orderId: F, refundId: R4, amount: '30.00', currency: 'USD' } } : e)) }),
      says: /expected RefundFailed\(not_charged\)/,
    },
    {
      rule: 'a refund answered for another amount than requested',
      invariant: /every RefundRequested answered exactly once/,
      names: R2,
      mutate: (r) => ({ ...r, events: r.events.map((e) => (e.data.refundId === R2 ? { ...e, data: { ...e.data, amount: '25.00' } } : e)) }),
      says: /amount 25\.00, requested 20\.00/,
    },
    {
      rule: 'a cancelled order whose refund is still pending at the gateway',
      invariant: /net charge/,
      names: C,
      mutate: (r) => ({ ...r, ledgers: { ...r.ledgers, refunds: r.ledgers.refunds.map((x) => (x.id === 're_c' ? { ...x, status: 'pending' } : x)) } }),
      says: /net charge 5000 minor units .*expected 0.*re_c pending/,
    },
    {
      rule: 'a refund answered PaymentRefunded that the gateway never made',
      invariant: /net charge/,
      names: A,
      mutate: (r) => ({ ...r, ledgers: { ...r.ledgers, refunds: r.ledgers.refunds.filter((x) => x.id !== 're_2') } }),
      says: /net charge 9000 .*expected 7000/,
    },
    {
      rule: 'refunds adding up to more than the charge',
      invariant: /never add up to more than the charge/,
      names: A,
      mutate: (r) => ({ ...r, ledgers: { ...r.ledgers, refunds: [...r.ledgers.refunds, { id: 're_x', paymentIntent: 'pi_a', orderId: A, amount: '8000', currency: 'USD', status: 'pending' }] } }),
      says: /add up to 11000 minor units, the charge was 10000/,
    },
    {
      rule: 'a PaymentRefunded naming a gateway refund that does not exist',
      invariant: /agrees with the gateway/,
      names: C,
      mutate: (r) => ({ ...r, events: r.events.map((e) => (e.data.orderId === C && e.type === 'PaymentRefunded' ? { ...e, data: { ...e.data, gatewayRefundId: 're_nope' } } : e)) }),
      says: /gateway refund re_nope, which the gateway has no record of/,
    },
    {
      rule: 'a PaymentRefunded whose gateway refund failed',
      invariant: /agrees with the gateway/,
      names: D,
      mutate: (r) => ({ ...r, ledgers: { ...r.ledgers, refunds: [...r.ledgers.refunds.filter((x) => x.id !== 're_3'), { id: 're_3', paymentIntent: 'pi_d', orderId: D, amount: '250', currency: 'BHD', status: 'failed' }] } }),
      says: /re_3 is failed for 250 minor units/,
    },
    {
      rule: 'amountRefunded that never reaches the total',
      invariant: /agrees with the gateway/,
      names: A,
      mutate: (r) => ({ ...r, events: r.events.map((e) => (e.data.refundId === R2 ? { ...e, data: { ...e.data, amountRefunded: '20.00' } } : e)) }),
      says: /largest amountRefunded is 2000 minor units, the refunds answered add up to 3000/,
    },
    {
      rule: 'a PaymentRefunded naming another payment',
      invariant: /agrees with the gateway/,
      names: A,
      mutate: (r) => ({ ...r, events: r.events.map((e) => (e.data.refundId === R1 ? { ...e, data: { ...e.data, paymentId: 'p-other' } } : e)) }),
      says: /names payment p-other, its terminal event p-a/,
    },
    {
      rule: 'a PaymentCancelled for an order nobody cancelled',
      invariant: /nobody asked for/,
      names: A,
      mutate: (r) => ({ ...r, events: [...r.events, event('PaymentCancelled', { orderId: A })] }),
      says: /never cancelled/,
    },
    {
      rule: 'an answer whose AMQP messageId is not its id',
      invariant: /nobody asked for/,
      names: 'evt-d-cancel',
      mutate: (r) => ({ ...r, events: r.events.map((e) => (e.id === 'evt-d-cancel' ? { ...e, messageId: 'other' } : e)) }),
      says: /messageId other is not the event id/,
    },
  ];

  it.each(cases)('catches $rule', ({ invariant, names, mutate, says }) => {
    const violations = violationsOf(mutate(goodRun()), invariant);
    expect(violations.some((v) => v.includes(names) && says.test(v)), `expected a violation naming ${names} matching ${says}, got ${JSON.stringify(violations)}`).toBe(true);
  });
});
