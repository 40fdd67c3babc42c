import Stripe from 'stripe';
import {
  PermanentGatewayError,
  TransientGatewayError,
  type Outcome,
  type PermanentCode,
  type TransientCode,
} from './gateway.errors.js';

/**
 * The one place a raw gateway error becomes a TransientGatewayError or a
 * PermanentGatewayError. A table, read top to bottom, first match wins; the
 * unit test walks it row by row. Inputs are what the `stripe` package throws
 * (its error classes, with the socket error in `detail` for connection
 * errors) and the DOMException a deadline or caller abort produces.
 */
type Predicate = (error: unknown) => boolean;

export type ClassificationRow =
  | { description: string; matches: Predicate; class: 'transient'; code: TransientCode; outcome: Outcome }
  | { description: string; matches: Predicate; class: 'permanent'; code: PermanentCode };

const { errors } = Stripe;

/** Socket errors raised while connecting: the request never left, so nothing was charged. */
const NOT_SENT_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'];
const TIMEOUT_CODES = ['ETIMEDOUT', 'ESOCKETTIMEDOUT'];

/** Card refusals by Stripe `code` / `decline_code`, most specific first; any other card error is card_declined. */
export const CARD_DECLINES: ReadonlyArray<{ reasons: readonly string[]; code: PermanentCode }> = [
  { reasons: ['insufficient_funds'], code: 'insufficient_funds' },
  { reasons: ['expired_card'], code: 'expired_card' },
  { reasons: ['incorrect_cvc', 'invalid_cvc'], code: 'incorrect_cvc' },
  { reasons: ['processing_error'], code: 'processing_error' },
  { reasons: ['authentication_required'], code: 'authentication_required' },
];

/** The stable code for a Stripe card refusal (also used for a payment intent's `last_payment_error`). */
export function declineCodeOf(refusal: { code?: string | null; decline_code?: string | null }): PermanentCode {
  const reasons = [refusal.decline_code, refusal.code];
  return CARD_DECLINES.find((d) => reasons.some((r) => r && d.reasons.includes(r)))?.code ?? 'card_declined';
}

export const CLASSIFICATION: readonly ClassificationRow[] = [
  {
    description: 'connection refused or host not found: the request never left',
    matches: (e) => e instanceof errors.StripeConnectionError && NOT_SENT_CODES.includes(socketCodeOf(e) ?? ''),
    class: 'transient',
    code: 'gateway_unavailable',
    outcome: 'not_sent',
  },
  {
    description: 'no answer within the timeout: the gateway may have charged',
    matches: (e) => e instanceof errors.StripeConnectionError && TIMEOUT_CODES.includes(socketCodeOf(e) ?? ''),
    class: 'transient',
    code: 'gateway_timeout',
    outcome: 'unknown',
  },
  {
    description: 'connection dropped after the request left (reset, socket hang up): the gateway may have charged',
    matches: (e) => e instanceof errors.StripeConnectionError,
    class: 'transient',
    code: 'connection_lost',
    outcome: 'unknown',
  },
  {
    description: 'the call was abandoned (deadline passed or caller aborted) after the request left: the gateway may have charged',
    matches: (e) => e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError'),
    class: 'transient',
    code: 'gateway_timeout',
    outcome: 'unknown',
  },
  {
    description: 'rate limited (429): refused before charging',
    matches: (e) => e instanceof errors.StripeRateLimitError,
    class: 'transient',
    code: 'rate_limited',
    outcome: 'not_sent',
  },
  {
    // Treated as unknown: a 5xx (or a 409 for a key still in flight) may come after the charge; look it up first.
    description: 'gateway error (5xx, 409, unreadable answer): the gateway may have charged',
    matches: (e) => e instanceof errors.StripeAPIError,
    class: 'transient',
    code: 'gateway_error',
    outcome: 'unknown',
  },
  {
    // Never the customer's fault, and a fixed key rescues the payment: retried, not failed.
    description: 'API key refused (401/403): refused before charging',
    matches: (e) => e instanceof errors.StripeAuthenticationError || e instanceof errors.StripePermissionError,
    class: 'transient',
    code: 'gateway_unavailable',
    outcome: 'not_sent',
  },
  {
    description: 'the same idempotency key was used with other parameters',
    matches: (e) => e instanceof errors.StripeIdempotencyError,
    class: 'permanent',
    code: 'invalid_request',
  },
  ...CARD_DECLINES.map(
    ({ reasons, code }): ClassificationRow => ({
      description: `card refused: ${reasons.join(' / ')}`,
      matches: (e) => e instanceof errors.StripeCardError && declineCodeOf(e) === code,
      class: 'permanent',
      code,
    }),
  ),
  {
    description: 'card declined for another reason',
    matches: (e) => e instanceof errors.StripeCardError,
    class: 'permanent',
    code: 'card_declined',
  },
  {
    description: 'invalid request (400/404)',
    matches: (e) => e instanceof errors.StripeInvalidRequestError,
    class: 'permanent',
    code: 'invalid_request',
  },
  {
    description: 'an unexpected error: the gateway may have charged',
    matches: () => true,
    class: 'transient',
    code: 'gateway_error',
    outcome: 'unknown',
  },
];

/**
 * Refusals only a refund meets, read before CLASSIFICATION for refund calls
 * (a charge's `amount_too_large` is not an over-refund). Stripe sends no code
 * for an over-refund or an intent with nothing charged, only the message, so
 * the message is matched too; should it be reworded, the refusal falls through
 * to `invalid_request`, still permanent, never retried.
 */
const invalidRequest = (codes: readonly string[], message: RegExp): Predicate => (e) =>
  e instanceof errors.StripeInvalidRequestError && (codes.includes(e.code ?? '') || message.test(e.message));

export const REFUND_REFUSALS: readonly ClassificationRow[] = [
  {
    description: 'refund: more than is left on the charge, or refunded in full already',
    matches: invalidRequest(['charge_already_refunded', 'amount_too_large'], /greater than unrefunded amount|already been refunded/i),
    class: 'permanent',
    code: 'exceeds_refundable',
  },
  {
    description: 'refund: the payment intent has no successful charge',
    matches: invalidRequest(['payment_intent_unexpected_state'], /does not have a successful charge|has failed and cannot be refunded/i),
    class: 'permanent',
    code: 'not_charged',
  },
  {
    description: 'refund: the charge was disputed',
    matches: invalidRequest(['charge_disputed'], /has been charged back/i),
    class: 'permanent',
    code: 'charge_disputed',
  },
];

export function classificationRowFor(error: unknown, rows: readonly ClassificationRow[] = CLASSIFICATION): ClassificationRow {
  // CLASSIFICATION's last row matches everything, so there is always a row.
  return rows.find((row) => row.matches(error)) ?? CLASSIFICATION.find((row) => row.matches(error))!;
}

export function classifyGatewayError(error: unknown): TransientGatewayError | PermanentGatewayError {
  return typed(error, CLASSIFICATION);
}

/** For refund calls: a refund's own refusals first, then every other row as for charges. */
export function classifyRefundError(error: unknown): TransientGatewayError | PermanentGatewayError {
  return typed(error, REFUND_REFUSALS);
}

function typed(error: unknown, rows: readonly ClassificationRow[]): TransientGatewayError | PermanentGatewayError {
  if (error instanceof TransientGatewayError || error instanceof PermanentGatewayError) return error;
  const row = classificationRowFor(error, rows);
  const detail = error instanceof Error && error.message ? `: ${error.message.slice(0, 300)}` : '';
  const message = `${row.description}${detail}`;
  if (row.class === 'transient') return new TransientGatewayError(row.code, message, row.outcome, { cause: error });
  return new PermanentGatewayError(row.code, message, safeResponseOf(error), { cause: error });
}

/** The socket error code under a StripeConnectionError (its `detail`, possibly wrapped). */
function socketCodeOf(error: Stripe.errors.StripeConnectionError): string | undefined {
  let current: unknown = error.detail;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth += 1) {
    const { code, exception, errors: inner } = current as { code?: unknown; exception?: unknown; errors?: unknown };
    if (typeof code === 'string') return code;
    // A body-read failure wraps the socket error in `exception`; happy eyeballs wraps several in `errors`.
    current = exception ?? (Array.isArray(inner) ? inner[0] : undefined);
  }
  return undefined;
}

/** What is safe to store from a refusal: ids and codes, never secrets or card data. */
function safeResponseOf(error: unknown): Record<string, unknown> {
  if (!(error instanceof errors.StripeError)) return {};
  const intent = error.payment_intent as { id?: string; status?: string } | undefined;
  const fields = {
    type: error.rawType,
    code: error.code,
    decline_code: error.decline_code || undefined,
    charge: error.charge,
    payment_intent: intent?.id,
    payment_intent_status: intent?.status,
    status_code: error.statusCode,
    request_id: error.requestId,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null));
}
