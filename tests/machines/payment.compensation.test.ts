import { describe, expect, it } from 'vitest';
import { PAYMENT_EFFECTS, paymentMachine, type PaymentContext, type PaymentEvent, type PaymentStatus, type Refund } from '../../src/machines/payment.machine.js';
import { reach, sampleEvents, sampleInput, step, toProcessing } from '../support/payment.samples.js';

/**
 * The rules of CONTRACT §8, one row each: from a payment reached by `before`,
 * `event` leaves it in `value` with `context`, and names exactly `effects`.
 */

const { START, CHARGE_SUCCEEDED, CHARGE_DECLINED, GIVE_UP, CANCEL, CHARGE_VOIDED, REFUND_REQUESTED, REFUND_PENDING, REFUND_SUCCEEDED, REFUND_FAILED, DISPUTE_OPENED } =
  sampleEvents;
const max = sampleInput.maxAttempts;
const charged = [START, CHARGE_SUCCEEDED];
const cancelId = CANCEL.refundId;

const request = (refundId: string, amountMinor: string): PaymentEvent => ({ type: 'REFUND_REQUESTED', refundId, amountMinor, reason: 'returned' });
const succeeded = (refundId: string, gatewayRefundId = `re_${refundId}`): PaymentEvent => ({ type: 'REFUND_SUCCEEDED', refundId, gatewayRefundId });
const failed = (refundId: string, gatewayRefundId?: string): PaymentEvent => ({
  type: 'REFUND_FAILED',
  refundId,
  code: 'expired_or_canceled_card',
  reason: 'the card was closed',
  ...(gatewayRefundId ? { gatewayRefundId } : {}),
});

const refund = (fields: Partial<Refund>): Refund => ({
  amountMinor: '1000',
  status: 'requested',
  reason: 'returned',
  cancel: false,
  attempt: 1,
  gatewayRefundId: null,
  failureCode: null,
  failureReason: null,
  ...fields,
});
const cancelRefund = (fields: Partial<Refund>): Refund => refund({ reason: CANCEL.reason, cancel: true, ...fields });
const answered = { refundId: cancelId, reason: CANCEL.reason, answered: true };
const waiting = { ...answered, answered: false };

interface Row {
  name: string;
  before: PaymentEvent[];
  event: PaymentEvent;
  value: PaymentStatus;
  context: Partial<PaymentContext>;
  effects: string[];
}

const cancellations: Row[] = [
  {
    name: 'when an order is cancelled before its charge was sent, then it Failed with order_cancelled, and both PaymentFailed and PaymentCancelled go out',
    before: [],
    event: CANCEL,
    value: 'Failed',
    context: { failureCode: 'order_cancelled', failureReason: CANCEL.reason, attempts: 0, cancellation: answered },
    effects: ['emitPaymentCancelled', 'emitPaymentFailed'],
  },
  {
    name: 'when an order is cancelled while its charge is unknown, then it stays Processing with the cancellation recorded, and nothing goes out yet',
    before: toProcessing(),
    event: CANCEL,
    value: 'Processing',
    context: { attempts: 1, cancellation: waiting },
    effects: [],
  },
  {
    name: 'when a cancelled charge is voided, then it Failed with order_cancelled and the cancellation reason, its gateways cleared',
    before: [START, CANCEL],
    event: CHARGE_VOIDED,
    value: 'Failed',
    context: { failureCode: 'order_cancelled', failureReason: CANCEL.reason, gateways: { stripe: 'not_charged' }, cancellation: answered },
    effects: ['emitPaymentCancelled', 'emitPaymentFailed'],
  },
  {
    name: 'when a cancelled charge turns out declined, then the decline is the failure, and PaymentCancelled answers the cancellation',
    before: [START, CANCEL],
    event: CHARGE_DECLINED,
    value: 'Failed',
    context: { failureCode: 'card_declined', cancellation: answered },
    effects: ['emitPaymentCancelled', 'emitPaymentFailed'],
  },
  {
    name: 'when a cancelled payment gives up after its attempts, then it Failed with gateway_unavailable, and PaymentCancelled answers',
    before: [...toProcessing(max), CANCEL],
    event: GIVE_UP,
    value: 'Failed',
    context: { failureCode: 'gateway_unavailable', cancellation: answered },
    effects: ['emitPaymentCancelled', 'emitPaymentFailed'],
  },
  {
    name: 'when settling a cancelled charge fails transiently, then no new charge is asked for (no attempt counted)',
    before: [START, CANCEL],
    event: sampleEvents.CHARGE_FAILED_TRANSIENTLY,
    value: 'Processing',
    context: { attempts: 1, failures: 1, cancellation: waiting },
    effects: [],
  },
  {
    name: 'when a cancelled charge turns out charged, then PaymentCompleted stands and a refund of everything is owed',
    before: [START, CANCEL],
    event: CHARGE_SUCCEEDED,
    value: 'Success',
    context: { transactionId: CHARGE_SUCCEEDED.transactionId, cancellation: waiting, refunds: { [cancelId]: cancelRefund({ amountMinor: '4999' }) } },
    effects: ['emitPaymentCompleted'],
  },
  {
    name: "when the cancellation's refund succeeds, then the payment is Refunded and its PaymentRefunded is the cancellation's answer",
    before: [START, CANCEL, CHARGE_SUCCEEDED],
    event: succeeded(cancelId),
    value: 'Refunded',
    context: { amountRefundedMinor: '4999', cancellation: answered, refunds: { [cancelId]: cancelRefund({ amountMinor: '4999', status: 'succeeded', gatewayRefundId: `re_${cancelId}` }) } },
    effects: ['emitPaymentRefunded'],
  },
  {
    name: 'when a charged payment is cancelled, then a refund of everything is reserved at once',
    before: charged,
    event: CANCEL,
    value: 'Success',
    context: { cancellation: waiting, refunds: { [cancelId]: cancelRefund({ amountMinor: '4999' }) } },
    effects: [],
  },
  {
    name: 'when a partially refunded payment is cancelled, then the refund reserved is exactly what is left',
    before: [...charged, request('r1', '1000'), succeeded('r1')],
    event: CANCEL,
    value: 'PartiallyRefunded',
    context: { cancellation: waiting, refunds: { r1: refund({ status: 'succeeded', gatewayRefundId: 're_r1' }), [cancelId]: cancelRefund({ amountMinor: '3999' }) } },
    effects: [],
  },
  {
    name: 'when a fully refunded payment is cancelled, then PaymentCancelled answers at once: no money is held',
    before: [...charged, request('r1', '4999'), succeeded('r1')],
    event: CANCEL,
    value: 'Refunded',
    context: { cancellation: answered, refunds: { r1: refund({ amountMinor: '4999', status: 'succeeded', gatewayRefundId: 're_r1' }) } },
    effects: ['emitPaymentCancelled'],
  },
  {
    name: 'when a failed payment is cancelled, then PaymentCancelled answers: nothing was charged',
    before: [START, CHARGE_DECLINED],
    event: CANCEL,
    value: 'Failed',
    context: { failureCode: 'card_declined', cancellation: answered },
    effects: ['emitPaymentCancelled'],
  },
  {
    name: 'when a payment is cancelled while a refund of everything is pending, then the answer waits for it',
    before: [...charged, request('r1', '4999'), { type: 'REFUND_PENDING', refundId: 'r1', gatewayRefundId: 're_r1' }],
    event: CANCEL,
    value: 'Success',
    context: { cancellation: waiting, refunds: { r1: refund({ amountMinor: '4999', status: 'pending', gatewayRefundId: 're_r1' }) } },
    effects: [],
  },
  {
    name: 'when the refund a cancellation waited on succeeds, then PaymentRefunded goes out for it and PaymentCancelled answers the cancellation',
    before: [...charged, request('r1', '4999'), CANCEL],
    event: succeeded('r1'),
    value: 'Refunded',
    context: { amountRefundedMinor: '4999', cancellation: answered },
    effects: ['emitPaymentRefunded', 'emitPaymentCancelled'],
  },
  {
    name: 'when the refund a cancellation waited on fails, then RefundFailed goes out for it and the cancellation reserves everything instead',
    before: [...charged, request('r1', '4999'), CANCEL],
    event: failed('r1'),
    value: 'Success',
    context: { cancellation: waiting, refunds: { r1: refund({ amountMinor: '4999', status: 'failed', failureCode: 'expired_or_canceled_card', failureReason: 'the card was closed' }), [cancelId]: cancelRefund({ amountMinor: '4999' }) } },
    effects: ['emitRefundFailed'],
  },
  {
    name: 'when a partial refund a cancellation waited on succeeds, then the cancellation reserves the rest',
    before: [...charged, request('r1', '1000'), CANCEL],
    event: succeeded('r1'),
    value: 'PartiallyRefunded',
    context: { amountRefundedMinor: '1000', cancellation: waiting, refunds: { r1: refund({ status: 'succeeded', gatewayRefundId: 're_r1' }), [cancelId]: cancelRefund({ amountMinor: '3999' }) } },
    effects: ['emitPaymentRefunded'],
  },
  {
    name: "when the cancellation's refund fails, then it is owed again under a new attempt, keeps why it failed, and nothing goes out",
    before: [...charged, CANCEL],
    event: failed(cancelId, 're_c1'),
    value: 'Success',
    context: {
      cancellation: waiting,
      refunds: { [cancelId]: cancelRefund({ amountMinor: '4999', attempt: 2, failureCode: 'expired_or_canceled_card', failureReason: 'the card was closed' }) },
    },
    effects: [],
  },
  {
    name: "when the cancellation's refund turns from succeeded to failed, then the money is owed back again under a new attempt",
    before: [...charged, CANCEL, succeeded(cancelId)],
    event: failed(cancelId),
    value: 'Success',
    context: { amountRefundedMinor: '0', cancellation: answered, refunds: { [cancelId]: cancelRefund({ amountMinor: '4999', attempt: 2, failureCode: 'expired_or_canceled_card', failureReason: 'the card was closed' }) } },
    effects: [],
  },
  {
    name: 'when a disputed payment is cancelled, then PaymentCancelled answers: the network holds the disputed funds',
    before: [...charged, DISPUTE_OPENED],
    event: CANCEL,
    value: 'Disputed',
    context: { cancellation: answered, refunds: {} },
    effects: ['emitPaymentCancelled'],
  },
  {
    name: "when the cancellation's refund fails because the charge is now disputed, then PaymentCancelled answers instead of retrying",
    before: [...charged, CANCEL, DISPUTE_OPENED],
    event: { type: 'REFUND_FAILED', refundId: cancelId, code: 'charge_disputed', reason: 'disputed' },
    value: 'Disputed',
    context: { cancellation: answered },
    effects: ['emitPaymentCancelled'],
  },
];

const refunds: Row[] = [
  {
    name: 'when a refund within the charge is requested, then it is owed, and nothing goes out until the gateway answers',
    before: charged,
    event: REFUND_REQUESTED,
    value: 'Success',
    context: { amountRefundedMinor: '0', refunds: { [REFUND_REQUESTED.refundId]: refund({ reason: 'damaged item' }) } },
    effects: [],
  },
  {
    name: 'when a refund of exactly the whole charge is requested, then it fits',
    before: charged,
    event: request('r1', '4999'),
    value: 'Success',
    context: { refunds: { r1: refund({ amountMinor: '4999' }) } },
    effects: [],
  },
  {
    name: 'when a refund one minor unit over the charge is requested, then it is recorded failed with exceeds_refundable and RefundFailed goes out',
    before: charged,
    event: request('r1', '5000'),
    value: 'Success',
    context: { refunds: { r1: refund({ amountMinor: '5000', status: 'failed', attempt: 0, failureCode: 'exceeds_refundable', failureReason: expect.stringContaining('exceeds') }) } },
    effects: ['emitRefundFailed'],
  },
  {
    name: 'when a refund one minor unit over what is left after a pending one is requested, then reserved money counts and it is refused',
    before: [...charged, request('r1', '2000'), { type: 'REFUND_PENDING', refundId: 'r1', gatewayRefundId: 're_r1' }],
    event: request('r2', '3000'),
    value: 'Success',
    context: { refunds: { r1: refund({ amountMinor: '2000', status: 'pending', gatewayRefundId: 're_r1' }), r2: expect.objectContaining({ status: 'failed', failureCode: 'exceeds_refundable' }) } },
    effects: ['emitRefundFailed'],
  },
  {
    name: 'when the second of two refunds takes exactly what is left and succeeds, then the payment is Refunded',
    before: [...charged, request('r1', '2000'), succeeded('r1'), request('r2', '2999')],
    event: succeeded('r2'),
    value: 'Refunded',
    context: { amountRefundedMinor: '4999' },
    effects: ['emitPaymentRefunded'],
  },
  ...['0', '-1', '12.50', '1e3', '', '00100', '100000000'].map<Row>((amountMinor) => ({
    name: `when a refund of "${amountMinor}" is requested, then it is refused as invalid_request`,
    before: charged,
    event: request('r1', amountMinor),
    value: 'Success',
    context: { refunds: { r1: expect.objectContaining({ status: 'failed', failureCode: 'invalid_request' }) } },
    effects: ['emitRefundFailed'],
  })),
  {
    name: 'when a refund is requested for a payment that failed, then it is refused as not_charged',
    before: [START, CHARGE_DECLINED],
    event: REFUND_REQUESTED,
    value: 'Failed',
    context: { refunds: { [REFUND_REQUESTED.refundId]: expect.objectContaining({ status: 'failed', failureCode: 'not_charged' }) } },
    effects: ['emitRefundFailed'],
  },
  {
    name: 'when a refund is requested for a disputed payment, then it is refused as charge_disputed',
    before: [...charged, DISPUTE_OPENED],
    event: REFUND_REQUESTED,
    value: 'Disputed',
    context: { refunds: { [REFUND_REQUESTED.refundId]: expect.objectContaining({ status: 'failed', failureCode: 'charge_disputed' }) } },
    effects: ['emitRefundFailed'],
  },
  {
    name: 'when the gateway holds a refund as pending, then it is recorded with its gateway id and not answered yet',
    before: [...charged, REFUND_REQUESTED],
    event: REFUND_PENDING,
    value: 'Success',
    context: { refunds: { [REFUND_REQUESTED.refundId]: refund({ reason: 'damaged item', status: 'pending', gatewayRefundId: 're_1sim' }) } },
    effects: [],
  },
  {
    name: 'when part of the charge is refunded, then the payment is PartiallyRefunded and PaymentRefunded goes out',
    before: [...charged, REFUND_REQUESTED, REFUND_PENDING],
    event: REFUND_SUCCEEDED,
    value: 'PartiallyRefunded',
    context: { amountRefundedMinor: '1000' },
    effects: ['emitPaymentRefunded'],
  },
  {
    name: 'when a pending refund fails, then RefundFailed goes out with its code and the payment stays as it was',
    before: [...charged, REFUND_REQUESTED, REFUND_PENDING],
    event: REFUND_FAILED,
    value: 'Success',
    context: { amountRefundedMinor: '0', refunds: { [REFUND_REQUESTED.refundId]: refund({ reason: 'damaged item', status: 'failed', gatewayRefundId: 're_1sim', failureCode: 'expired_or_canceled_card', failureReason: 'the card was closed' }) } },
    effects: ['emitRefundFailed'],
  },
  {
    name: 'when the only succeeded refund turns failed, then nothing is refunded any more: Success again, and RefundFailed goes out',
    before: [...charged, REFUND_REQUESTED, REFUND_SUCCEEDED],
    event: REFUND_FAILED,
    value: 'Success',
    context: { amountRefundedMinor: '0' },
    effects: ['emitRefundFailed'],
  },
  {
    name: 'when one of two refunds that made the payment Refunded turns failed, then it is PartiallyRefunded by what is left',
    before: [...charged, request('r1', '4998'), succeeded('r1'), request('r2', '1'), succeeded('r2')],
    event: failed('r2', 're_r2'),
    value: 'PartiallyRefunded',
    context: { amountRefundedMinor: '4998' },
    effects: ['emitRefundFailed'],
  },
  {
    name: 'when a full refund turns failed, then the payment is Success again',
    before: [...charged, request('r1', '4999'), succeeded('r1')],
    event: failed('r1'),
    value: 'Success',
    context: { amountRefundedMinor: '0' },
    effects: ['emitRefundFailed'],
  },
  {
    name: 'when a partially refunded payment is refunded the rest, then it is Refunded',
    before: [...charged, request('r1', '1000'), succeeded('r1'), request('r2', '3999')],
    event: succeeded('r2'),
    value: 'Refunded',
    context: { amountRefundedMinor: '4999' },
    effects: ['emitPaymentRefunded'],
  },
  {
    name: 'when a second partial refund leaves money charged, then the payment stays PartiallyRefunded',
    before: [...charged, request('r1', '1000'), succeeded('r1'), request('r2', '1000')],
    event: succeeded('r2'),
    value: 'PartiallyRefunded',
    context: { amountRefundedMinor: '2000' },
    effects: ['emitPaymentRefunded'],
  },
  {
    name: 'when a refund still pending at a dispute succeeds, then the payment stays Disputed and PaymentRefunded goes out',
    before: [...charged, REFUND_REQUESTED, REFUND_PENDING, DISPUTE_OPENED],
    event: REFUND_SUCCEEDED,
    value: 'Disputed',
    context: { amountRefundedMinor: '1000' },
    effects: ['emitPaymentRefunded'],
  },
  {
    name: 'when a refund still pending at a dispute fails, then the payment stays Disputed and RefundFailed goes out',
    before: [...charged, REFUND_REQUESTED, REFUND_PENDING, DISPUTE_OPENED],
    event: REFUND_FAILED,
    value: 'Disputed',
    context: { amountRefundedMinor: '0' },
    effects: ['emitRefundFailed'],
  },
  {
    name: 'when a payment cancelled during a dispute sees its last pending refund settle, then PaymentCancelled answers',
    before: [...charged, REFUND_REQUESTED, REFUND_PENDING, DISPUTE_OPENED, CANCEL],
    event: REFUND_SUCCEEDED,
    value: 'Disputed',
    context: { amountRefundedMinor: '1000', cancellation: answered },
    effects: ['emitPaymentRefunded', 'emitPaymentCancelled'],
  },
];

const disputes: Row[] = (['Success', 'PartiallyRefunded', 'Refunded'] as const).map((from) => ({
  name: `when a dispute is opened on a ${from} payment, then it is Disputed with the dispute recorded and PaymentDisputed goes out`,
  before: {
    Success: charged,
    PartiallyRefunded: [...charged, REFUND_REQUESTED, REFUND_SUCCEEDED],
    Refunded: [...charged, request('r1', '4999'), succeeded('r1')],
  }[from],
  event: DISPUTE_OPENED,
  value: 'Disputed',
  context: { dispute: { disputeId: 'dp_1sim', amountMinor: '4999', reason: 'fraudulent' } },
  effects: ['emitPaymentDisputed'],
}));

describe.each([
  ['cancellations', cancellations],
  ['refunds', refunds],
  ['disputes', disputes],
])('%s', (_, rows) => {
  for (const { name, before, event, value, context, effects } of rows) {
    it(name, () => {
      const from = reach(before);
      expect(from.can(event)).toBe(true);
      const next = step(from, event);
      expect(next.snapshot.value).toBe(value);
      expect(next.snapshot.context).toMatchObject({ ...sampleInput, ...context });
      expect(next.effects).toEqual(effects);
    });
  }
});

describe('what is absorbed', () => {
  it.each<[string, PaymentEvent[], PaymentEvent]>([
    ['the same refundId again', [...charged, REFUND_REQUESTED], REFUND_REQUESTED],
    ['the same refundId with another amount', [...charged, REFUND_REQUESTED], { ...REFUND_REQUESTED, amountMinor: '2000' }],
    ['the same refundId again after it was refused', [...charged, request('r1', '5000')], request('r1', '5000')],
    ['a refund request with the cancellation refund id', [...charged, CANCEL], request(cancelId, '1')],
    ['a refund request before the charge settled', toProcessing(), REFUND_REQUESTED],
    ['a second cancellation', [...charged, CANCEL], { ...CANCEL, refundId: 'another' }],
    ['a second cancellation of a failed payment', [CANCEL], CANCEL],
    ['a second dispute', [...charged, DISPUTE_OPENED], { ...DISPUTE_OPENED, disputeId: 'dp_2' }],
    ['a success repeated', [...charged, REFUND_REQUESTED, REFUND_SUCCEEDED], REFUND_SUCCEEDED],
    ['a pending after the success (webhooks out of order)', [...charged, REFUND_REQUESTED, REFUND_SUCCEEDED], REFUND_PENDING],
    ['a failure repeated', [...charged, REFUND_REQUESTED, REFUND_FAILED], REFUND_FAILED],
    ['an outcome naming another gateway refund', [...charged, REFUND_REQUESTED, REFUND_PENDING], { ...REFUND_SUCCEEDED, gatewayRefundId: 're_other' }],
    ['an outcome for an unknown refund', charged, succeeded('nobody')],
    ['a void without a cancellation', toProcessing(), CHARGE_VOIDED],
    ['a new handle once cancelled', [START, CANCEL], sampleEvents.ROUTE],
  ])('when %s arrives, then it is not accepted and nothing changes or goes out', (_, before, event) => {
    const from = reach(before);
    expect(from.can(event)).toBe(false);
    const next = step(from, event);
    expect(next.snapshot).toBe(from);
    expect(next.effects).toEqual([]);
  });

  it('when the same refundId comes with another amount after succeeding, then the amount refunded is counted once', () => {
    const from = reach([...charged, REFUND_REQUESTED, REFUND_SUCCEEDED]);
    const after = step(step(from, { ...REFUND_REQUESTED, amountMinor: '3999' }).snapshot, REFUND_SUCCEEDED).snapshot;
    expect(after.context.amountRefundedMinor).toBe('1000');
  });
});

describe('money at the edges of bigint', () => {
  const big = { ...sampleInput, amountMinor: '99999999' };
  it('when the largest charge is refunded in two parts down to the last minor unit, then it is Refunded exactly', () => {
    const snapshot = reach([...charged, request('r1', '99999998'), succeeded('r1'), request('r2', '1'), succeeded('r2')], big);
    expect(snapshot.value).toBe('Refunded');
    expect(snapshot.context.amountRefundedMinor).toBe('99999999');
  });

  it('when the largest charge has one minor unit left and two are asked for, then it is refused', () => {
    const snapshot = reach([...charged, request('r1', '99999998'), succeeded('r1'), request('r2', '2')], big);
    expect(snapshot.value).toBe('PartiallyRefunded');
    expect(snapshot.context.refunds.r2).toMatchObject({ status: 'failed', failureCode: 'exceeds_refundable' });
  });
});

describe('the effects the worker maps to events', () => {
  it('when the machine is read, then every emit action it knows is in PAYMENT_EFFECTS, and nothing else is', () => {
    const emits = Object.keys(paymentMachine.implementations.actions).filter((name) => name.startsWith('emit'));
    expect(emits.sort()).toEqual([...PAYMENT_EFFECTS].sort());
  });
});

describe('a cancellation answered before the order had a payment', () => {
  const alreadyAnswered: PaymentEvent = { ...CANCEL, answered: true } as PaymentEvent;

  it('when it reaches the new payment in Initiated, then the payment fails order_cancelled and only PaymentFailed is named', () => {
    const { snapshot, effects } = step(reach([]), alreadyAnswered);
    expect(snapshot.value).toBe('Failed');
    expect(snapshot.context).toMatchObject({ failureCode: 'order_cancelled', cancellation: answered });
    expect(effects).toEqual(['emitPaymentFailed']);
  });

  it('when it is not marked answered, then the same cancellation names PaymentCancelled too', () => {
    expect(step(reach([]), CANCEL).effects.sort()).toEqual(['emitPaymentCancelled', 'emitPaymentFailed']);
  });
});
