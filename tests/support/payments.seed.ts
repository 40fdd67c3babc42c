import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { PaymentEvent } from '../../src/machines/payment.machine.js';
import { applyPaymentEvent, createPaymentSnapshot } from '../../src/machines/payment.snapshot.js';
import { formatAmount } from '../../src/money.js';
import type { CompensationsRepository, RefundStatus } from '../../src/persistence/compensations.repository.js';
import type { Payment, PaymentsRepository, TransitionWrite } from '../../src/persistence/payments.repository.js';

/**
 * Payments in every situation the ops pages explain, written through the
 * repository and the machine exactly as the consumer and the worker write them.
 */

/** A payment method token no page may ever show: tests search every body for it. */
export const SECRET_METHOD = 'pm_card_visa_SECRET_4e1f';

export interface SeededPayment {
  orderId: string;
  paymentId: string;
  payment: Payment;
}

async function create(payments: PaymentsRepository, amountMinor: bigint, currency = 'USD'): Promise<SeededPayment> {
  const orderId = randomUUID();
  const paymentId = randomUUID();
  const snapshot = createPaymentSnapshot({ orderId, paymentId, amountMinor: amountMinor.toString(), currency, maxAttempts: 3 });
  const { payment } = await payments.insert({
    id: paymentId,
    orderId,
    amount: formatAmount(amountMinor, currency),
    amountMinor,
    currency,
    customerId: 'cus_ops_test',
    paymentMethod: SECRET_METHOD,
    sourceEventId: randomUUID(),
    snapshot,
  });
  return { orderId, paymentId, payment };
}

/** Moves a seeded payment through the machine as the worker would, one committed transition per event. */
async function step(
  payments: PaymentsRepository,
  p: SeededPayment,
  event: PaymentEvent,
  extra: Partial<Omit<TransitionWrite, 'snapshot' | 'event'>> = {},
) {
  const next = applyPaymentEvent(p.payment.snapshot, event);
  if (!next.changed) throw new Error(`fixture bug: ${event.type} not accepted in ${p.payment.status}`);
  const { transactionId, gateway, failureCode, failureReason } = next.snapshot.context;
  const updated = await payments.commitTransition(p.payment, {
    snapshot: next.snapshot,
    event: event.type,
    transactionId,
    gateway,
    failureCode,
    failureReason,
    ...extra,
  });
  if (!updated) throw new Error('fixture bug: lost a race nobody runs');
  p.payment = updated;
}

function terminalEvent(type: 'PaymentCompleted' | 'PaymentFailed', p: Pick<SeededPayment, 'orderId' | 'paymentId'>) {
  return {
    id: randomUUID(),
    type,
    routingKey: type === 'PaymentCompleted' ? 'payment.completed' : 'payment.failed',
    payload: { orderId: p.orderId, paymentId: p.paymentId },
  };
}

export async function seedSucceeded(payments: PaymentsRepository): Promise<SeededPayment> {
  const p = await create(payments, 4999n);
  await step(payments, p, { type: 'START' }, { detail: { jobId: p.orderId } });
  await step(payments, p, { type: 'CHARGE_SUCCEEDED', transactionId: 'pi_ops_success', gateway: 'stripe' }, {
    detail: { jobId: p.orderId, gatewayCalls: [{ operation: 'charge', outcome: 'succeeded', durationMs: 84 }] },
    transactionId: 'pi_ops_success',
    gateway: 'stripe',
    gatewayResponse: { id: 'pi_ops_success', payment_method: SECRET_METHOD },
    outbox: [terminalEvent('PaymentCompleted', p)],
  });
  return p;
}

export async function seedDeclined(payments: PaymentsRepository): Promise<SeededPayment> {
  const p = await create(payments, 125000n);
  await step(payments, p, { type: 'START' }, { detail: { jobId: p.orderId } });
  // A detail that (wrongly) carries the method: the page must still not show it.
  await payments.note(p.payment, 'GATEWAY_LOOKUP', { paymentMethod: SECRET_METHOD, outcome: 'not_found' });
  await step(payments, p, { type: 'CHARGE_DECLINED', code: 'card_declined', reason: 'Your card was declined.', gateway: 'stripe' }, {
    detail: { jobId: p.orderId, gatewayCalls: [{ operation: 'charge', outcome: 'declined', code: 'card_declined', durationMs: 212 }] },
    gateway: 'stripe',
    failureCode: 'card_declined',
    failureReason: 'Your card was declined.',
    outbox: [terminalEvent('PaymentFailed', p)],
  });
  return p;
}

/** Still Processing after one transient failure: a retry (self-transition) and a note on its history. */
export async function seedRetrying(payments: PaymentsRepository): Promise<SeededPayment> {
  const p = await create(payments, 1500n);
  await step(payments, p, { type: 'START' });
  await step(payments, p, { type: 'CHARGE_FAILED_TRANSIENTLY', code: 'gateway_timeout', reason: 'no answer in 10000 ms' }, {
    detail: { gatewayCalls: [{ operation: 'charge', outcome: 'unknown', code: 'timeout', durationMs: 10004 }] },
  });
  return p;
}

/** Rejected on arrival (invalid data): born Failed, never charged. */
export async function seedRejected(payments: PaymentsRepository): Promise<SeededPayment> {
  const orderId = randomUUID();
  const paymentId = randomUUID();
  const initial = createPaymentSnapshot({ orderId, paymentId, amountMinor: '100', currency: 'USD', maxAttempts: 3 });
  const reason = 'currency "XXY" is not an ISO 4217 code';
  const { snapshot } = applyPaymentEvent(initial, { type: 'REJECT', code: 'invalid_request', reason });
  const { payment } = await payments.insert({
    id: paymentId,
    orderId,
    amount: '1.00',
    amountMinor: 100n,
    currency: 'USD',
    customerId: null,
    paymentMethod: SECRET_METHOD,
    sourceEventId: randomUUID(),
    snapshot,
    failure: { code: 'invalid_request', reason, outbox: terminalEvent('PaymentFailed', { orderId, paymentId }) },
  });
  return { orderId, paymentId, payment };
}

export async function seedInitiated(payments: PaymentsRepository): Promise<SeededPayment> {
  return create(payments, 700n);
}

export interface SeededRefund {
  refundId: string;
  amountMinor: bigint;
}

/**
 * The refund's row as the consumer records it, then moved to `status` as the
 * refund job would (the repository has no such write for tests to call).
 */
async function refundRow(
  knex: Knex,
  compensations: CompensationsRepository,
  p: SeededPayment,
  r: SeededRefund & { status: RefundStatus; gatewayRefundId: string | null; cancel?: boolean },
): Promise<void> {
  await compensations.insertRefund({
    id: r.refundId,
    orderId: p.orderId,
    paymentId: p.paymentId,
    amountMinor: r.amountMinor,
    amount: formatAmount(r.amountMinor, p.payment.currency),
    currency: p.payment.currency,
    reason: r.cancel ? 'customer cancelled' : 'damaged in transit',
    sourceEventId: randomUUID(),
    cancel: r.cancel ?? false,
  });
  await knex('refunds').where({ id: r.refundId }).update({ status: r.status, gateway_refund_id: r.gatewayRefundId, updated_at: knex.fn.now() });
}

/**
 * Charged 49.99 USD, then 12.50 refunded (succeeded) and 5.00 more asked for
 * and still pending at the gateway: PartiallyRefunded, one refund open.
 */
export async function seedPartiallyRefunded(
  payments: PaymentsRepository,
  compensations: CompensationsRepository,
  knex: Knex,
): Promise<SeededPayment & { refunded: SeededRefund; pending: SeededRefund }> {
  const p = await seedSucceeded(payments);
  const refunded = { refundId: randomUUID(), amountMinor: 1250n };
  const pending = { refundId: randomUUID(), amountMinor: 500n };
  await refundRow(knex, compensations, p, { ...refunded, status: 'succeeded', gatewayRefundId: 're_ops_done' });
  await step(payments, p, { type: 'REFUND_REQUESTED', refundId: refunded.refundId, amountMinor: '1250', reason: 'damaged in transit' });
  await step(payments, p, { type: 'REFUND_SUCCEEDED', refundId: refunded.refundId, gatewayRefundId: 're_ops_done' });
  await refundRow(knex, compensations, p, { ...pending, status: 'pending', gatewayRefundId: 're_ops_pending' });
  await step(payments, p, { type: 'REFUND_REQUESTED', refundId: pending.refundId, amountMinor: '500', reason: 'damaged in transit' });
  await step(payments, p, { type: 'REFUND_PENDING', refundId: pending.refundId, gatewayRefundId: 're_ops_pending' });
  return { ...p, refunded, pending };
}

/** Charged, then the order cancelled: everything refunded (the cancellation's own refund), the cancellation answered. */
export async function seedCancelledAfterSuccess(
  payments: PaymentsRepository,
  compensations: CompensationsRepository,
  knex: Knex,
): Promise<SeededPayment & { refund: SeededRefund }> {
  const p = await seedSucceeded(payments);
  const refund = { refundId: randomUUID(), amountMinor: p.payment.amountMinor };
  await compensations.recordCancellation({ orderId: p.orderId, sourceEventId: randomUUID(), reason: 'customer cancelled' });
  await refundRow(knex, compensations, p, { ...refund, status: 'succeeded', gatewayRefundId: 're_ops_cancel', cancel: true });
  await step(payments, p, { type: 'CANCEL', reason: 'customer cancelled', refundId: refund.refundId });
  await step(payments, p, { type: 'REFUND_SUCCEEDED', refundId: refund.refundId, gatewayRefundId: 're_ops_cancel' });
  await knex('order_cancellations').where({ order_id: p.orderId }).update({ answered_at: knex.fn.now() });
  return { ...p, refund };
}

/** Charged, then disputed by the card holder. */
export async function seedDisputed(payments: PaymentsRepository): Promise<SeededPayment & { disputeId: string }> {
  const p = await seedSucceeded(payments);
  const disputeId = 'dp_ops_fraud';
  await step(payments, p, { type: 'DISPUTE_OPENED', disputeId, amountMinor: '4999', reason: 'fraudulent' });
  return { ...p, disputeId };
}

/** What the outbox relay does once the broker confirmed the order's event. */
export async function markPublished(knex: Knex, orderId: string): Promise<void> {
  await knex('outbox').where({ order_id: orderId }).update({ published_at: knex.fn.now(), publish_attempts: 1 });
}
