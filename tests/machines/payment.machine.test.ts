import { initialTransition } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  PAYMENT_STATUSES,
  paymentMachine,
  type PaymentContext,
  type PaymentEvent,
  type PaymentStatus,
} from '../../src/machines/payment.machine.js';
import {
  EVENT_TYPES,
  reach,
  sampleEvents,
  sampleInput,
  step,
  toProcessing,
} from '../support/payment.samples.js';

const { START, REJECT, CHARGE_SUCCEEDED, CHARGE_DECLINED, CHARGE_FAILED_TRANSIENTLY, GIVE_UP } = sampleEvents;
const max = sampleInput.maxAttempts;

interface Row {
  name: string;
  before: PaymentEvent[];
  event: PaymentEvent;
  value: PaymentStatus;
  context: Partial<PaymentContext>;
  effects: string[];
}

/** Every accepted transition: what the state, context and named effects become. */
const accepted: Row[] = [
  {
    name: 'when a new payment is started with the handle of a charge prepared at a gateway, then Processing records that handle in the same step',
    before: [],
    event: { type: 'START', gateway: 'stripe', intentId: 'pi_first' },
    value: 'Processing',
    context: { attempts: 1, failures: 0, gateways: { stripe: 'maybe_charged' }, intents: { stripe: 'pi_first' }, intentSeq: 1 },
    effects: [],
  },
  {
    name: 'when a new payment is started, then it is Processing, counts attempt 1 and asks for a charge',
    before: [],
    event: START,
    value: 'Processing',
    context: { attempts: 1, failures: 0, transactionId: null, failureCode: null },
    effects: [],
  },
  {
    name: 'when a new payment is rejected as invalid, then it Failed with invalid_request without any charge',
    before: [],
    event: REJECT,
    value: 'Failed',
    context: { attempts: 0, failureCode: 'invalid_request', failureReason: REJECT.reason, transactionId: null },
    effects: ['emitPaymentFailed'],
  },
  {
    name: 'when a new payment is blocked by risk screening, then it Failed with risk_blocked and the rule in the reason, without any charge',
    before: [],
    event: { type: 'REJECT', code: 'risk_blocked', reason: 'blocked by rule blockedCustomers' },
    value: 'Failed',
    context: { attempts: 0, failureCode: 'risk_blocked', failureReason: 'blocked by rule blockedCustomers', transactionId: null },
    effects: ['emitPaymentFailed'],
  },
  {
    name: 'when the charge succeeds, then it is Success with the transaction id and gateway, and PaymentCompleted is emitted',
    before: toProcessing(),
    event: CHARGE_SUCCEEDED,
    value: 'Success',
    context: { attempts: 1, transactionId: 'pi_3Ok1sim', gateway: 'stripe', failureCode: null, failureReason: null },
    effects: ['emitPaymentCompleted'],
  },
  {
    name: 'when the charge succeeds after transient failures, then the failure count is kept and no failure code is set',
    before: toProcessing(2),
    event: CHARGE_SUCCEEDED,
    value: 'Success',
    context: { attempts: 3, failures: 2, transactionId: 'pi_3Ok1sim', failureCode: null },
    effects: ['emitPaymentCompleted'],
  },
  {
    name: 'when the card is declined, then it Failed with the decline code, reason and gateway, and PaymentFailed is emitted',
    before: toProcessing(),
    event: CHARGE_DECLINED,
    value: 'Failed',
    context: { failureCode: 'card_declined', failureReason: 'Your card was declined.', gateway: 'stripe', transactionId: null },
    effects: ['emitPaymentFailed'],
  },
  {
    name: 'when a decline names no gateway, then the gateway stays unset',
    before: toProcessing(),
    event: { type: 'CHARGE_DECLINED', code: 'insufficient_funds', reason: 'Insufficient funds.' },
    value: 'Failed',
    context: { failureCode: 'insufficient_funds', gateway: null },
    effects: ['emitPaymentFailed'],
  },
  {
    name: 'when the charge fails transiently, then Processing is re-entered, attempts and failures count up and another charge is asked for',
    before: toProcessing(),
    event: CHARGE_FAILED_TRANSIENTLY,
    value: 'Processing',
    context: { attempts: 2, failures: 1, lastError: 'gateway_timeout: no answer in 10000 ms', failureCode: null },
    effects: [],
  },
  {
    name: 'when the charge fails transiently again, then each failure asks for exactly one more charge',
    before: toProcessing(1),
    event: { type: 'CHARGE_FAILED_TRANSIENTLY', code: 'gateway_error', reason: 'HTTP 500' },
    value: 'Processing',
    context: { attempts: 3, failures: 2, lastError: 'gateway_error: HTTP 500' },
    effects: [],
  },
  {
    name: 'when a charge is prepared at a gateway, then its handle is recorded (and the gateway as maybe charged) before it is confirmed, and nothing else changes',
    before: toProcessing(),
    event: { type: 'ROUTE', gateway: 'secondary', intentId: 'pi_second', cleared: ['stripe'] },
    value: 'Processing',
    context: { attempts: 1, failures: 0, gateways: { secondary: 'maybe_charged', stripe: 'not_charged' }, intents: { secondary: 'pi_second' }, intentSeq: 1 },
    effects: [],
  },
  {
    name: 'when a transient failure settles gateways as not charged, then they are recorded so a later attempt may fail over',
    before: toProcessing(),
    event: { type: 'CHARGE_FAILED_TRANSIENTLY', code: 'gateway_unavailable', reason: 'connect ECONNREFUSED', cleared: ['stripe'] },
    value: 'Processing',
    context: { attempts: 2, failures: 1, gateways: { stripe: 'not_charged' } },
    effects: [],
  },
  {
    name: 'when attempts are exhausted and the payment gives up, then it Failed with gateway_unavailable',
    before: toProcessing(max),
    event: GIVE_UP,
    value: 'Failed',
    context: { failures: max, failureCode: 'gateway_unavailable', failureReason: GIVE_UP.reason, transactionId: null },
    effects: ['emitPaymentFailed'],
  },
];

describe('payment machine transitions', () => {
  it('when a payment is created, then it is Initiated with its input, zero counters and no outcome, and runs no effect', () => {
    const [snapshot, actions] = initialTransition(paymentMachine, sampleInput);
    expect(actions).toEqual([]);
    expect(snapshot.value).toBe('Initiated');
    expect(snapshot.status).toBe('active');
    expect(snapshot.context).toEqual({
      ...sampleInput,
      attempts: 0,
      failures: 0,
      transactionId: null,
      gateway: null,
      failureCode: null,
      failureReason: null,
      lastError: null,
      gateways: {},
      intents: {},
      intentSeq: 0,
      legacyCharge: false,
      refunds: {},
      amountRefundedMinor: '0',
      cancellation: null,
      dispute: null,
    });
  });

  for (const { name, before, event, value, context, effects } of accepted) {
    it(name, () => {
      const from = reach(before);
      expect(from.can(event)).toBe(true);
      const next = step(from, event);
      expect(next.snapshot.value).toBe(value);
      expect(next.snapshot.context).toMatchObject({ ...sampleInput, ...context });
      expect(next.effects).toEqual(effects);
      // No state is final: a settled charge still takes refunds, cancellations and disputes.
      expect(next.snapshot.status).toBe('active');
    });
  }
});

describe('payment machine guards', () => {
  it('when the charge succeeds with an empty transaction id, then the event is refused and the payment stays Processing', () => {
    const from = reach(toProcessing());
    const event: PaymentEvent = { type: 'CHARGE_SUCCEEDED', transactionId: '', gateway: 'stripe' };
    expect(from.can(event)).toBe(false);
    const next = step(from, event);
    expect(next.snapshot).toBe(from);
    expect(next.effects).toEqual([]);
  });

  for (let failures = 0; failures <= max + 1; failures++) {
    const isAccepted = failures >= max;
    const outcome = isAccepted ? 'accepted' : 'refused';
    it(`when the payment gives up after ${failures} transient failure(s) of ${max}, then it is ${outcome}`, () => {
      const from = reach(toProcessing(failures));
      expect(from.context.failures).toBe(failures);
      expect(from.can(GIVE_UP)).toBe(isAccepted);
      const next = step(from, GIVE_UP);
      expect(next.snapshot.value).toBe(isAccepted ? 'Failed' : 'Processing');
      expect(next.effects).toEqual(isAccepted ? ['emitPaymentFailed'] : []);
      if (!isAccepted) expect(next.snapshot).toBe(from);
    });
  }
});

/**
 * How to reach each state, and the sample events it accepts from there; every
 * other sample event must be refused. Several ways per state, so that a guard
 * (attempts, a cancellation, a refund's status) cannot hide a missing refusal.
 */
const { CANCEL, CHARGE_VOIDED, REFUND_REQUESTED, REFUND_PENDING, REFUND_SUCCEEDED, DISPUTE_OPENED } = sampleEvents;
const fullRefund: PaymentEvent = { ...REFUND_REQUESTED, amountMinor: sampleInput.amountMinor };
const charged = [START, CHARGE_SUCCEEDED];

const REACH: Array<{ status: PaymentStatus; via: string; history: PaymentEvent[]; accepts: PaymentEvent['type'][] }> = [
  { status: 'Initiated', via: 'a new payment', history: [], accepts: ['START', 'REJECT', 'CANCEL'] },
  { status: 'Processing', via: 'START', history: toProcessing(), accepts: ['CHARGE_SUCCEEDED', 'CHARGE_DECLINED', 'CHARGE_FAILED_TRANSIENTLY', 'ROUTE', 'CANCEL'] },
  {
    status: 'Processing',
    via: 'exhausted attempts',
    history: toProcessing(max),
    accepts: ['CHARGE_SUCCEEDED', 'CHARGE_DECLINED', 'CHARGE_FAILED_TRANSIENTLY', 'ROUTE', 'GIVE_UP', 'CANCEL'],
  },
  { status: 'Processing', via: 'CANCEL', history: [START, CANCEL], accepts: ['CHARGE_SUCCEEDED', 'CHARGE_DECLINED', 'CHARGE_FAILED_TRANSIENTLY', 'CHARGE_VOIDED'] },
  {
    status: 'Processing',
    via: 'CANCEL with attempts spent',
    history: [...toProcessing(max), CANCEL],
    accepts: ['CHARGE_SUCCEEDED', 'CHARGE_DECLINED', 'CHARGE_FAILED_TRANSIENTLY', 'CHARGE_VOIDED', 'GIVE_UP'],
  },
  { status: 'Success', via: 'CHARGE_SUCCEEDED', history: charged, accepts: ['STRAY_CHARGE_FOUND', 'GATEWAY_REFUND_FOUND', 'CANCEL', 'REFUND_REQUESTED', 'DISPUTE_OPENED'] },
  {
    status: 'Success',
    via: 'a refund requested',
    history: [...charged, REFUND_REQUESTED],
    accepts: ['STRAY_CHARGE_FOUND', 'GATEWAY_REFUND_FOUND', 'CANCEL', 'REFUND_PENDING', 'REFUND_SUCCEEDED', 'REFUND_FAILED', 'DISPUTE_OPENED'],
  },
  {
    status: 'Success',
    via: 'a refund pending',
    history: [...charged, REFUND_REQUESTED, REFUND_PENDING],
    accepts: ['STRAY_CHARGE_FOUND', 'GATEWAY_REFUND_FOUND', 'CANCEL', 'REFUND_SUCCEEDED', 'REFUND_FAILED', 'DISPUTE_OPENED'],
  },
  // The cancellation's refund takes everything: a new refund is answered RefundFailed, so it is accepted (as a failure).
  { status: 'Success', via: 'CANCEL', history: [...charged, CANCEL], accepts: ['STRAY_CHARGE_FOUND', 'REFUND_REQUESTED', 'DISPUTE_OPENED'] },
  {
    status: 'PartiallyRefunded',
    via: 'a refund succeeded',
    history: [...charged, REFUND_REQUESTED, REFUND_SUCCEEDED],
    accepts: ['STRAY_CHARGE_FOUND', 'GATEWAY_REFUND_FOUND', 'CANCEL', 'REFUND_FAILED', 'DISPUTE_OPENED'],
  },
  { status: 'Refunded', via: 'a full refund', history: [...charged, fullRefund, REFUND_SUCCEEDED], accepts: ['STRAY_CHARGE_FOUND', 'CANCEL', 'REFUND_FAILED', 'DISPUTE_OPENED'] },
  { status: 'Disputed', via: 'DISPUTE_OPENED', history: [...charged, DISPUTE_OPENED], accepts: ['STRAY_CHARGE_FOUND', 'CANCEL', 'REFUND_REQUESTED'] },
  { status: 'Disputed', via: 'CANCEL', history: [...charged, DISPUTE_OPENED, CANCEL], accepts: ['STRAY_CHARGE_FOUND', 'REFUND_REQUESTED'] },
  { status: 'Failed', via: 'REJECT', history: [REJECT], accepts: ['STRAY_CHARGE_FOUND', 'CANCEL', 'REFUND_REQUESTED'] },
  { status: 'Failed', via: 'CHARGE_DECLINED', history: [START, CHARGE_DECLINED], accepts: ['STRAY_CHARGE_FOUND', 'CANCEL', 'REFUND_REQUESTED'] },
  { status: 'Failed', via: 'GIVE_UP', history: [...toProcessing(max), GIVE_UP], accepts: ['STRAY_CHARGE_FOUND', 'CANCEL', 'REFUND_REQUESTED'] },
  { status: 'Failed', via: 'CANCEL', history: [CANCEL], accepts: ['STRAY_CHARGE_FOUND', 'REFUND_REQUESTED'] },
  { status: 'Failed', via: 'CHARGE_VOIDED', history: [START, CANCEL, CHARGE_VOIDED], accepts: ['STRAY_CHARGE_FOUND', 'REFUND_REQUESTED'] },
];

const unknownEvent = { type: 'PAYOUT_SENT' } as unknown as PaymentEvent;

describe('what each state accepts', () => {
  it('when the machine is read, then its states and events are exactly the ones this table covers', () => {
    expect(Object.keys(paymentMachine.states).sort()).toEqual([...PAYMENT_STATUSES].sort());
    expect([...paymentMachine.root.events].sort()).toEqual([...EVENT_TYPES].sort());
    expect(new Set(REACH.map((r) => r.status))).toEqual(new Set(PAYMENT_STATUSES));
  });

  for (const { status, via, history, accepts } of REACH) {
    for (const event of [...Object.values(sampleEvents), unknownEvent]) {
      const isAccepted = accepts.includes(event.type as PaymentEvent['type']);
      it(`when ${event.type} arrives in ${status} (via ${via}), then it is ${isAccepted ? 'accepted' : 'refused and nothing runs'}`, () => {
        const from = reach(history);
        expect(from.value).toBe(status);
        expect(from.can(event)).toBe(isAccepted);
        const next = step(from, event);
        if (isAccepted) expect(next.snapshot).not.toBe(from);
        else {
          expect(next.snapshot).toBe(from);
          expect(next.effects).toEqual([]);
        }
      });
    }
  }
});
