/** Stable codes carried by PaymentFailed events and gateway errors. */
export type PermanentCode =
  | 'card_declined'
  | 'insufficient_funds'
  | 'expired_card'
  | 'incorrect_cvc'
  | 'processing_error'
  | 'invalid_request'
  | 'authentication_required'
  /** Refunds: more than is left to refund, or refunded in full already. */
  | 'exceeds_refundable'
  /** Refunds: the payment intent has no successful charge to refund. */
  | 'not_charged'
  /** Refunds: the charge was disputed; the dispute, not a refund, returns that money. */
  | 'charge_disputed';

export type TransientCode =
  | 'gateway_unavailable'
  | 'gateway_timeout'
  | 'gateway_error'
  | 'rate_limited'
  | 'connection_lost'
  | 'circuit_open';

/**
 * Whether the request may have reached the gateway and acted (charged, refunded):
 * `not_sent` — certainly not (connection refused, breaker open, 429 before acting);
 * `unknown` — it may have (timeout, connection dropped after sending, 5xx): look it up before anything else.
 */
export type Outcome = 'not_sent' | 'unknown';

/** Throw when trying again later may succeed: network errors, timeouts, 5xx, 429. */
export class TransientGatewayError extends Error {
  constructor(
    readonly code: TransientCode,
    message: string,
    readonly outcome: Outcome,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransientGatewayError';
  }
}

/** Throw when the same request will never succeed: a declined card, an over-refund, an invalid request. */
export class PermanentGatewayError extends Error {
  constructor(
    readonly code: PermanentCode,
    message: string,
    readonly response: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PermanentGatewayError';
  }
}

/** Throw when a payment names a gateway this process was not configured with: its charge cannot be reached. */
export class UnknownGatewayError extends Error {
  constructor(
    readonly gatewayName: string,
    configured: readonly string[],
  ) {
    super(
      `no gateway named '${gatewayName}' is configured (GATEWAYS has ${configured.map((n) => `'${n}'`).join(', ') || 'none'}); ` +
        'add it back to GATEWAYS to reach the charges it holds',
    );
    this.name = 'UnknownGatewayError';
  }
}
