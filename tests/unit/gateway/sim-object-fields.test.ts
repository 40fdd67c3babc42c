import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSimClock } from '../../../src/gateway/simulator/sim-clock.js';
import { DEFAULT_SETTINGS } from '../../../src/gateway/simulator/simulator.settings.js';
import { createStripeAccount } from '../../../src/gateway/simulator/stripe-account.js';

/**
 * Every object the simulator answers with carries every top-level field of
 * Stripe's own example of it (Stripe's OpenAPI fixtures, copied unchanged
 * into tests/fixtures/stripe), with the same JSON type, so a client written
 * against Stripe finds what it reads. Where the example has null, any type
 * will do (the example does not say which); where the simulator has null and
 * the example does not, the field must be one Stripe documents as nullable.
 */
const FIXTURES = JSON.parse(readFileSync(new URL('../../fixtures/stripe/fixtures3-objects.json', import.meta.url), 'utf8')) as {
  resources: Record<'payment_intent' | 'refund' | 'event' | 'dispute' | 'charge', Record<string, unknown>>;
};

/** Fields Stripe's API reference marks nullable that its example happens to fill. */
const DOCUMENTED_NULLABLE: Record<string, readonly string[]> = {
  payment_intent: [
    'automatic_payment_methods',
    'canceled_at',
    'last_payment_error',
    'next_action',
    'payment_method_configuration_details',
    'processing',
    'shipping',
    'transfer_data',
  ],
  refund: [],
  charge: ['balance_transaction', 'description', 'receipt_url', 'shipping', 'source', 'transfer_data'],
  event: [],
  dispute: [],
};

/** Stripe's documented shapes of a list and a search result, which have no example object of their own. */
const LIST_SHAPE = { object: 'list', data: [], has_more: false, url: '/v1/refunds' };
const SEARCH_SHAPE = { object: 'search_result', data: [], has_more: false, next_page: 'page_token', url: '/v1/payment_intents/search' };
const NULLABLE_IN_SHAPES = ['next_page'];

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

/** Each field of `example` that `made` lacks or types differently, as a readable line; none when it conforms. */
function differences(made: unknown, example: Record<string, unknown>, nullable: readonly string[]): string[] {
  const object = made as Record<string, unknown>;
  return Object.entries(example).flatMap(([key, expected]) => {
    if (!(key in object)) return [`${key}: missing`];
    const [want, got] = [jsonType(expected), jsonType(object[key])];
    if (want === 'null' || want === got || (got === 'null' && nullable.includes(key))) return [];
    return [`${key}: ${got}, Stripe's example has ${want}`];
  });
}

/** The simulator's own account (what its server answers from), driven without HTTP. */
function madeObjects() {
  const simClock = createSimClock(() => 1_700_000_000_000);
  const { intents, refunds, disputes, events, charges } = createStripeAccount({ seed: 1, simClock, clock: Date.now, settings: () => DEFAULT_SETTINGS });

  const form = { amount: '4999', currency: 'usd', payment_method: 'pm_card_visa', confirm: 'true', metadata: { orderId: 'order-1' } };
  const intent = intents.create(form, 0, 1).body as { id: string };
  const refund = refunds.create({ payment_intent: intent.id, amount: '1000' }).body;
  const opened = disputes.open({ paymentIntent: intent.id });
  if (!opened.ok) throw new Error(opened.message);
  return {
    intent,
    unconfirmed: intents.create({ amount: '100', currency: 'usd' }, 0, 1).body,
    refund,
    charge: charges.chargeObject((refund as { charge: string }).charge),
    dispute: opened.dispute,
    events: events.list(),
    list: refunds.list(new URLSearchParams({ payment_intent: intent.id })).body,
    search: intents.search("metadata['orderId']:'order-1'").body,
  };
}

describe('simulator objects against Stripe\'s own examples', () => {
  const made = madeObjects();

  it.each([
    ['payment_intent', 'a succeeded payment intent', made.intent],
    ['payment_intent', 'an unconfirmed payment intent', made.unconfirmed],
    ['refund', 'a refund', made.refund],
    ['charge', 'a partly refunded charge', made.charge],
    ['dispute', 'a dispute', made.dispute],
  ] as const)('when the simulator makes %s (%s), then it has every field of Stripe\'s example, of the same type', (resource, _what, object) => {
    expect(differences(object, FIXTURES.resources[resource], DOCUMENTED_NULLABLE[resource]!)).toEqual([]);
  });

  it('when any change happens, then each event has every field of Stripe\'s example event, of the same type', () => {
    expect(made.events.map((event) => event.type)).toEqual(['payment_intent.succeeded', 'charge.refunded', 'charge.dispute.created']);
    for (const event of made.events) expect(differences(event, FIXTURES.resources.event, DOCUMENTED_NULLABLE.event!)).toEqual([]);
  });

  it('when refunds are listed and intents searched, then the answers have Stripe\'s list and search result shapes, holding objects that conform', () => {
    expect(differences(made.list, LIST_SHAPE, NULLABLE_IN_SHAPES)).toEqual([]);
    expect(differences(made.search, SEARCH_SHAPE, NULLABLE_IN_SHAPES)).toEqual([]);
    const [listed] = (made.list as { data: unknown[] }).data;
    const [found] = (made.search as { data: unknown[] }).data;
    expect(differences(listed, FIXTURES.resources.refund, DOCUMENTED_NULLABLE.refund!)).toEqual([]);
    expect(differences(found, FIXTURES.resources.payment_intent, DOCUMENTED_NULLABLE.payment_intent!)).toEqual([]);
  });

  it('when a field is dropped or retyped, then the check names it (the check itself can fail)', () => {
    const { client_secret: _dropped, ...withoutSecret } = made.intent as Record<string, unknown>;
    expect(differences({ ...withoutSecret, metadata: 'none' }, FIXTURES.resources.payment_intent, DOCUMENTED_NULLABLE.payment_intent!)).toEqual([
      'client_secret: missing',
      "metadata: string, Stripe's example has object",
    ]);
  });
});
