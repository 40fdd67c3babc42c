import { randomUUID } from 'node:crypto';
import { applyPaymentEvent, createPaymentSnapshot } from '../machines/payment.snapshot.js';
import type { NewPayment, Payment } from '../persistence/payments.repository.js';
import type { InvalidPayment, InventoryReserved } from './inventory-event.schema.js';
import { paymentFailed } from './payment-events.js';

/** The payments row an InventoryReserved event asks for, born Initiated. */
export function paymentFromEvent(event: InventoryReserved, maxAttempts: number): NewPayment {
  const paymentId = randomUUID();
  return {
    id: paymentId,
    orderId: event.orderId,
    amount: event.amount,
    amountMinor: event.amountMinor,
    currency: event.currency,
    customerId: event.customerId,
    paymentMethod: event.paymentMethod,
    sourceEventId: event.eventId,
    snapshot: createPaymentSnapshot({
      orderId: event.orderId,
      paymentId,
      amountMinor: event.amountMinor.toString(),
      currency: event.currency,
      maxAttempts,
    }),
    detail: traceDetail(event.traceHeaders),
  };
}

/**
 * ISO 4217's code for "no currency": what a Failed row holds when the event's
 * currency was not a currency at all.
 */
export const NO_CURRENCY = 'XXX';

/**
 * The row for an order whose payment data is invalid: born Failed, with its
 * PaymentFailed(invalid_request) event written in the same transaction.
 * Only the valid parts of the data are stored; an invalid amount is stored as
 * 0 (no amount), never guessed, and what was given stays in the history row.
 */
export function rejectedPayment(invalid: InvalidPayment, maxAttempts: number): NewPayment {
  const paymentId = randomUUID();
  const { orderId, reason, usable } = invalid;
  const amountMinor = usable.amountMinor ?? 0n;
  const currency = usable.currency ?? NO_CURRENCY;
  const initiated = createPaymentSnapshot({ orderId, paymentId, amountMinor: amountMinor.toString(), currency, maxAttempts });
  const failed = applyPaymentEvent(initiated, { type: 'REJECT', code: 'invalid_request', reason });
  return {
    id: paymentId,
    orderId,
    amount: usable.amount ?? '0',
    amountMinor,
    currency,
    customerId: usable.customerId,
    paymentMethod: usable.paymentMethod,
    sourceEventId: invalid.eventId,
    snapshot: failed.snapshot,
    detail: { invalidField: invalid.field, given: invalid.given, ...traceDetail(invalid.traceHeaders) },
    failure: {
      code: 'invalid_request',
      reason,
      outbox: paymentFailed({ orderId, paymentId, reason, code: 'invalid_request' }),
    },
  };
}

function traceDetail(traceHeaders: Record<string, string>): Record<string, unknown> {
  return Object.keys(traceHeaders).length ? { trace: traceHeaders } : {};
}

/**
 * What differs between the payment an order already has and the one this
 * event asks for (amount, currency, payment method): empty for a duplicate.
 * The payment method is only said to differ, never shown.
 */
export function conflictsWith(existing: Payment, wanted: NewPayment): string[] {
  const differences: string[] = [];
  if (existing.amountMinor !== wanted.amountMinor || existing.currency !== wanted.currency) {
    differences.push(`amount ${existing.amount} ${existing.currency} then ${wanted.amount} ${wanted.currency}`);
  }
  if (existing.paymentMethod !== wanted.paymentMethod) differences.push('another payment method');
  return differences;
}
