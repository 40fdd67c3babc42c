import type { IncomingHttpHeaders } from 'node:http';
import { stripeError, type SimResponse } from './http-io.js';
import { fingerprintOf, createIdempotencyStore } from './idempotency.js';
import type { PaymentIntentStore } from './payment-intents.js';

/**
 * The subset of Stripe's REST API the adapter uses, after faults have let a
 * request through: create-and-confirm with an Idempotency-Key, retrieve, and
 * search by metadata.
 */
export interface ApiRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  /** The form body parsed with `qs` (bracket keys become nested objects). */
  body: Record<string, unknown>;
  successRoll: number;
}

export function createStripeApi(intents: PaymentIntentStore, successRate: () => number) {
  const keys = createIdempotencyStore();

  function createIntent(request: ApiRequest): SimResponse {
    const key = header(request.headers, 'idempotency-key');
    const run = () => intents.create(request.body, request.successRoll, successRate());
    if (!key) return run();
    const fingerprint = fingerprintOf('POST /v1/payment_intents', request.body);
    const seen = keys.check(key, fingerprint);
    if (seen) return seen;
    const response = run();
    // Stripe saves a result only once the request ran: a charge or a decline, never a validation error.
    if (response.status === 200 || response.status === 402) keys.remember(key, fingerprint, response);
    return response;
  }

  function respond(request: ApiRequest): SimResponse {
    if (!authorized(request.headers)) {
      return stripeError(401, {
        type: 'invalid_request_error',
        message: 'Invalid API Key provided: the simulator accepts any sk_test_ key as a Bearer token',
      });
    }
    const path = request.url.pathname.replace(/\/+$/, '');
    if (request.method === 'POST' && path === '/v1/payment_intents') return createIntent(request);
    if (request.method === 'GET' && path === '/v1/payment_intents/search') {
      return intents.search(request.url.searchParams.get('query'));
    }
    const retrieve = /^\/v1\/payment_intents\/([\w-]+)$/.exec(path);
    if (request.method === 'GET' && retrieve) return intents.retrieve(retrieve[1]!);
    return stripeError(404, {
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${request.method}: ${path.slice(0, 100)})`,
    });
  }

  return { respond };
}

function authorized(headers: IncomingHttpHeaders): boolean {
  return /^Bearer sk_test_\S+$/.test(header(headers, 'authorization') ?? '');
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
