/**
 * The gateway port: what the worker needs from a card gateway. Adapters
 * (Stripe, mock) implement it; only adapters turn raw errors into the typed
 * errors of `gateway.errors.ts`.
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
  /** The same key on every attempt of one payment: a repeated call charges at most once. */
  idempotencyKey: string;
}

export interface ChargeSucceeded {
  status: 'succeeded';
  transactionId: string;
  /** The gateway's answer, trimmed to what is safe to store (no secrets, no card data). */
  response: Record<string, unknown>;
}

/** What a look-up by idempotency key / order id found. */
export type ChargeLookup =
  | ChargeSucceeded
  | { status: 'declined'; transactionId?: string; code: string; reason: string; response: Record<string, unknown> }
  /** The gateway has no record of a charge: it is safe to try again (with the same key). */
  | { status: 'not_found' }
  /** The gateway has the charge but has not settled it yet: ask again later. */
  | { status: 'pending'; transactionId: string };

export interface PaymentGateway {
  /** A stable name recorded on the payment row (`stripe`, `mock`, `stripe@secondary`). */
  readonly name: string;
  /**
   * Charges once. Resolves on success; throws PermanentGatewayError on a
   * definite refusal (decline, invalid request) and TransientGatewayError
   * otherwise (`outcome: 'unknown'` when the request may have been charged).
   */
  charge(request: ChargeRequest, signal?: AbortSignal): Promise<ChargeSucceeded>;
  /** Looks a charge up by idempotency key / order id without charging. Throws TransientGatewayError when it cannot tell. */
  lookup(request: Pick<ChargeRequest, 'orderId' | 'paymentId' | 'idempotencyKey'>, signal?: AbortSignal): Promise<ChargeLookup>;
}
