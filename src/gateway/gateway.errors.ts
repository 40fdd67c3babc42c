/** Stable codes carried by PaymentFailed events and gateway errors. */
export type PermanentCode =
  | 'card_declined'
  | 'insufficient_funds'
  | 'expired_card'
  | 'incorrect_cvc'
  | 'processing_error'
  | 'invalid_request'
  | 'authentication_required';

export type TransientCode =
  | 'gateway_unavailable'
  | 'gateway_timeout'
  | 'gateway_error'
  | 'rate_limited'
  | 'connection_lost'
  | 'circuit_open';

/**
 * Whether the request may have reached the gateway and charged:
 * `not_sent` — certainly not charged (connection refused, breaker open, 5xx/429 before charging);
 * `unknown` — it may have charged (timeout, connection dropped after sending): look it up before anything else.
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

/** Throw when the same request will never succeed: a declined card, an invalid request. */
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
