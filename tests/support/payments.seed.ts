import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { PaymentEvent } from '../../src/machines/payment.machine.js';
import { applyPaymentEvent, createPaymentSnapshot } from '../../src/machines/payment.snapshot.js';
import { formatAmount } from '../../src/money.js';
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

/** What the outbox relay does once the broker confirmed the order's event. */
export async function markPublished(knex: Knex, orderId: string): Promise<void> {
  await knex('outbox').where({ order_id: orderId }).update({ published_at: knex.fn.now(), publish_attempts: 1 });
}
