import type { Cancellation, Dispute, Refund, RefundOutcomeEvent } from './payment.refunds.js';

export interface PaymentInput {
  orderId: string;
  paymentId: string;
  /** Minor units as a decimal integer string: bigint is not JSON, a float is not money. */
  amountMinor: string;
  currency: string;
  /** How many gateway attempts must fail transiently before the payment may give up. */
  maxAttempts: number;
}

/**
 * What we know about a gateway for this payment. `maybe_charged`: a charge was
 * sent there (or may have been) and no look-up has settled it, so the payment
 * must not move to another gateway. `not_charged`: settled, it is safe to move on.
 */
export type GatewayKnowledge = 'maybe_charged' | 'not_charged';

export interface PaymentContext extends PaymentInput {
  /** Gateway charges asked for (counted on each entry to Processing). */
  attempts: number;
  /** Of those, how many ended in a transient error. */
  failures: number;
  transactionId: string | null;
  gateway: string | null;
  failureCode: string | null;
  failureReason: string | null;
  lastError: string | null;
  /**
   * Since version 2. A gateway is recorded `maybe_charged` with its handle
   * (ROUTE), and `not_charged` once that handle is cancelled. A missing entry
   * means nothing was ever confirmed there, except for `legacyCharge` payments.
   */
  gateways: Record<string, GatewayKnowledge>;
  /**
   * Since version 3. The gateway's handle (payment intent id) of the charge
   * prepared there, committed before it is confirmed: an unknown outcome is
   * settled by reading or cancelling it, never by search.
   */
  intents: Record<string, string>;
  /** Since version 3. Handles recorded so far: numbers the next prepare's idempotency key. */
  intentSeq: number;
  /**
   * Since version 3. Migrated from an older version while Processing: a charge
   * may have gone to the primary before handles were recorded. Only search can
   * find it, and search lags, so such a payment is never failed on a miss.
   */
  legacyCharge: boolean;
  /** Since version 4. Every refund by its id (the order service's refundId, or the cancellation's own). */
  refunds: Record<string, Refund>;
  /** Since version 4. Sum of succeeded refunds, minor units. */
  amountRefundedMinor: string;
  /** Since version 4. The accepted OrderCancelled, if any. */
  cancellation: Cancellation | null;
  /** Since version 4. The charge's dispute, once one is opened. */
  dispute: Dispute | null;
}

export type PaymentEvent =
  /**
   * The worker picked the payment up: a charge is owed from now on. It usually
   * carries the handle of the charge prepared at `gateway` (recorded as ROUTE does),
   * so the first handle costs no commit of its own.
   */
  | { type: 'START'; gateway?: string; intentId?: string; cleared?: string[] }
  /** The payment data is invalid (amount, currency, method), or risk screening blocked it: fail without charging. */
  | { type: 'REJECT'; code: 'invalid_request' | 'risk_blocked'; reason: string }
  | { type: 'CHARGE_SUCCEEDED'; transactionId: string; gateway: string }
  /** A definite, permanent refusal: declined card, invalid request. Never retried. */
  | { type: 'CHARGE_DECLINED'; code: string; reason: string; gateway?: string }
  /** Transient error, or unknown outcome settled as "not charged": try again later. `cleared` gateways certainly did not charge. */
  | { type: 'CHARGE_FAILED_TRANSIENTLY'; code: string; reason: string; cleared?: string[] }
  /** The charge prepared at `gateway` has handle `intentId`: recorded before it is confirmed. */
  | { type: 'ROUTE'; gateway: string; intentId: string; cleared?: string[] }
  /** Attempts are spent and a last look-up found no charge. */
  | { type: 'GIVE_UP'; reason: string }
  /**
   * OrderCancelled. `refundId` is the service's own stable id for the refund the
   * cancellation may owe (the worker derives it from the payment).
   */
  | {
      type: 'CANCEL';
      reason: string;
      refundId: string;
      /** Already answered PaymentCancelled (the order was cancelled before it had a payment): the machine answers nothing more. */
      answered?: boolean;
    }
  /** Cancelled while Processing: every handle that could charge was cancelled and none had charged. */
  | { type: 'CHARGE_VOIDED'; cleared?: string[] }
  /** RefundRequested, with the order service's refundId (its idempotency key). */
  | { type: 'REFUND_REQUESTED'; refundId: string; amountMinor: string; reason: string }
  | RefundOutcomeEvent
  | { type: 'DISPUTE_OPENED'; disputeId: string; amountMinor: string; reason: string }
  /**
   * Reconciliation found a succeeded charge for this order at the gateway that is
   * not the payment's own (a duplicate, or a charge of a payment that failed):
   * refund all of it, as refund `refundId` (derived from `intentId`, so stable).
   */
  | { type: 'STRAY_CHARGE_FOUND'; refundId: string; intentId: string; amountMinor: string; reason: string; gateway?: string }
  /**
   * Reconciliation found a succeeded refund of the payment's own charge that was
   * made outside the service (a dashboard, say): it is taken into the ledger as
   * refund `refundId` (derived from `gatewayRefundId`), and the saga is told.
   */
  | { type: 'GATEWAY_REFUND_FOUND'; refundId: string; gatewayRefundId: string; amountMinor: string; reason: string };

/** The statuses the payments table stores: one per top-level state. */
export type PaymentStatus = 'Initiated' | 'Processing' | 'Success' | 'PartiallyRefunded' | 'Refunded' | 'Disputed' | 'Failed';
export const PAYMENT_STATUSES: readonly PaymentStatus[] = [
  'Initiated',
  'Processing',
  'Success',
  'PartiallyRefunded',
  'Refunded',
  'Disputed',
  'Failed',
];

/**
 * The charge is settled: the payment's one terminal event (PaymentCompleted or
 * PaymentFailed) has been emitted and nothing will be charged. No state is final
 * any more, as refunds, cancellations and disputes still arrive after it.
 */
export const CHARGE_SETTLED_STATUSES: readonly PaymentStatus[] = ['Success', 'PartiallyRefunded', 'Refunded', 'Disputed', 'Failed'];

export function isChargeSettled(status: PaymentStatus): boolean {
  return CHARGE_SETTLED_STATUSES.includes(status);
}

/**
 * Every effect the machine names, each an outgoing event the worker writes to the
 * outbox with the transition that named it. Which refund `emitPaymentRefunded` and
 * `emitRefundFailed` are about is the refundId of the event applied.
 */
export const PAYMENT_EFFECTS = [
  'emitPaymentCompleted',
  'emitPaymentFailed',
  'emitPaymentCancelled',
  'emitPaymentRefunded',
  'emitRefundFailed',
  'emitPaymentDisputed',
] as const;
export type PaymentEffect = (typeof PAYMENT_EFFECTS)[number];
