import type { ChargedStatus, RefundOutcomeEvent } from './payment.refunds.js';
import type { PaymentContext, PaymentEvent } from './payment.types.js';

/** What the machine's actions and guards read from an event: small pure helpers, kept apart so the machine file is its chart. */

/** What an event says about gateways: those now certainly not charged, and a handle just prepared. */
export function routeOf(event: PaymentEvent): { cleared: string[]; handle?: { gateway: string; intentId: string } } | undefined {
  if (event.type === 'CHARGE_VOIDED' || event.type === 'CHARGE_FAILED_TRANSIENTLY') return { cleared: event.cleared ?? [] };
  if (event.type !== 'ROUTE' && event.type !== 'START') return undefined;
  const handle = event.gateway && event.intentId ? { gateway: event.gateway, intentId: event.intentId } : undefined;
  return { cleared: event.cleared ?? [], ...(handle ? { handle } : {}) };
}

export const isRefundOutcome = (e: PaymentEvent): e is RefundOutcomeEvent =>
  e.type === 'REFUND_PENDING' || e.type === 'REFUND_SUCCEEDED' || e.type === 'REFUND_FAILED';

/** A refund outcome's guard: it applies, leaves the payment `to` (when given) and is about a cancellation refund or not (when given). */
export interface Settles {
  to?: ChargedStatus;
  cancel?: boolean;
}

/** The failure a cancelled payment records: the decline or give-up that ended it, else the cancellation. */
export function failureOf(context: PaymentContext, event: PaymentEvent): { code: string; reason: string } | null {
  if (event.type === 'REJECT' || event.type === 'CHARGE_DECLINED') return { code: event.code, reason: event.reason };
  if (event.type === 'GIVE_UP') return { code: 'gateway_unavailable', reason: event.reason };
  if (event.type === 'CANCEL') return { code: 'order_cancelled', reason: event.reason };
  if (event.type === 'CHARGE_VOIDED') return { code: 'order_cancelled', reason: context.cancellation?.reason ?? 'order cancelled' };
  return null;
}

export type RefusalCode = 'invalid_request' | 'exceeds_refundable' | 'not_charged' | 'charge_disputed';

/** The RefundFailed reason for a refund refused before it reached the gateway: what went wrong, in words. */
export const REFUSAL_REASONS: Record<RefusalCode, (amountMinor: string, chargedMinor: string) => string> = {
  invalid_request: (amount) => `amount "${amount}" is not a whole number of minor units between 1 and 99999999`,
  exceeds_refundable: (amount, charged) => `refund of ${amount} exceeds the ${charged} charged less what is refunded or reserved`,
  not_charged: () => 'the payment was never charged: there is nothing to refund',
  charge_disputed: () => 'the charge is disputed: the gateway refuses to refund it while the dispute is open',
};
