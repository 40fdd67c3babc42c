/**
 * The money side of a charged payment: its refunds, the cancellation that may
 * owe one, and what every refund outcome does to the amount refunded. Plain
 * functions over the machine's context, so the machine's guards and actions
 * share one arithmetic. Amounts are decimal integer strings in the context
 * (bigint is not JSON) and bigint here: never a float.
 */

export type RefundStatus = 'requested' | 'pending' | 'succeeded' | 'failed';

export interface Refund {
  /** Minor units, a positive decimal integer string. */
  amountMinor: string;
  /**
   * `requested`: owed, the worker must send it; `pending`: the gateway took it and
   * has not settled it; `succeeded`: the money went back; `failed`: it did not, and
   * (unless a cancellation re-arms it) never will.
   */
  status: RefundStatus;
  /** Why it was asked for (the RefundRequested reason, or the cancellation's). */
  reason: string;
  /** The service's own refund for a cancellation, not one the order service asked for. */
  cancel: boolean;
  /**
   * Gateway attempts sent for it, counting this one: a cancellation refund that
   * failed is sent again under a new idempotency key (`<refundId>-<attempt>`), as
   * Stripe answers a repeated key with the same failed refund.
   */
  attempt: number;
  gatewayRefundId: string | null;
  /** The last failure, kept when a cancellation refund is re-armed so an operator sees why. */
  failureCode: string | null;
  failureReason: string | null;
  /**
   * Since version 5. Set when this refund returns a charge that is not the
   * payment's own (a duplicate, or a charge made for a payment that failed),
   * which reconciliation found at the gateway: the charge it returns. Such a
   * "stray" refund never counts against what the payment's own charge has left
   * to refund, nor in `amountRefundedMinor`.
   */
  intentId?: string;
  /** Since version 5. The gateway holding a stray charge, when not the payment's own (a payment that failed before any charge has none). */
  gateway?: string;
}

/** An OrderCancelled the payment accepted. Answered exactly once, and `answered` is what guarantees it. */
export interface Cancellation {
  /** The service's own stable id for the refund this cancellation may owe. */
  refundId: string;
  reason: string;
  /** PaymentFailed+PaymentCancelled, PaymentCancelled or the cancellation refund's PaymentRefunded has been emitted. */
  answered: boolean;
}

export interface Dispute {
  disputeId: string;
  amountMinor: string;
  reason: string;
}

/** The part of the payment's context this module reads and writes. */
export interface RefundLedger {
  amountMinor: string;
  refunds: Record<string, Refund>;
  /** Sum of succeeded refunds only. */
  amountRefundedMinor: string;
  cancellation: Cancellation | null;
  dispute: Dispute | null;
}

/** A refund of another charge than the payment's own (see `Refund.intentId`). */
export const isStray = (r: Refund): boolean => r.intentId !== undefined;

export type RefundOutcomeEvent =
  | { type: 'REFUND_PENDING'; refundId: string; gatewayRefundId: string }
  | { type: 'REFUND_SUCCEEDED'; refundId: string; gatewayRefundId: string }
  | { type: 'REFUND_FAILED'; refundId: string; code: string; reason: string; gatewayRefundId?: string };

export type ChargedStatus = 'Success' | 'PartiallyRefunded' | 'Refunded';

/** A positive amount of minor units, as the contract bounds it (at most 99999999). */
const MINOR_AMOUNT = /^[1-9][0-9]{0,7}$/;

const IN_FLIGHT: ReadonlySet<RefundStatus> = new Set(['requested', 'pending']);

function total(refunds: Record<string, Refund>, counts: (r: Refund) => boolean): bigint {
  let sum = 0n;
  for (const r of Object.values(refunds)) if (counts(r)) sum += BigInt(r.amountMinor);
  return sum;
}

/** What a new refund may still take: charged − succeeded − requested − pending. */
export function refundableMinor(l: RefundLedger): bigint {
  return BigInt(l.amountMinor) - total(l.refunds, (r) => !isStray(r) && (r.status === 'succeeded' || IN_FLIGHT.has(r.status)));
}

/** Refund ids the worker must send to the gateway. */
export function refundsOwed(l: RefundLedger): string[] {
  return Object.keys(l.refunds).filter((id) => l.refunds[id]!.status === 'requested');
}

/** Refund ids the gateway holds as pending: answered only once they settle. */
export function refundsUnsettled(l: RefundLedger): string[] {
  return Object.keys(l.refunds).filter((id) => l.refunds[id]!.status === 'pending');
}

export function isKnownRefund(l: RefundLedger, refundId: string): boolean {
  return refundId in l.refunds || l.cancellation?.refundId === refundId;
}

/** Why a new refund of `amountMinor` cannot be reserved, or null when it fits. */
export function refundRefusal(l: RefundLedger, amountMinor: string): 'invalid_request' | 'exceeds_refundable' | null {
  if (!MINOR_AMOUNT.test(amountMinor)) return 'invalid_request';
  return BigInt(amountMinor) > refundableMinor(l) ? 'exceeds_refundable' : null;
}

/** The status a charged payment has for the amount refunded so far. */
export function statusByRefunded(l: Pick<RefundLedger, 'amountMinor' | 'amountRefundedMinor'>): ChargedStatus {
  const refunded = BigInt(l.amountRefundedMinor);
  if (refunded === 0n) return 'Success';
  return refunded === BigInt(l.amountMinor) ? 'Refunded' : 'PartiallyRefunded';
}

/** Whether a gateway outcome applies to the refund as it stands; anything else (late, repeated, another attempt's) is refused. */
export function acceptsOutcome(l: RefundLedger, e: RefundOutcomeEvent): boolean {
  const r = l.refunds[e.refundId];
  if (!r) return false;
  // A refund already known under one gateway id is settled only by news about that id.
  if (r.gatewayRefundId && e.gatewayRefundId && e.gatewayRefundId !== r.gatewayRefundId) return false;
  if (e.type === 'REFUND_PENDING') return r.status === 'requested';
  if (e.type === 'REFUND_SUCCEEDED') return IN_FLIGHT.has(r.status);
  // Stripe documents that a succeeded refund can still fail later.
  return r.status !== 'failed';
}

/** The ledger after a gateway outcome `acceptsOutcome` allowed. */
export function applyOutcome(l: RefundLedger, e: RefundOutcomeEvent): Pick<RefundLedger, 'refunds' | 'amountRefundedMinor' | 'cancellation'> {
  const before = l.refunds[e.refundId]!;
  const gatewayRefundId = e.gatewayRefundId ?? before.gatewayRefundId;
  const after: Refund =
    e.type === 'REFUND_PENDING' ? { ...before, status: 'pending', gatewayRefundId }
    : e.type === 'REFUND_SUCCEEDED' ? { ...before, status: 'succeeded', gatewayRefundId }
    : { ...before, status: 'failed', gatewayRefundId, failureCode: e.code, failureReason: e.reason };
  const refunds = { ...l.refunds, [e.refundId]: after };
  const amountRefundedMinor = succeededOwn(refunds);
  // The cancellation refund's PaymentRefunded is the cancellation's answer (CONTRACT §8).
  const answers = after.cancel && after.status === 'succeeded' && l.cancellation && !l.cancellation.answered;
  const cancellation = answers ? { ...l.cancellation!, answered: true } : l.cancellation;
  return { refunds, amountRefundedMinor, cancellation };
}

/** The sum of succeeded refunds of the payment's own charge, as the context stores it. */
const succeededOwn = (refunds: Record<string, Refund>): string => total(refunds, (r) => !isStray(r) && r.status === 'succeeded').toString();

/** Whether `refundId` or the gateway refund `gatewayRefundId` is already known to the payment. */
function knownAnyway(l: RefundLedger, refundId: string, gatewayRefundId?: string): boolean {
  return isKnownRefund(l, refundId) || (gatewayRefundId !== undefined && Object.values(l.refunds).some((r) => r.gatewayRefundId === gatewayRefundId));
}

/**
 * Whether reconciliation's stray charge `intentId` may be refunded: a valid
 * amount, not the payment's own charge, and no refund of it asked for yet
 * (one that failed is reported again by the next pass, not re-sent on a guess).
 */
export function strayChargeRefusal(l: RefundLedger & { transactionId: string | null }, e: { refundId: string; intentId: string; amountMinor: string }): string | null {
  if (!MINOR_AMOUNT.test(e.amountMinor)) return 'invalid_amount';
  if (e.intentId === l.transactionId) return 'own_charge';
  if (isKnownRefund(l, e.refundId) || Object.values(l.refunds).some((r) => r.intentId === e.intentId)) return 'known';
  return null;
}

/** The refunds with reconciliation's stray charge reserved for a refund of all of it. */
export function reserveStray(l: RefundLedger, e: { refundId: string; intentId: string; amountMinor: string; reason: string; gateway?: string }): Record<string, Refund> {
  const refund: Refund = {
    amountMinor: e.amountMinor, status: 'requested', reason: e.reason, cancel: false, attempt: 1,
    gatewayRefundId: null, failureCode: null, failureReason: null, intentId: e.intentId, ...(e.gateway ? { gateway: e.gateway } : {}),
  };
  return { ...l.refunds, [e.refundId]: refund };
}

/** Whether a succeeded refund of the payment's own charge, made outside the service, can be taken into the ledger. */
export function foundRefundFits(l: RefundLedger, e: { refundId: string; gatewayRefundId: string; amountMinor: string }): boolean {
  return !knownAnyway(l, e.refundId, e.gatewayRefundId) && refundRefusal(l, e.amountMinor) === null;
}

/** The ledger with a refund found at the gateway (already succeeded) taken in. */
export function adoptFound(l: RefundLedger, e: { refundId: string; gatewayRefundId: string; amountMinor: string; reason: string }): Pick<RefundLedger, 'refunds' | 'amountRefundedMinor'> {
  const refund: Refund = {
    amountMinor: e.amountMinor, status: 'succeeded', reason: e.reason, cancel: false, attempt: 0,
    gatewayRefundId: e.gatewayRefundId, failureCode: null, failureReason: null,
  };
  const refunds = { ...l.refunds, [e.refundId]: refund };
  return { refunds, amountRefundedMinor: succeededOwn(refunds) };
}

/**
 * What an accepted cancellation still needs, decided when no refund is in flight
 * (until then a refund in flight may fail and free money again):
 * - `arm`: money is held, so the cancellation refund is (re)armed for all of it;
 * - `answer`: nothing is held, or a dispute holds it (the card network took the
 *   disputed funds and the gateway refuses refunds of a disputed charge), so
 *   PaymentCancelled answers it;
 * - null: nothing to do now.
 * A cancellation refund that failed is re-armed rather than answered RefundFailed:
 * RefundFailed is no answer to OrderCancelled, and the customer must not stay charged.
 */
export function cancellationStep(l: RefundLedger): 'arm' | 'answer' | null {
  const c = l.cancellation;
  if (!c || Object.values(l.refunds).some((r) => IN_FLIGHT.has(r.status))) return null;
  const held = refundableMinor(l) > 0n;
  const own = l.refunds[c.refundId];
  // A succeeded cancellation refund cannot be reused: money freed later by another refund failing was answered RefundFailed.
  if (held && !l.dispute && own?.status !== 'succeeded') return 'arm';
  return c.answered ? null : 'answer';
}

/** The refunds with the cancellation refund (re)armed for everything still held. */
export function armCancellationRefund(l: RefundLedger): Record<string, Refund> {
  const c = l.cancellation!;
  const previous = l.refunds[c.refundId];
  const refund: Refund = {
    amountMinor: refundableMinor(l).toString(),
    status: 'requested',
    reason: c.reason,
    cancel: true,
    attempt: (previous?.attempt ?? 0) + 1,
    gatewayRefundId: null,
    failureCode: previous?.failureCode ?? null,
    failureReason: previous?.failureReason ?? null,
  };
  return { ...l.refunds, [c.refundId]: refund };
}
