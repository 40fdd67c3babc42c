import { createHash } from 'node:crypto';
import { MoneyError, parseAmount } from '../money.js';
import type { NewRefund, Refund } from '../persistence/compensations.repository.js';
import { withoutGivenValue } from './inventory-payment-data.js';
import type { RefundRequested } from './order-event.schema.js';

export type RefundAmountCheck = { ok: true; amountMinor: bigint } | { ok: false; reason: string };

/**
 * A refund's amount in the payment's currency: exactly its minor-unit digits,
 * positive, at most the contract's maximum (money.ts). The reason names what
 * is expected and never repeats what was given. Whether the payment still has
 * that much to give back is the refund job's question, not this one.
 */
export function checkRefundAmount(amount: string | null, currency: string): RefundAmountCheck {
  try {
    return { ok: true, amountMinor: parseAmount(amount ?? undefined, currency) };
  } catch (err) {
    if (!(err instanceof MoneyError)) throw err;
    if (err.field === 'currency') return { ok: false, reason: `the payment's currency cannot be refunded: ${err.message}` };
    const reason = amount === null ? 'amount is missing: a decimal string such as "49.99" is expected' : withoutGivenValue(err.message, amount);
    return { ok: false, reason };
  }
}

/**
 * The refunds row a RefundRequested asks for. With the order's payment known,
 * the amount is checked against its currency now; without it (the refund came
 * first) amount_minor stays null and the refund job checks it once the
 * payment exists. An amount valid in no currency, or not in the payment's, is
 * recorded with `invalid_request`: its answer is RefundFailed, no gateway call.
 */
export function refundFromEvent(event: RefundRequested, payment: { id: string; currency: string } | undefined): NewRefund {
  const base = {
    id: event.refundId,
    orderId: event.orderId,
    paymentId: payment?.id ?? null,
    amount: event.amount,
    reason: event.reason,
    sourceEventId: event.eventId,
  };
  if (event.amountProblem) return { ...base, amountMinor: null, currency: payment?.currency ?? null, ...invalid(event.amountProblem) };
  if (!payment) return { ...base, amountMinor: null, currency: null };
  const checked = checkRefundAmount(event.amount, payment.currency);
  if (!checked.ok) return { ...base, amountMinor: null, currency: payment.currency, ...invalid(checked.reason) };
  return { ...base, amountMinor: checked.amountMinor, currency: payment.currency };
}

function invalid(reason: string) {
  return { failureCode: 'invalid_request', failureReason: reason };
}

/**
 * What differs between the refund recorded under a refundId and the one this
 * event asks for: empty for a duplicate (absorbed). The order and the amount
 * as written are what the caller's idempotency key stands for; the reason is
 * a note and may differ.
 */
export function refundConflicts(existing: Refund, wanted: NewRefund): string[] {
  const differences: string[] = [];
  if (existing.orderId !== wanted.orderId) differences.push(`order ${existing.orderId} then ${wanted.orderId}`);
  if (existing.amount !== wanted.amount) differences.push(`amount ${shown(existing.amount)} then ${shown(wanted.amount)}`);
  return differences;
}

const shown = (amount: string | null) => (amount === null ? '(missing)' : `"${amount}"`);

/** RFC 4122 namespace of the service's own refund ids (a random UUID, fixed forever: changing it re-keys every cancellation refund). */
const CANCELLATION_NAMESPACE = Buffer.from('5f0c1d2e8a7b4c3d9e6f1a2b3c4d5e6f', 'hex');

/**
 * The refundId of the refund an OrderCancelled makes (CONTRACT.md §8: "the
 * service's own, stable"): a name-based UUID (version 5) of the order id, so
 * every process and every retry derives the same one and its PaymentRefunded
 * always carries it.
 */
export function cancellationRefundId(orderId: string): string {
  return nameBasedUuid(CANCELLATION_NAMESPACE, orderId.toLowerCase());
}

/** An RFC 4122 version 5 UUID of `name` in `namespace`: the same inputs always give the same id. */
export function nameBasedUuid(namespace: Buffer, name: string): string {
  const hash = createHash('sha1').update(namespace).update(name).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
