import type Stripe from 'stripe';
import type { PaymentEvent } from '../machines/payment.types.js';
import { refundOutcome } from './stripe-refunds.js';

/**
 * What a verified Stripe event means for a payment: the machine event to
 * apply and how to find the payment, or why there is nothing to apply. Pure:
 * the ApplyWebhook job reads the stored event, maps it here, and hands the
 * result to the worker's `apply`, which lets the machine decide whether the
 * event still changes anything (a duplicate or a late one is refused there).
 */

/** The service's own order id (set in every intent's and refund's metadata), or the gateway's payment intent id. */
export type PaymentLocator = { orderId: string } | { transactionId: string };

export type WebhookAction = { locate: PaymentLocator; event: PaymentEvent } | { ignore: string };

export interface WebhookMappingContext {
  /** The name of the configured Stripe gateway, recorded with a charge the webhook settles. */
  gateway: string;
}

/** The part of a Stripe event the mapping reads; a stored payload is checked against it, not trusted. */
export interface StripeEventLike {
  type: string;
  data: { object: unknown };
}

type Mapper = (object: Record<string, unknown>, context: WebhookMappingContext) => WebhookAction;

const idOf = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' ? (value as { id: string }).id : undefined;

function metadataOf(object: Record<string, unknown>): Record<string, string> {
  const metadata = object.metadata;
  return typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, string>) : {};
}

function paymentIntentSucceeded(object: Record<string, unknown>, { gateway }: WebhookMappingContext): WebhookAction {
  const intent = object as unknown as Stripe.PaymentIntent;
  const orderId = metadataOf(object).orderId;
  if (!orderId) return { ignore: `payment intent ${intent.id} has no orderId in its metadata: not made by this service` };
  return { locate: { orderId }, event: { type: 'CHARGE_SUCCEEDED', transactionId: intent.id, gateway } };
}

/**
 * A decline is not applied from a webhook. The worker learns it from its own
 * confirm (or the look-up that settles an unknown outcome) and classifies it
 * (error-classification.ts): some failures, `processing_error` for one, are
 * worth another attempt, which CHARGE_DECLINED would end for good. And the
 * machine takes CHARGE_DECLINED from any intent while Processing, so a failure
 * reported for an older handle could fail a payment that is being charged again.
 */
function paymentIntentFailed(object: Record<string, unknown>): WebhookAction {
  return { ignore: `payment intent ${idOf(object.id) ?? '?'} failed: the worker settles a decline from its own confirm or look-up` };
}

/** `refund.updated` and `refund.failed`: the refund's status says which outcome, as the adapter's own look-up reads it. */
function refundChanged(object: Record<string, unknown>): WebhookAction {
  const refund = object as unknown as Stripe.Refund;
  const metadata = metadataOf(object);
  const refundId = metadata.refundId;
  if (!refundId) return { ignore: `refund ${refund.id} has no refundId in its metadata: not made by this service` };
  const intentId = idOf(refund.payment_intent);
  const locate: PaymentLocator | undefined = metadata.orderId ? { orderId: metadata.orderId } : intentId ? { transactionId: intentId } : undefined;
  if (!locate) return { ignore: `refund ${refund.id} names neither an order nor a payment intent` };
  const outcome = refundOutcome(refund);
  const gatewayRefundId = refund.id;
  switch (outcome.status) {
    case 'succeeded':
      return { locate, event: { type: 'REFUND_SUCCEEDED', refundId, gatewayRefundId } };
    case 'failed':
      return { locate, event: { type: 'REFUND_FAILED', refundId, gatewayRefundId, code: outcome.code, reason: outcome.reason } };
    default:
      return { locate, event: { type: 'REFUND_PENDING', refundId, gatewayRefundId } };
  }
}

/**
 * Ignored as redundant. Every refund it reports has its own news elsewhere:
 * the refund job reads the outcome from Stripe's answer to its create (or its
 * look-up), and each later change comes as `refund.updated` / `refund.failed`.
 * Since API version 2022-11-15 Stripe no longer lists a charge's refunds in
 * this event, so mapping them would work against the simulator only.
 */
function chargeRefunded(object: Record<string, unknown>): WebhookAction {
  return { ignore: `charge ${idOf(object.id) ?? '?'} refunded: each refund is settled by its own answer, refund.updated or refund.failed` };
}

function disputeCreated(object: Record<string, unknown>): WebhookAction {
  const dispute = object as unknown as Stripe.Dispute;
  const intentId = idOf(dispute.payment_intent);
  if (!intentId) return { ignore: `dispute ${dispute.id} names no payment intent: not a charge of this service` };
  if (!Number.isSafeInteger(dispute.amount) || dispute.amount <= 0) return { ignore: `dispute ${dispute.id} has no positive whole amount` };
  return {
    locate: { transactionId: intentId },
    event: { type: 'DISPUTE_OPENED', disputeId: dispute.id, amountMinor: String(dispute.amount), reason: dispute.reason },
  };
}

const MAPPERS: Readonly<Record<string, Mapper>> = {
  'payment_intent.succeeded': paymentIntentSucceeded,
  'payment_intent.payment_failed': paymentIntentFailed,
  'refund.updated': refundChanged,
  'refund.failed': refundChanged,
  'charge.refunded': chargeRefunded,
  'charge.dispute.created': disputeCreated,
};

export function webhookAction(event: StripeEventLike, context: WebhookMappingContext): WebhookAction {
  const mapper = Object.hasOwn(MAPPERS, event.type) ? MAPPERS[event.type] : undefined;
  if (!mapper) return { ignore: `${event.type} is not an event this service acts on` };
  const object = event.data?.object;
  if (typeof object !== 'object' || object === null || typeof (object as { id?: unknown }).id !== 'string') {
    return { ignore: `${event.type} carries no object with an id` };
  }
  return mapper(object as Record<string, unknown>, context);
}
