import type { IncomingHttpHeaders } from 'node:http';
import type { ChargeView } from './charges.js';
import type { DisputeStore } from './disputes.js';
import type { EventLog } from './events.js';
import { stripeError, type SimResponse } from './http-io.js';
import { fingerprintOf, createIdempotencyStore } from './idempotency.js';
import type { PaymentIntentStore } from './payment-intents.js';
import type { RefundStore } from './refunds.js';
import type { SimulatorSettings } from './simulator.settings.js';

/**
 * The subset of Stripe's REST API the adapter uses, after faults have let a
 * request through: payment intents created (with or without confirming),
 * confirmed and cancelled with an Idempotency-Key, retrieved and searched by
 * metadata; refunds created with one, retrieved and listed; charges and
 * disputes retrieved.
 */
export interface ApiRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  /** The form body parsed with `qs` (bracket keys become nested objects). */
  body: Record<string, unknown>;
  successRoll: number;
  /** The `Request-Id` this request is answered with; events it causes name it. */
  requestId: string;
}

export interface ApiDeps {
  intents: PaymentIntentStore;
  refunds: RefundStore;
  charges: ChargeView;
  disputes: DisputeStore;
  events: Pick<EventLog, 'within'>;
  settings: () => Pick<SimulatorSettings, 'successRate' | 'searchLagMs' | 'idempotencyTtlS'>;
  /** The simulator's clock in milliseconds: keys expire by it. */
  now: () => number;
}

const INTENT_ACTION = /^\/v1\/payment_intents\/([\w-]+)\/(confirm|cancel)$/;
const INTENT = /^\/v1\/payment_intents\/([\w-]+)$/;
const REFUND = /^\/v1\/refunds\/([\w-]+)$/;
const CHARGE = /^\/v1\/charges\/([\w-]+)$/;
const DISPUTE = /^\/v1\/disputes\/([\w-]+)$/;

export function createStripeApi({ intents, refunds, charges, disputes, events, settings, now }: ApiDeps) {
  const keys = createIdempotencyStore(now, () => settings().idempotencyTtlS * 1000);

  /** Runs the request once per key: the same key and parameters replay its stored result. */
  function idempotent(request: ApiRequest, route: string, run: () => SimResponse): SimResponse {
    const key = header(request.headers, 'idempotency-key');
    const cause = { id: request.requestId, idempotency_key: key ?? null };
    if (!key) return events.within(cause, run);
    // The route carries the intent id, so one key cannot confirm two intents.
    const fingerprint = fingerprintOf(route, request.body);
    const seen = keys.check(key, fingerprint);
    if (seen) return seen;
    const response = events.within(cause, run);
    // Stripe saves a result only once the request ran: a charge, a decline or a cancellation, never a refusal.
    if (response.status === 200 || response.status === 402) keys.remember(key, fingerprint, response);
    return response;
  }

  function post(request: ApiRequest, path: string): SimResponse | undefined {
    const { body, successRoll } = request;
    if (path === '/v1/payment_intents') {
      return idempotent(request, `POST ${path}`, () => intents.create(body, successRoll, settings().successRate));
    }
    if (path === '/v1/refunds') return idempotent(request, `POST ${path}`, () => refunds.create(body));
    const action = INTENT_ACTION.exec(path);
    if (!action) return undefined;
    const [, id, verb] = action as unknown as [string, string, 'confirm' | 'cancel'];
    const run =
      verb === 'confirm' ? () => intents.confirm(id, body, successRoll, settings().successRate) : () => intents.cancel(id, body);
    return idempotent(request, `POST ${path}`, run);
  }

  function get(request: ApiRequest, path: string): SimResponse | undefined {
    if (path === '/v1/payment_intents/search') {
      return intents.search(request.url.searchParams.get('query'), settings().searchLagMs);
    }
    if (path === '/v1/refunds') return refunds.list(request.url.searchParams);
    if (path === '/v1/payment_intents') return intents.list(request.url.searchParams);
    const [intent, refund, charge, dispute] = [INTENT, REFUND, CHARGE, DISPUTE].map((route) => route.exec(path)?.[1]);
    if (intent) return intents.retrieve(intent);
    if (refund) return refunds.retrieve(refund);
    if (charge) return charges.retrieve(charge);
    return dispute ? disputes.retrieve(dispute) : undefined;
  }

  function respond(request: ApiRequest): SimResponse {
    if (!authorized(request.headers)) {
      return stripeError(401, {
        type: 'invalid_request_error',
        message: 'Invalid API Key provided: the simulator accepts any sk_test_ key as a Bearer token',
      });
    }
    const path = request.url.pathname.replace(/\/+$/, '');
    const routed = request.method === 'POST' ? post(request, path) : request.method === 'GET' ? get(request, path) : undefined;
    if (routed) return { ...routed, headers: { ...routed.headers, 'request-id': request.requestId } };
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
