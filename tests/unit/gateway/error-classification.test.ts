import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import {
  CLASSIFICATION,
  classificationRowFor,
  classifyGatewayError,
  classifyRefundError,
  declineCodeOf,
  REFUND_REFUSALS,
} from '../../../src/gateway/error-classification.js';
import { PermanentGatewayError, TransientGatewayError } from '../../../src/gateway/gateway.errors.js';

const { errors } = Stripe;

function socketError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

function connectionError(detail: unknown): InstanceType<typeof errors.StripeConnectionError> {
  return new errors.StripeConnectionError({ message: 'An error occurred with our connection to Stripe.', detail } as never);
}

function cardError(code: string, declineCode?: string) {
  return new errors.StripeCardError({ statusCode: 402, type: 'card_error', code, decline_code: declineCode, message: 'Your card was declined.' } as never);
}

/** Errors as the stripe package raises them, for every row of the table (keyed by the row's description). */
const EXAMPLES: Record<string, unknown[]> = {
  'connection refused or host not found: the request never left': [
    connectionError(socketError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:12111')),
    connectionError(socketError('ENOTFOUND', 'getaddrinfo ENOTFOUND api.stripe.invalid')),
    connectionError(Object.assign(new AggregateError([socketError('ECONNREFUSED')], 'connect failed'), {})),
  ],
  'no answer within the timeout: the gateway may have charged': [
    connectionError(Object.assign(new TypeError('ETIMEDOUT'), { code: 'ETIMEDOUT' })),
    connectionError({ name: 'HttpClientResponseBodyError', code: 'ETIMEDOUT' }),
  ],
  'connection dropped after the request left (reset, socket hang up): the gateway may have charged': [
    connectionError(socketError('ECONNRESET', 'socket hang up')),
    connectionError(socketError('EPIPE')),
    connectionError({ name: 'HttpClientResponseBodyError', exception: null }),
  ],
  'the call was abandoned (deadline passed or caller aborted) after the request left: the gateway may have charged': [
    new DOMException('no answer within 50 ms', 'TimeoutError'),
    new DOMException('aborted', 'AbortError'),
  ],
  'rate limited (429): refused before charging': [
    new errors.StripeRateLimitError({ statusCode: 429, code: 'rate_limit', message: 'Too many requests' } as never),
  ],
  'gateway error (5xx, 409, unreadable answer): the gateway may have charged': [
    new errors.StripeAPIError({ statusCode: 500, type: 'api_error', message: 'Internal error' } as never),
    new errors.StripeAPIError({ statusCode: 503, message: 'Service unavailable' } as never),
    new errors.StripeAPIError({ statusCode: 409, type: 'idempotency_error', code: 'idempotency_key_in_use' } as never),
    new errors.StripeAPIError({ message: 'Invalid JSON received from the Stripe API' } as never),
  ],
  'API key refused (401/403): refused before charging': [
    new errors.StripeAuthenticationError({ statusCode: 401, message: 'Invalid API Key provided: sk_test_****' } as never),
    new errors.StripePermissionError({ statusCode: 403, message: 'restricted key' } as never),
  ],
  'the same idempotency key was used with other parameters': [
    new errors.StripeIdempotencyError({ statusCode: 400, type: 'idempotency_error', message: 'Keys for idempotent requests…' } as never),
  ],
  'card refused: insufficient_funds': [cardError('card_declined', 'insufficient_funds')],
  'card refused: expired_card': [cardError('expired_card'), cardError('card_declined', 'expired_card')],
  'card refused: incorrect_cvc / invalid_cvc': [cardError('incorrect_cvc'), cardError('card_declined', 'invalid_cvc')],
  'card refused: processing_error': [cardError('processing_error')],
  'card refused: authentication_required': [cardError('card_declined', 'authentication_required')],
  'card declined for another reason': [cardError('card_declined', 'generic_decline'), cardError('card_declined', 'do_not_honor')],
  'invalid request (400/404)': [
    new errors.StripeInvalidRequestError({ statusCode: 400, code: 'parameter_invalid_integer', param: 'amount' } as never),
    new errors.StripeInvalidRequestError({ statusCode: 404, code: 'resource_missing' } as never),
  ],
  'an unexpected error: the gateway may have charged': [new Error('something else'), 'a thrown string', undefined],
};

function refundRefusal(fields: { code?: string; param?: string; message: string }) {
  return new errors.StripeInvalidRequestError({ statusCode: 400, type: 'invalid_request_error', ...fields } as never);
}

/** Refund refusals as Stripe words them (it sends no code for some), keyed by the row's description. */
const REFUND_EXAMPLES: Record<string, unknown[]> = {
  'refund: more than is left on the charge, or refunded in full already': [
    refundRefusal({ param: 'amount', message: 'Refund amount ($20.00) is greater than unrefunded amount on charge ($10.00)' }),
    refundRefusal({ code: 'amount_too_large', param: 'amount', message: 'Refund amount (600 USD minor units) is too much' }),
    refundRefusal({ code: 'charge_already_refunded', message: 'Charge ch_1 has already been refunded.' }),
  ],
  'refund: the payment intent has no successful charge': [
    refundRefusal({ param: 'payment_intent', message: 'This PaymentIntent (pi_1) does not have a successful charge to refund.' }),
    refundRefusal({ message: 'The charge ch_1 has failed and cannot be refunded.' }),
    refundRefusal({ code: 'payment_intent_unexpected_state', message: 'This PaymentIntent is not in a state that can be refunded.' }),
  ],
  'refund: the charge was disputed': [refundRefusal({ code: 'charge_disputed', message: 'Charge ch_1 has been charged back; a refund cannot be created.' })],
};

describe('gateway error classification', () => {
  it('when the tables are read, then every row has examples and every example names a row', () => {
    const descriptions = CLASSIFICATION.map((row) => row.description);
    expect(Object.keys(EXAMPLES).sort()).toEqual([...descriptions].sort());
    expect(new Set(descriptions).size).toBe(descriptions.length);
    expect(Object.keys(REFUND_EXAMPLES).sort()).toEqual(REFUND_REFUSALS.map((row) => row.description).sort());
  });

  describe.each(CLASSIFICATION.map((row) => [row.description, row] as const))('row "%s"', (description, row) => {
    const expected = row.class === 'transient' ? `transient ${row.code} (${row.outcome})` : `permanent ${row.code}`;

    it(`when the gateway raises it, then it is ${expected} and keeps the raw error as cause`, () => {
      const examples = EXAMPLES[description] ?? [];
      expect(examples.length).toBeGreaterThan(0);
      for (const example of examples) {
        expect(classificationRowFor(example)).toBe(row);
        const typed = classifyGatewayError(example);
        expect(typed.code).toBe(row.code);
        expect(typed.cause).toBe(example);
        if (row.class === 'transient') {
          expect(typed).toBeInstanceOf(TransientGatewayError);
          expect((typed as TransientGatewayError).outcome).toBe(row.outcome);
        } else {
          expect(typed).toBeInstanceOf(PermanentGatewayError);
        }
      }
    });
  });

  describe.each(REFUND_REFUSALS.map((row) => [row.description, row] as const))('refund row "%s"', (description, row) => {
    it(`when a refund is refused so, then it is permanent ${row.code}, and the same error from a charge call stays invalid_request`, () => {
      const examples = REFUND_EXAMPLES[description] ?? [];
      expect(examples.length).toBeGreaterThan(0);
      for (const example of examples) {
        expect(classificationRowFor(example, REFUND_REFUSALS)).toBe(row);
        const typed = classifyRefundError(example);
        expect(typed).toBeInstanceOf(PermanentGatewayError);
        expect(typed.code).toBe(row.code);
        expect(typed.cause).toBe(example);
        expect(classifyGatewayError(example).code).toBe('invalid_request');
      }
    });
  });

  it('when a refund call fails any other way, then it is classified exactly as a charge call (a timeout or 5xx is unknown)', () => {
    const others = Object.values(EXAMPLES).flat();
    for (const example of others) {
      expect(classificationRowFor(example, REFUND_REFUSALS)).toBe(classificationRowFor(example));
    }
    expect(classifyRefundError(new DOMException('no answer', 'TimeoutError'))).toMatchObject({ name: 'TransientGatewayError', outcome: 'unknown' });
  });

  it('when the idempotency key was reused with other parameters, then the message says so', () => {
    const typed = classifyGatewayError(EXAMPLES['the same idempotency key was used with other parameters']![0]);
    expect(typed.message).toContain('same idempotency key was used with other parameters');
  });

  it('when an error is already typed, then it passes through unchanged', () => {
    const transient = new TransientGatewayError('circuit_open', 'breaker open', 'not_sent');
    const permanent = new PermanentGatewayError('card_declined', 'declined');
    expect(classifyGatewayError(transient)).toBe(transient);
    expect(classifyGatewayError(permanent)).toBe(permanent);
  });

  it('when a card is refused, then the stored response keeps ids and codes only', () => {
    const raw = {
      statusCode: 402,
      type: 'card_error',
      code: 'card_declined',
      decline_code: 'insufficient_funds',
      charge: 'ch_1',
      message: 'Your card has insufficient funds.',
      payment_intent: { id: 'pi_1', status: 'requires_payment_method', client_secret: 'pi_1_secret_x' },
    };
    const typed = classifyGatewayError(new errors.StripeCardError(raw as never)) as PermanentGatewayError;
    expect(typed.response).toEqual({
      type: 'card_error',
      code: 'card_declined',
      decline_code: 'insufficient_funds',
      charge: 'ch_1',
      payment_intent: 'pi_1',
      payment_intent_status: 'requires_payment_method',
      status_code: 402,
    });
    expect(typed.message).toContain('Your card has insufficient funds.');
  });

  it("when a payment intent's last error is read, then it maps to the same codes as card errors", () => {
    expect(declineCodeOf({ code: 'card_declined', decline_code: 'insufficient_funds' })).toBe('insufficient_funds');
    expect(declineCodeOf({ code: 'expired_card', decline_code: null })).toBe('expired_card');
    expect(declineCodeOf({ code: 'card_declined', decline_code: 'generic_decline' })).toBe('card_declined');
    expect(declineCodeOf({})).toBe('card_declined');
  });
});
