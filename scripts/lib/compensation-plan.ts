import { formatAmount, parseAmount } from '../../src/money.js';
import { createPrng, type Random } from '../../src/gateway/simulator/prng.js';
import { seededUuid, shuffle } from './seeded.js';

/**
 * Which orders a compensation run cancels, when, and which it refunds, drawn
 * from a seed so a failing run can be repeated. Pure.
 *
 * A third of the orders are cancelled, in equal parts: before the
 * reservation is published (and only once the cancellation is answered),
 * right after it (while charging), and after the order's terminal event.
 * A sixth of the charged orders get two partial refunds sent concurrently,
 * together under the charge; some of those are cancelled afterwards too, so
 * the cancellation must return only what is left, and some are cancelled in
 * the same moment, so the refunds and the cancellation race. A few refunds probe the
 * refusals: one for an order never charged, one over what was charged.
 */
export type CancelMoment = 'before' | 'during' | 'after';

export interface PlannedRefund {
  refundId: string;
  /** Decimal string in the order's currency. */
  amount: string;
  expect: 'refunded' | 'failed' | 'either';
  /** The RefundFailed codes allowed when it fails; any code when absent. */
  codes?: string[];
}

export interface PlannedOrder {
  orderId: string;
  amount: string;
  currency: string;
  paymentMethod: string;
  /** What the gateway does with the charge if nothing cancels it first. */
  charge: 'succeeds' | 'declined' | 'either';
  /** Codes its PaymentFailed may carry besides `order_cancelled` (a decline's, or an outage's under faults). */
  failCodes: string[];
  cancel?: CancelMoment;
  /** Cancelled `after` together with its refunds, not once they are answered: they race for what is refundable. */
  cancelRacesRefunds?: boolean;
  refunds: PlannedRefund[];
}

export interface CompensationPlan {
  seed: number;
  orders: PlannedOrder[];
}

export interface PlanOptions {
  seed: number;
  orders: number;
  /** Refund answers may be failures (the gateway's refund faults are on). */
  refundsMayFail?: boolean;
  /** Extra failure codes any order may end with (e.g. `gateway_unavailable` under gateway faults). */
  extraFailCodes?: string[];
  /**
   * Some orders use the simulator's tokens whose every confirmation goes unanswered (charged,
   * never charged, or charged late), so a cancellation can meet a charge whose outcome is unknown.
   */
  unknownOutcomes?: boolean;
}

const CURRENCIES = ['USD', 'EUR', 'JPY', 'BHD'] as const;

const METHODS: Array<{ weight: number; method: string; charge: PlannedOrder['charge']; codes: string[] }> = [
  { weight: 85, method: 'pm_card_visa', charge: 'succeeds', codes: [] },
  { weight: 10, method: 'pm_card_chargeDeclined', charge: 'declined', codes: ['card_declined'] },
  { weight: 5, method: 'pm_card_chargeDeclinedInsufficientFunds', charge: 'declined', codes: ['insufficient_funds'] },
];

const UNKNOWN_OUTCOMES: typeof METHODS = [
  // Charged, the answer lost: settled by reading the intent, so it completes.
  { weight: 4, method: 'pm_card_sim_lostResponse', charge: 'succeeds', codes: [] },
  // Never answered, never charged: the attempts run out.
  { weight: 3, method: 'pm_card_sim_timeout', charge: 'declined', codes: ['gateway_unavailable'] },
  // Never answered, charged later unless cancelled first.
  { weight: 3, method: 'pm_card_sim_lateCharge', charge: 'either', codes: ['gateway_unavailable'] },
];

export function buildCompensationPlan(o: PlanOptions): CompensationPlan {
  const random = createPrng(o.seed ^ 0xc0c0);
  const orders = Array.from({ length: o.orders }, () => newOrder(random, o));
  const shuffled = shuffle([...orders], random);
  const third = Math.round(o.orders / 3);
  const moments: CancelMoment[] = ['before', 'during', 'after'];
  shuffled.slice(0, third).forEach((order, i) => (order.cancel = moments[i % 3]));

  const refundable = shuffle(orders.filter((x) => x.charge === 'succeeds' && (x.cancel === undefined || x.cancel === 'after')), random);
  const expect = o.refundsMayFail ? 'either' : 'refunded';
  for (const order of refundable.slice(0, Math.round(o.orders / 6))) {
    // Half of those also cancelled race their refunds: whichever is first, nothing is refunded twice.
    const races = order.cancel === 'after' && random() < 0.5;
    order.refunds = twoPartialRefunds(order, random).map((r) => ({ ...r, expect: races ? 'either' : expect }));
    if (races) order.cancelRacesRefunds = true;
  }
  const probes = Math.max(1, Math.round(o.orders / 60));
  const declined = orders.filter((x) => x.charge === 'declined' && x.cancel === undefined).slice(0, probes);
  for (const order of declined) order.refunds = [{ refundId: seededUuid(random), amount: order.amount, expect: 'failed', codes: ['not_charged'] }];
  const whole = refundable.slice(Math.round(o.orders / 6)).filter((x) => x.cancel === undefined).slice(0, probes);
  for (const order of whole) {
    // More than was charged: refused whole, nothing refunded.
    order.refunds = [{ refundId: seededUuid(random), amount: formatAmount(minorOf(order) + 1n, order.currency), expect: 'failed', codes: ['exceeds_refundable'] }];
  }
  return { seed: o.seed, orders };
}

function newOrder(random: Random, o: PlanOptions): PlannedOrder {
  const methods = o.unknownOutcomes ? [...METHODS, ...UNKNOWN_OUTCOMES] : METHODS;
  let roll = random() * methods.reduce((a, m) => a + m.weight, 0);
  const pick = methods.find((m) => (roll -= m.weight) < 0) ?? methods[0]!;
  const currency = CURRENCIES[Math.floor(random() * CURRENCIES.length)]!;
  // At least 1,000 minor units, so two partial refunds of at least 10% each fit under it.
  const minor = BigInt(1000 + Math.floor(random() * 999_000));
  return {
    orderId: seededUuid(random),
    amount: formatAmount(minor, currency),
    currency,
    paymentMethod: pick.method,
    charge: pick.charge,
    failCodes: [...pick.codes, ...(o.extraFailCodes ?? [])],
    refunds: [],
  };
}

/** Two refunds of 10-40% of the charge each: together at most 80%, so both fit whichever lands first. */
function twoPartialRefunds(order: PlannedOrder, random: Random): Array<Omit<PlannedRefund, 'expect'>> {
  const total = minorOf(order);
  return [0, 1].map(() => {
    const share = 10n + BigInt(Math.floor(random() * 31));
    return { refundId: seededUuid(random), amount: formatAmount((total * share) / 100n, order.currency) };
  });
}

function minorOf(order: PlannedOrder): bigint {
  return parseAmount(order.amount, order.currency);
}
