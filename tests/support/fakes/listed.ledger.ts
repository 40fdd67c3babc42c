import type { GatewayLedger, LedgerCharge, LedgerRefund, LedgerWindow } from '../../../src/gateway/gateway.port.js';

/**
 * A gateway's books for reconciliation, held in memory: lists what it was
 * given inside the window asked for, both ends included, as Stripe's
 * `created[gte]` / `created[lte]` do.
 */
export function listedLedger(charges: readonly LedgerCharge[], refunds: readonly LedgerRefund[] = []): GatewayLedger {
  const inside = (w: LedgerWindow) => (x: { created: number }) => x.created >= w.gte && x.created <= w.lte;
  return {
    async *charges(w) {
      yield* charges.filter(inside(w));
    },
    async *refunds(w) {
      yield* refunds.filter(inside(w));
    },
  };
}

/** A succeeded charge for `orderRef`, created at `at`. */
export function succeededCharge(intentId: string, orderRef: string | null, amountMinor: bigint, at: Date, currency = 'USD'): LedgerCharge {
  return { intentId, orderRef, amountMinor, currency, status: 'succeeded', created: Math.floor(at.getTime() / 1000) };
}
