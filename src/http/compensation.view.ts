import type { PaymentContext } from '../machines/payment.types.js';
import type { OrderCancellation, Refund } from '../persistence/compensations.repository.js';
import { formatAmount } from '../money.js';

/**
 * What has been given back of a payment (CONTRACT.md §6, §8): its refunds,
 * the total refunded, the order's cancellation and any dispute. Money leaves
 * here as decimal strings with the currency's digits and as minor units in a
 * string, never as a JSON number (a float).
 */

export interface RefundView {
  /** The order service's refundId, or the service's own for a cancellation. */
  id: string;
  /** Null when the request carried no amount valid in the payment's currency (its failure says why). */
  amount: string | null;
  amountMinor: string | null;
  currency: string | null;
  status: Refund['status'];
  reason: string | null;
  /** Made by an OrderCancelled (everything not yet refunded), not asked for by a RefundRequested. */
  cancel: boolean;
  gatewayRefundId: string | null;
  failureCode: string | null;
  failureReason: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface CancellationView {
  reason: string | null;
  receivedAt: string;
  /** When its PaymentCancelled or PaymentRefunded was written; null while it is still to be answered. */
  answeredAt: string | null;
  /** The id of the refund the cancellation owes, if the payment has accepted it. */
  refundId: string | null;
}

export interface DisputeView {
  disputeId: string;
  amount: string;
  amountMinor: string;
  currency: string;
  reason: string;
}

export interface CompensationView {
  /** Sum of the succeeded refunds, e.g. "12.50". */
  amountRefunded: string;
  amountRefundedMinor: string;
  refunds: RefundView[];
  cancellation: CancellationView | null;
  dispute: DisputeView | null;
}

const MINOR = /^(0|[1-9][0-9]*)$/;

/** From minor units, so the string has the currency's digits; the amount as written when the currency is unknown. */
function money(minor: bigint, currency: string | null, asWritten: string | null = null): string | null {
  if (currency === null) return asWritten;
  try {
    return formatAmount(minor, currency);
  } catch {
    return asWritten;
  }
}

export function refundView(r: Refund): RefundView {
  return {
    id: r.id,
    amount: r.amountMinor === null ? r.amount : money(r.amountMinor, r.currency, r.amount),
    amountMinor: r.amountMinor === null ? null : r.amountMinor.toString(),
    currency: r.currency,
    status: r.status,
    reason: r.reason,
    cancel: r.cancel,
    gatewayRefundId: r.gatewayRefundId,
    failureCode: r.failureCode,
    failureReason: r.failureReason,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

/**
 * The machine's ledger is the authority on what was refunded (the payment's
 * status follows it); a snapshot written before version 4 has none, so the
 * succeeded rows are summed instead.
 */
function refundedMinor(context: Partial<PaymentContext> | undefined, refunds: Refund[]): bigint {
  const fromLedger = context?.amountRefundedMinor;
  if (typeof fromLedger === 'string' && MINOR.test(fromLedger)) return BigInt(fromLedger);
  return refunds.reduce((sum, r) => (r.status === 'succeeded' && r.amountMinor !== null ? sum + r.amountMinor : sum), 0n);
}

function disputeView(context: Partial<PaymentContext> | undefined, currency: string): DisputeView | null {
  const d = context?.dispute;
  if (!d || typeof d.amountMinor !== 'string' || !MINOR.test(d.amountMinor)) return null;
  return {
    disputeId: d.disputeId,
    amount: money(BigInt(d.amountMinor), currency) ?? d.amountMinor,
    amountMinor: d.amountMinor,
    currency,
    reason: d.reason,
  };
}

export function compensationView(
  payment: { currency: string; snapshot: { context?: Partial<PaymentContext> } | null },
  refunds: Refund[],
  cancellation: OrderCancellation | null,
): CompensationView {
  const context = payment.snapshot?.context;
  const refunded = refundedMinor(context, refunds);
  return {
    amountRefunded: money(refunded, payment.currency) ?? refunded.toString(),
    amountRefundedMinor: refunded.toString(),
    refunds: refunds.map(refundView),
    cancellation: cancellation
      ? {
          reason: cancellation.reason,
          receivedAt: cancellation.receivedAt.toISOString(),
          answeredAt: cancellation.answeredAt ? cancellation.answeredAt.toISOString() : null,
          refundId: context?.cancellation?.refundId ?? null,
        }
      : null,
    dispute: disputeView(context, payment.currency),
  };
}

/** Something is still owed an answer: a refund in flight, or a cancellation not yet answered. */
export function compensationOpen(v: CompensationView): boolean {
  return v.refunds.some((r) => r.status === 'requested' || r.status === 'pending') || (v.cancellation !== null && v.cancellation.answeredAt === null);
}
