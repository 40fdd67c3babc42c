import { randomBytes } from 'node:crypto';
import { stripeError, type SimResponse } from './http-io.js';

/**
 * The simulator's in-memory slice of Stripe: payment intents created and
 * confirmed in one call, retrieved, searched by metadata, and the ledger of
 * every charge attempt. Idempotency and faults live elsewhere; this module
 * only decides what a confirmed payment intent becomes.
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

interface CreateParams {
  amount: string;
  currency: string;
  paymentMethod: string;
  metadata: Record<string, string>;
}

interface Decline {
  code: string;
  decline_code: string;
  message: string;
}

/** Stripe's own test tokens that always decline; CONTRACT.md section 5. */
const DECLINING_METHODS: Record<string, Decline> = {
  pm_card_chargeDeclined: { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' },
  pm_card_chargeDeclinedInsufficientFunds: {
    code: 'card_declined',
    decline_code: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  },
};

const ALWAYS_SUCCEEDS = new Set(['pm_card_visa']);

/** Stripe's upper bound for an amount: eight digits of minor units. */
const MAX_AMOUNT = 99_999_999n;

export function createPaymentIntentStore(clock: () => number = Date.now) {
  const intents = new Map<string, Record<string, unknown>>();
  const ledger: LedgerEntry[] = [];

  function decide(paymentMethod: string, successRoll: number, successRate: number): Decline | undefined {
    if (ALWAYS_SUCCEEDS.has(paymentMethod)) return undefined;
    const named = DECLINING_METHODS[paymentMethod];
    if (named) return named;
    return successRoll < successRate ? undefined : DECLINING_METHODS.pm_card_chargeDeclined;
  }

  /** Validates, confirms and records one payment intent: 200 with the intent or a Stripe-shaped 402. */
  function create(body: Record<string, unknown>, successRoll: number, successRate: number): SimResponse {
    const params = parseCreate(body);
    if ('status' in params) return params;
    const id = newId('pi');
    const charge = newId('ch');
    const created = Math.floor(clock() / 1000);
    const decline = decide(params.paymentMethod, successRoll, successRate);
    const lastPaymentError = decline ? { type: 'card_error', ...decline, charge, payment_method: { id: params.paymentMethod } } : null;
    const intent = {
      id,
      object: 'payment_intent',
      // A checked integer of at most eight digits: exact as a JSON number, as Stripe sends it.
      amount: Number(params.amount),
      amount_received: decline ? 0 : Number(params.amount),
      currency: params.currency,
      status: decline ? 'requires_payment_method' : 'succeeded',
      created,
      metadata: params.metadata,
      payment_method: decline ? null : params.paymentMethod,
      payment_method_types: ['card'],
      capture_method: 'automatic',
      confirmation_method: 'automatic',
      latest_charge: charge,
      last_payment_error: lastPaymentError,
      livemode: false,
    };
    intents.set(id, intent);
    ledger.push({
      id,
      orderId: params.metadata.orderId ?? null,
      amount: params.amount,
      currency: params.currency.toUpperCase(),
      status: decline ? 'failed' : 'succeeded',
      created,
    });
    if (!decline) return { status: 200, body: intent };
    return stripeError(402, { type: 'card_error', ...decline, charge, payment_intent: intent });
  }

  function retrieve(id: string): SimResponse {
    const intent = intents.get(id);
    if (intent) return { status: 200, body: intent };
    return stripeError(404, {
      type: 'invalid_request_error',
      code: 'resource_missing',
      param: 'intent',
      message: `No such payment_intent: '${id.slice(0, 80)}'`,
    });
  }

  /** Supports Stripe's metadata equality clause, e.g. `metadata['orderId']:'9a6b…'`. */
  function search(query: unknown): SimResponse {
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
    const data = [...intents.values()]
      .filter((intent) => (intent.metadata as Record<string, string>)[key] === value)
      .reverse();
    return {
      status: 200,
      body: { object: 'search_result', url: '/v1/payment_intents/search', has_more: false, next_page: null, data },
    };
  }

  return { create, retrieve, search, ledger: (): LedgerEntry[] => ledger.map((entry) => ({ ...entry })) };
}

export type PaymentIntentStore = ReturnType<typeof createPaymentIntentStore>;

function parseCreate(body: Record<string, unknown>): CreateParams | SimResponse {
  const invalid = (param: string, message: string) =>
    stripeError(400, { type: 'invalid_request_error', code: 'parameter_invalid', param, message });
  const { amount, currency, payment_method: paymentMethod, confirm, metadata = {} } = body;
  if (typeof amount !== 'string' || !/^\d{1,9}$/.test(amount) || BigInt(amount) < 1n || BigInt(amount) > MAX_AMOUNT) {
    return invalid('amount', 'Amount must be a whole number of minor units between 1 and 99999999');
  }
  if (typeof currency !== 'string' || !/^[a-zA-Z]{3}$/.test(currency)) return invalid('currency', 'Invalid currency');
  if (typeof paymentMethod !== 'string' || paymentMethod === '') return invalid('payment_method', 'Missing payment_method');
  if (confirm !== 'true') return invalid('confirm', 'The simulator only creates payment intents with confirm=true');
  if (!isStringRecord(metadata)) return invalid('metadata', 'Metadata values must be strings');
  return { amount: BigInt(amount).toString(), currency: currency.toLowerCase(), paymentMethod, metadata };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string');
}

function newId(prefix: string): string {
  return `${prefix}_sim${randomBytes(12).toString('hex')}`;
}
