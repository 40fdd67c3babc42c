import { decideCharge } from './card-outcome.js';
import { createCreationIndex } from './creation-index.js';
import type { Publish } from './events.js';
import { resourceMissing, stripeError, type SimResponse } from './http-io.js';
import { createIntentHistory } from './intent-history.js';
import { listPage } from './list-page.js';
import { newId, newIntent, type IntentStatus, type PaymentIntent } from './intent-object.js';
import { parseCancel, parseConfirm, parseCreate } from './intent-params.js';

/**
 * The simulator's in-memory slice of Stripe: payment intents created (with
 * or without confirming them), confirmed, cancelled, retrieved, searched by
 * metadata, and the ledger of every charge attempt. Idempotency and faults
 * live elsewhere. Every state check runs when the request executes, and the
 * server is single-threaded, so a confirm and a cancel of one intent never
 * interleave: whichever runs second sees the other's result.
 */

/** One charge attempt as `GET /_sim/charges` returns it. */
export interface LedgerEntry {
  /** The payment intent id (what the adapter records as the transaction id). */
  id: string;
  orderId: string | null;
  /** Minor units as a decimal string ("4999" for 49.99 USD). */
  amount: string;
  /** ISO 4217, upper case. */
  currency: string;
  status: 'succeeded' | 'failed';
  /** Unix seconds, as Stripe's `created`. */
  created: number;
}

/** What the simulator keeps of one charge attempt; `charges.ts` builds Stripe's charge object from it. */
export interface ChargeRecord {
  id: string;
  paymentIntent: string;
  created: number;
  paymentMethod: string;
  failure: { code: string; message: string } | null;
}

/** Stripe's rules: what may be confirmed or cancelled from which status. */
const CONFIRMABLE: readonly IntentStatus[] = ['requires_payment_method', 'requires_confirmation', 'requires_action'];
const CANCELABLE: readonly IntentStatus[] = [
  'requires_payment_method',
  'requires_capture',
  'requires_confirmation',
  'requires_action',
  'processing',
];

export function createPaymentIntentStore(now: () => number = Date.now, publish: Publish = () => {}) {
  const intents = new Map<string, PaymentIntent>();
  const listOrder = createCreationIndex();
  const charges = new Map<string, ChargeRecord>();
  const history = createIntentHistory();
  const ledger: LedgerEntry[] = [];
  const unixSeconds = () => Math.floor(now() / 1000);

  function save(intent: PaymentIntent): void {
    intents.set(intent.id, intent);
    listOrder.add(intent.id, intent.created);
    history.record(intent, now());
  }

  /** Creates an intent: unconfirmed (200, no charge), or with confirm=true charged at once (200 or a 402 decline). */
  function create(body: Record<string, unknown>, successRoll: number, successRate: number): SimResponse {
    const params = parseCreate(body);
    if ('status' in params) return params;
    const intent = newIntent(params, unixSeconds());
    if (params.confirm) return charge(intent, params.paymentMethod!, successRoll, successRate);
    save(intent);
    return { status: 200, body: intent };
  }

  function confirm(id: string, body: Record<string, unknown>, successRoll: number, successRate: number): SimResponse {
    const intent = intents.get(id);
    if (!intent) return missing(id);
    const params = parseConfirm(body);
    if ('status' in params) return params;
    if (!CONFIRMABLE.includes(intent.status)) return unexpectedState('confirm', intent, CONFIRMABLE);
    const paymentMethod = params.paymentMethod ?? intent.payment_method;
    if (!paymentMethod) {
      return stripeError(400, {
        type: 'invalid_request_error',
        code: 'payment_intent_unexpected_state',
        param: 'payment_method',
        message: "You cannot confirm this PaymentIntent because it's missing a payment method. Pass a payment_method to confirm it.",
        payment_intent: intent,
      });
    }
    return charge(intent, paymentMethod, successRoll, successRate);
  }

  /** Once cancelled an intent can never charge: the end of every attempt to pay with it. */
  function cancel(id: string, body: Record<string, unknown>): SimResponse {
    const intent = intents.get(id);
    if (!intent) return missing(id);
    const params = parseCancel(body);
    if ('status' in params) return params;
    if (!CANCELABLE.includes(intent.status)) return unexpectedState('cancel', intent, CANCELABLE);
    const canceled: PaymentIntent = { ...intent, status: 'canceled', canceled_at: unixSeconds(), cancellation_reason: params.reason ?? null };
    save(canceled);
    return { status: 200, body: canceled };
  }

  /** One charge attempt: the intent succeeds or goes back to needing a payment method; the ledger records it either way. */
  function charge(intent: PaymentIntent, paymentMethod: string, successRoll: number, successRate: number): SimResponse {
    const chargeId = newId('ch');
    const decline = decideCharge(paymentMethod, successRoll, successRate);
    const next: PaymentIntent = decline
      ? {
          ...intent,
          status: 'requires_payment_method',
          payment_method: null,
          latest_charge: chargeId,
          last_payment_error: { type: 'card_error', ...decline, charge: chargeId, payment_method: { id: paymentMethod } },
        }
      : { ...intent, status: 'succeeded', payment_method: paymentMethod, amount_received: intent.amount, latest_charge: chargeId, last_payment_error: null };
    save(next);
    const failure = decline ? { code: decline.code, message: decline.message } : null;
    charges.set(chargeId, { id: chargeId, paymentIntent: next.id, created: unixSeconds(), paymentMethod, failure });
    publish(decline ? 'payment_intent.payment_failed' : 'payment_intent.succeeded', next);
    ledger.push({
      id: next.id,
      orderId: next.metadata.orderId ?? null,
      amount: String(next.amount),
      currency: next.currency.toUpperCase(),
      status: decline ? 'failed' : 'succeeded',
      created: unixSeconds(),
    });
    if (!decline) return { status: 200, body: next };
    return stripeError(402, { type: 'card_error', ...decline, charge: chargeId, payment_intent: next });
  }

  /** Always current, as Stripe's retrieve is strongly consistent. */
  function retrieve(id: string): SimResponse {
    const intent = intents.get(id);
    return intent ? { status: 200, body: intent } : missing(id);
  }

  /** Supports Stripe's metadata equality clause, e.g. `metadata['orderId']:'9a6b…'`; shows intents as they were `lagMs` ago. */
  function search(query: unknown, lagMs = 0): SimResponse {
    const clause = typeof query === 'string' ? /^\s*metadata\[(['"])(\w+)\1\]\s*:\s*(['"])((?:\\.|[^\\])*?)\3\s*$/.exec(query) : null;
    if (!clause) {
      return stripeError(400, {
        type: 'invalid_request_error',
        code: 'parameter_invalid',
        param: 'query',
        message: "The simulator supports only the query metadata['key']:'value'",
      });
    }
    const key = clause[2]!;
    const value = clause[4]!.replace(/\\(.)/g, '$1');
    const data = history
      .asOf(now() - lagMs)
      .filter((intent) => intent.metadata[key] === value)
      .reverse();
    return {
      status: 200,
      body: { object: 'search_result', url: '/v1/payment_intents/search', has_more: false, next_page: null, data },
    };
  }

  /** Stripe's list of payment intents, newest first, as reconciliation pages through a time window. */
  function list(query: URLSearchParams): SimResponse {
    return listPage(listOrder, (id) => intents.get(id), query, '/v1/payment_intents', 'payment_intent');
  }

  const paymentMethodOf = (id: string) => intents.get(id)?.payment_method;

  return {
    create,
    confirm,
    cancel,
    retrieve,
    search,
    list,
    paymentMethodOf,
    get: (id: string): PaymentIntent | undefined => intents.get(id),
    charge: (id: string): ChargeRecord | undefined => charges.get(id),
    ledger: (): LedgerEntry[] => ledger.map((entry) => ({ ...entry })),
  };
}

export type PaymentIntentStore = ReturnType<typeof createPaymentIntentStore>;
export type { PaymentIntent } from './intent-object.js';

/** Stripe's refusal of a confirm or cancel in the wrong state; the intent rides along, as Stripe includes it. */
function unexpectedState(action: 'confirm' | 'cancel', intent: PaymentIntent, allowed: readonly IntentStatus[]): SimResponse {
  const done = action === 'confirm' ? 'confirmed' : 'canceled';
  return stripeError(400, {
    type: 'invalid_request_error',
    code: 'payment_intent_unexpected_state',
    message:
      `You cannot ${action} this PaymentIntent because it has a status of ${intent.status}. ` +
      `Only a PaymentIntent with one of the following statuses may be ${done}: ${allowed.join(', ')}.`,
    payment_intent: intent,
  });
}

const missing = (id: string): SimResponse => resourceMissing('payment_intent', id, 'intent');
