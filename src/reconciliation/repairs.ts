import type { PaymentEvent } from '../machines/payment.types.js';
import { nameBasedUuid } from '../queues/order-refund-request.js';
import type { Discrepancy } from './reconciliation.repository.js';

/**
 * The safe repairs of CONTRACT.md §9, as machine events: a repair is the
 * gateway's word applied to the payment like a webhook, so the machine decides
 * whether it still applies (a second pass is refused, or finds nothing), and
 * every repair publishes the event its transition names. Pure.
 */

/** RFC 4122 namespaces of the refund ids reconciliation derives (random UUIDs, fixed forever: changing one re-keys the repairs). */
const STRAY_REFUND_NAMESPACE = Buffer.from('8d3b6f0a4c2e4e1b9a7d5c3e1f0b2a49', 'hex');
const FOUND_REFUND_NAMESPACE = Buffer.from('2c7e9a1b5d3f4b6c8e0a2b4d6f8a1c3e', 'hex');

/** The refund of a stray charge: one per charge, whichever pass or process finds it. */
export const strayRefundId = (intentId: string) => nameBasedUuid(STRAY_REFUND_NAMESPACE, intentId);
/** A refund made at the gateway outside the service, as the payment's ledger knows it. */
export const foundRefundId = (gatewayRefundId: string) => nameBasedUuid(FOUND_REFUND_NAMESPACE, gatewayRefundId);

export type Repair = { event: PaymentEvent } | { reportOnly: string };

export function repairOf(d: Discrepancy): Repair {
  switch (d.class) {
    case 'charged_but_unsettled':
      if (!d.intentId || !d.gateway) return { reportOnly: 'no charge id to settle with' };
      return { event: { type: 'CHARGE_SUCCEEDED', transactionId: d.intentId, gateway: d.gateway } };
    case 'charged_but_failed':
    case 'duplicate_charge':
      if (!d.intentId || !d.amountMinor) return { reportOnly: 'no charge to refund' };
      return {
        event: {
          type: 'STRAY_CHARGE_FOUND', refundId: strayRefundId(d.intentId), intentId: d.intentId, amountMinor: d.amountMinor,
          reason: `reconciliation: ${d.class}`, ...(d.gateway ? { gateway: d.gateway } : {}),
        },
      };
    case 'refund_mismatch':
      return refundRepair(d);
    default:
      return { reportOnly: 'no safe repair: an operator decides' };
  }
}

/** Settle from the gateway where the machine allows: its outcome for a refund of ours, or a refund it made that is missing here. */
function refundRepair(d: Discrepancy): Repair {
  const { gatewayStatus, localStatus, localAmountMinor } = d.facts;
  if (!d.gatewayRefundId || !gatewayStatus) return { reportOnly: 'the gateway has no such refund' };
  if (d.refundId && localAmountMinor !== d.amountMinor) return { reportOnly: 'the amounts differ: an operator decides' };
  if (!d.refundId) {
    if (gatewayStatus !== 'succeeded' || !d.amountMinor) return { reportOnly: `a ${gatewayStatus} refund made elsewhere: taken in once it succeeds` };
    return {
      event: { type: 'GATEWAY_REFUND_FOUND', refundId: foundRefundId(d.gatewayRefundId), gatewayRefundId: d.gatewayRefundId, amountMinor: d.amountMinor, reason: 'refund made at the gateway, found by reconciliation' },
    };
  }
  const refundId = d.refundId;
  const gatewayRefundId = d.gatewayRefundId;
  if (gatewayStatus === 'succeeded') return { event: { type: 'REFUND_SUCCEEDED', refundId, gatewayRefundId } };
  if (gatewayStatus === 'failed' || gatewayStatus === 'canceled') {
    return { event: { type: 'REFUND_FAILED', refundId, gatewayRefundId, code: `refund_${gatewayStatus}`, reason: `the gateway reports refund ${gatewayRefundId} ${gatewayStatus} (found by reconciliation)` } };
  }
  if (gatewayStatus === 'pending' && localStatus === 'requested') return { event: { type: 'REFUND_PENDING', refundId, gatewayRefundId } };
  return { reportOnly: `${localStatus ?? 'missing'} here, ${gatewayStatus} at the gateway: an operator decides` };
}
