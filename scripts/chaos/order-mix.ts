import { createPrng, type Random } from '../../src/gateway/simulator/prng.js';
import { inventoryReserved } from '../lib/saga-client.js';
import { seededUuid, shuffle } from '../lib/seeded.js';

/**
 * What a chaos run publishes: mostly good orders, some declined, some
 * duplicated (the same event again, or the same order under a new event id),
 * a few poison messages and a few conflicts. Every message carries the header
 * `x-chaos-id` so its dead-letter copy, if any, can be told apart.
 */
export const CHAOS_ID_HEADER = 'x-chaos-id';

/** What the order must end as. `either`: a token the simulator charges by chance; `invalid`: refused before charging. */
export type Expectation = 'success' | 'declined' | 'either' | 'invalid';

export interface ExpectedOrder {
  orderId: string;
  amount: string;
  currency: string;
  paymentMethod: string;
  expect: Expectation;
  /** The failure code a decline or a refusal must carry. */
  code?: string;
}

export type PoisonKind = 'not-json' | 'not-a-cloudevent' | 'unknown-type' | 'bad-order-id' | 'card-number' | 'conflict';

export interface OutgoingMessage {
  chaosId: string;
  body: Buffer;
  headers: Record<string, string>;
  messageId?: string;
  type?: string;
}

export interface PoisonMessage extends OutgoingMessage {
  kind: PoisonKind;
  /** The order a conflict collides with: its first payment must stand. */
  orderId?: string;
}

export interface OrderMix {
  orders: ExpectedOrder[];
  /** Orders, duplicates and unattributable poison, interleaved, in publishing order. */
  stream: OutgoingMessage[];
  /** Poison of every kind, conflicts included (those are published last, once their order has a row). */
  poison: PoisonMessage[];
  conflicts: PoisonMessage[];
  duplicates: number;
}

const METHODS: Array<{ weight: number; method: string; expect: Expectation; code?: string }> = [
  { weight: 84, method: 'pm_card_visa', expect: 'success' },
  { weight: 8, method: 'pm_card_chargeDeclined', expect: 'declined', code: 'card_declined' },
  { weight: 3, method: 'pm_card_chargeDeclinedInsufficientFunds', expect: 'declined', code: 'insufficient_funds' },
  { weight: 3, method: 'pm_card_chaos_coin_flip', expect: 'either' },
  { weight: 2, method: 'pm_card_visa', expect: 'invalid', code: 'invalid_request' },
  // Every confirmation of these meets the same fault (the simulator's own tokens): with search
  // lagging a minute, only the committed handle can tell whether they charged.
  { weight: 1, method: 'pm_card_sim_lostResponse', expect: 'success' },
  { weight: 1, method: 'pm_card_sim_timeout', expect: 'declined', code: 'gateway_unavailable' },
  { weight: 1, method: 'pm_card_sim_lateCharge', expect: 'either' },
];

const CURRENCIES: Array<{ currency: string; digits: number }> = [
  { currency: 'USD', digits: 2 },
  { currency: 'EUR', digits: 2 },
  { currency: 'JPY', digits: 0 },
  { currency: 'BHD', digits: 3 },
];

export function buildOrderMix(seed: number, count: number): OrderMix {
  const random = createPrng(seed ^ 0x0de7);
  const uuid = () => seededUuid(random);
  const orders = Array.from({ length: count }, () => newOrder(random, uuid()));
  const stream: OutgoingMessage[] = orders.map((o) => orderMessage(o, uuid(), 'order'));

  let duplicates = 0;
  for (const [i, o] of orders.entries()) {
    const roll = random();
    // The same event again (a redelivery), or the same order and data under a new event id.
    if (roll < 0.1) stream.splice(laterPosition(random, stream, i), 0, { ...stream[i]!, ...tagged(`duplicate:${o.orderId}`) });
    else if (roll < 0.15) stream.splice(laterPosition(random, stream, i), 0, orderMessage(o, uuid(), 'duplicate'));
    else continue;
    duplicates++;
  }

  const kinds: PoisonKind[] = ['not-json', 'not-a-cloudevent', 'unknown-type', 'bad-order-id', 'card-number'];
  const poisonCount = Math.max(kinds.length, Math.round(count / 100));
  const poison = Array.from({ length: poisonCount }, (_, n) => poisonMessage(kinds[n % kinds.length]!, n, uuid()));
  for (const p of poison) stream.splice(Math.floor(random() * stream.length), 0, p);

  const charged = shuffle(orders.filter((o) => o.expect !== 'invalid'), random).slice(0, Math.max(2, Math.round(count / 200)));
  const conflicts = charged.map((o, n) => conflictMessage(o, n, uuid()));
  return { orders, stream, poison: [...poison, ...conflicts], conflicts, duplicates };
}

function newOrder(random: Random, orderId: string): ExpectedOrder {
  const pick = weightedMethod(random);
  const { currency, digits } = CURRENCIES[Math.floor(random() * CURRENCIES.length)]!;
  const minor = 1 + Math.floor(random() * 9_999_999);
  const amount = pick.expect === 'invalid' ? '10.5' : formatMinor(minor, digits);
  return { orderId, amount, currency: pick.expect === 'invalid' ? 'USD' : currency, paymentMethod: pick.method, expect: pick.expect, ...(pick.code ? { code: pick.code } : {}) };
}

function weightedMethod(random: Random) {
  let roll = random() * METHODS.reduce((a, m) => a + m.weight, 0);
  for (const m of METHODS) {
    roll -= m.weight;
    if (roll < 0) return m;
  }
  return METHODS[0]!;
}

function formatMinor(minor: number, digits: number): string {
  if (digits === 0) return String(minor);
  const text = String(minor).padStart(digits + 1, '0');
  return `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

/** A position after `index` in the stream, within the next few hundred messages. */
function laterPosition(random: Random, stream: unknown[], index: number): number {
  return Math.min(stream.length, index + 1 + Math.floor(random() * 300));
}

function orderMessage(o: ExpectedOrder, eventId: string, role: 'order' | 'duplicate'): OutgoingMessage {
  const event = inventoryReserved({ orderId: o.orderId, amount: o.amount, currency: o.currency, paymentMethod: o.paymentMethod, customerId: 'cus_chaos' }, eventId);
  return { ...tagged(`${role}:${o.orderId}`), body: Buffer.from(JSON.stringify(event)), messageId: eventId, type: 'InventoryReserved' };
}

function poisonMessage(kind: PoisonKind, n: number, id: string): PoisonMessage {
  const chaosId = `poison:${kind}:${n}`;
  const event = (data: Record<string, unknown>, type = 'InventoryReserved') => ({ ...inventoryReserved({ orderId: id, amount: '10.00', currency: 'USD' }, id), type, data });
  const bodies: Record<Exclude<PoisonKind, 'conflict'>, unknown> = {
    'not-json': `{"chaos":"${chaosId}", "truncated`,
    'not-a-cloudevent': { hello: 'world', chaos: chaosId },
    'unknown-type': event({ orderId: id, amount: '10.00', currency: 'USD', paymentMethod: 'pm_card_visa' }, 'InventoryCancelled'),
    'bad-order-id': event({ orderId: `order-${n}`, amount: '10.00', currency: 'USD', paymentMethod: 'pm_card_visa' }),
    'card-number': event({ orderId: id, amount: '10.00', currency: 'USD', paymentMethod: '4242424242424242' }),
  };
  const body = bodies[kind as Exclude<PoisonKind, 'conflict'>];
  const attributedTo = kind === 'card-number' || kind === 'unknown-type' ? { orderId: id } : {};
  return { kind, ...tagged(chaosId), body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), ...attributedTo };
}

/** The same order again with another amount: a conflict, never charged; the first payment stands. */
function conflictMessage(o: ExpectedOrder, n: number, eventId: string): PoisonMessage {
  const other = o.amount === '1.00' || o.amount === '1' || o.amount === '1.000' ? '2' : '1';
  const amount = o.currency === 'JPY' ? other : o.currency === 'BHD' ? `${other}.000` : `${other}.00`;
  const event = inventoryReserved({ orderId: o.orderId, amount, currency: o.currency, paymentMethod: o.paymentMethod, customerId: 'cus_chaos' }, eventId);
  const chaosId = `poison:conflict:${n}`;
  return { kind: 'conflict', ...tagged(chaosId), orderId: o.orderId, body: Buffer.from(JSON.stringify(event)), messageId: eventId, type: 'InventoryReserved' };
}

function tagged(chaosId: string): { chaosId: string; headers: Record<string, string> } {
  return { chaosId, headers: { [CHAOS_ID_HEADER]: chaosId } };
}
