/**
 * The gateway port: what the worker needs from a card gateway. Adapters
 * (Stripe, mock) implement it; only adapters turn raw errors into the typed
 * errors of `gateway.errors.ts`.
 *
 * A charge is two calls, as Stripe's PaymentIntents are: `prepare` creates it
 * unconfirmed (no money moves) and returns its handle, which the worker
 * commits; only then `charge` confirms it. Whatever happens afterwards, the
 * outcome is settled by reading that handle (`lookup`), which the gateway
 * answers from the record itself, or by cancelling it (`void`), after which
 * it can never charge. Search by order id is kept only for payments started
 * before handles were recorded, and never counts as proof of absence.
 *
 * A refund is one call on the gateway that holds the charge (the payment
 * row records its name), keyed by the caller's refund id; an unknown outcome
 * is settled by asking (`lookupRefund`), never by guessing.
 *
 * Idempotency keys, each derived from a durable id so a repeat is the same
 * request: `<paymentId>-intent-<n>` (prepare), `<paymentId>-confirm-<intentId>`
 * and `<paymentId>-cancel-<intentId>` (made by the Stripe adapter from the
 * handle), `<paymentId>-refund-<refundId>` (refund, passed by the caller).
 */
export interface ChargeRequest {
  orderId: string;
  paymentId: string;
  /** Minor units (cents, yen, fils). */
  amountMinor: bigint;
  /** ISO 4217, upper case. */
  currency: string;
  /** A gateway token such as `pm_card_visa`; never card data. */
  paymentMethod: string;
  customerId?: string;
  /** For `prepare`: derived from the durable payment, so a repeated prepare returns the same handle. */
  idempotencyKey: string;
}

/** The gateway's handle for one prepared charge (a PaymentIntent id). */
export interface ChargeHandle {
  orderId: string;
  paymentId: string;
  intentId: string;
}

export interface ChargeSucceeded {
  status: 'succeeded';
  transactionId: string;
  /** The gateway's answer, trimmed to what is safe to store (no secrets, no card data). */
  response: Record<string, unknown>;
}

/** What reading or cancelling a charge found. */
export type ChargeLookup =
  | ChargeSucceeded
  | { status: 'declined'; transactionId?: string; code: string; reason: string; response: Record<string, unknown> }
  /** The gateway has the charge but has not settled it yet: ask again later. */
  | { status: 'pending'; transactionId: string }
  /** Prepared, not confirmed: it has not charged, but a confirm still in flight could. */
  | { status: 'not_charged'; transactionId: string }
  /** Cancelled: it has not charged and never will. */
  | { status: 'canceled'; transactionId: string }
  /** Search (legacy payments only) found nothing: NOT proof of absence, search lags writes. */
  | { status: 'not_found' };

export interface RefundRequest {
  orderId: string;
  paymentId: string;
  /** The caller's UUID for this refund (`RefundRequested.refundId`, or the service's own for a cancellation). */
  refundId: string;
  /** The charge's handle on this gateway: the payment intent that charged. */
  intentId: string;
  /** Minor units; omitted, everything not yet refunded goes back (what a cancellation wants). */
  amountMinor?: bigint;
  /** ISO 4217, upper case: the charge's currency (a refund is always in it). */
  currency: string;
  /** Free text for the record; never decides anything at the gateway. */
  reason?: string;
  /** `<paymentId>-refund-<refundId>`: a repeat returns the first refund instead of making another. */
  idempotencyKey: string;
}

/** Where a refund stands at the gateway. */
export type RefundOutcome =
  /** `pending`: accepted, the money is on its way back; ask again (`lookupRefund`) until it settles. */
  | {
      status: 'succeeded' | 'pending';
      gatewayRefundId: string;
      amountMinor: bigint;
      /** The gateway's answer, trimmed to what is safe to store. */
      response: Record<string, unknown>;
    }
  /** Accepted, then failed (the card was closed, say): no money went back, the charge can be refunded again. */
  | { status: 'failed'; gatewayRefundId: string; code: string; reason: string; response: Record<string, unknown> };

export type RefundLookupRequest = Pick<RefundRequest, 'orderId' | 'paymentId' | 'refundId' | 'intentId'> & {
  gatewayRefundId?: string;
  /**
   * The key of the attempt asked about: a refund made under another key (an
   * earlier attempt of the same refund, which failed) is not this one.
   */
  idempotencyKey?: string;
};

/**
 * `not_found` is proof that no refund with this refund id exists on the charge
 * when the gateway answered: unlike charge search, the refund list is read
 * from the records themselves (Stripe: "for read-after-write flows, use the
 * list APIs"). A create still in flight may land later, so act on it by
 * repeating `refund` with the same key, never by reporting a failure.
 */
export type RefundLookup = RefundOutcome | { status: 'not_found' };

/** A window of creation times, Unix seconds, both ends included (Stripe's `created[gte]` / `created[lte]`). */
export interface LedgerWindow {
  gte: number;
  lte: number;
}

/** A charge (payment intent) as the gateway lists it, for reconciliation. */
export interface LedgerCharge {
  intentId: string;
  /** The `orderId` in its metadata, as the gateway holds it (unchecked): null when there is none. */
  orderRef: string | null;
  amountMinor: bigint;
  /** ISO 4217, upper case. */
  currency: string;
  /** The gateway's own status (`succeeded`, `canceled`, `requires_payment_method`, …). */
  status: string;
  created: number;
}

/** A refund as the gateway lists it. */
export interface LedgerRefund {
  gatewayRefundId: string;
  intentId: string;
  /** The `refundId` in its metadata (the service's own id of it): null for a refund made elsewhere. */
  refundRef: string | null;
  amountMinor: bigint;
  currency: string;
  /** `succeeded`, `pending`, `failed`, `canceled`, `requires_action`. */
  status: string;
  created: number;
}

/**
 * The gateway's own books, read page by page (newest first), so a caller holds
 * one page at a time however long the window is.
 */
export interface GatewayLedger {
  charges(window: LedgerWindow): AsyncIterable<LedgerCharge>;
  refunds(window: LedgerWindow): AsyncIterable<LedgerRefund>;
}

export interface PaymentGateway {
  /** A stable name recorded on the payment row (`stripe`, `mock`, `stripe@secondary`). */
  readonly name: string;
  /** Creates the charge unconfirmed; moves no money. Throws TransientGatewayError or PermanentGatewayError. */
  prepare(request: ChargeRequest, signal?: AbortSignal): Promise<ChargeHandle>;
  /**
   * Confirms a prepared charge; a repeat confirms nothing twice. Resolves on
   * success; throws PermanentGatewayError on a definite refusal (decline,
   * invalid request) and TransientGatewayError otherwise (`outcome: 'unknown'`
   * when it may have charged).
   */
  charge(handle: ChargeHandle, signal?: AbortSignal): Promise<ChargeSucceeded>;
  /** Reads a charge by its handle, or (legacy, no handle) searches by order id. Throws TransientGatewayError when it cannot tell. */
  lookup(request: Pick<ChargeRequest, 'orderId' | 'paymentId'> & { intentId?: string }, signal?: AbortSignal): Promise<ChargeLookup>;
  /** Cancels a prepared charge so it can never succeed; answers what it ended as (`canceled`, or `succeeded` if it won the race). */
  void(handle: ChargeHandle, signal?: AbortSignal): Promise<ChargeLookup>;
  /**
   * Refunds part or all of a charge. Throws PermanentGatewayError on a definite
   * refusal (`exceeds_refundable`: more than is left, or refunded in full
   * already; `not_charged`: nothing was charged; `charge_disputed`; or
   * `invalid_request`), TransientGatewayError otherwise (`outcome: 'unknown'`
   * when it may have refunded: settle it with `lookupRefund`).
   */
  refund(request: RefundRequest, signal?: AbortSignal): Promise<RefundOutcome>;
  /** Reads a refund by the gateway's id when known, else by the caller's refund id on the charge. Throws TransientGatewayError when it cannot tell. */
  lookupRefund(request: RefundLookupRequest, signal?: AbortSignal): Promise<RefundLookup>;
  /** What reconciliation compares against; a gateway that cannot list its charges has none. */
  readonly ledger?: GatewayLedger;
}
