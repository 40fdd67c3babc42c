import { randomUUID } from 'node:crypto';
import { formatAmount, parseAmount } from '../../src/money.js';
import { orderCancelled, refundRequested, type InventoryReserved, type ReceivedEvent, type SagaClient } from '../lib/saga-client.js';

/**
 * The demo's compensations (CONTRACT.md §8): a few orders cancelled before
 * their InventoryReserved, a few while they are charged, a few after they
 * succeeded, and partial refunds asked for on a few others. Each is owed
 * exactly one answer on payment.events; the demo waits for them with a
 * deadline, so it ends (and says what did not arrive) even against a worker
 * that does not answer order.events yet.
 */

export type CompensationKind = 'cancel before reservation' | 'cancel while charging' | 'cancel after success' | 'partial refund';

export interface Compensation {
  kind: CompensationKind;
  orderId: string;
  /** For a partial refund: the refundId asked for, and its amount. */
  refundId?: string;
  amount?: string;
  currency: string;
}

const CANCEL_ANSWERS = new Set(['PaymentCancelled', 'PaymentRefunded']);
const REFUND_ANSWERS = new Set(['PaymentRefunded', 'RefundFailed']);
export const COMPENSATION_ANSWERS = new Set([...CANCEL_ANSWERS, ...REFUND_ANSWERS]);
export const TERMINAL = new Set(['PaymentCompleted', 'PaymentFailed']);

/** A cancellation is answered by the order's PaymentCancelled or PaymentRefunded; a refund request by the answer naming its refundId. */
export function answerTo(c: Compensation, events: ReceivedEvent[]): ReceivedEvent | undefined {
  return events.find((e) =>
    c.refundId
      ? REFUND_ANSWERS.has(e.type) && e.data.refundId === c.refundId
      : CANCEL_ANSWERS.has(e.type) && e.data.orderId === c.orderId,
  );
}

/** The good-card orders, so that the ones cancelled or refunded after the fact were actually charged. */
function charged(orders: Array<Required<InventoryReserved>>): Array<Required<InventoryReserved>> {
  return orders.filter((o) => o.paymentMethod === 'pm_card_visa' || o.paymentMethod === 'pm_card_mastercard');
}

export interface CompensationPlan {
  /** Cancelled before their InventoryReserved is published. */
  before: Set<string>;
  /** Cancelled right after their InventoryReserved, while the charge is in flight. */
  during: Set<string>;
  /** Candidates for a cancellation or a refund once they have succeeded. */
  later: Array<Required<InventoryReserved>>;
  asked: Compensation[];
}

export function planCompensations(orders: Array<Required<InventoryReserved>>, perKind = 3): CompensationPlan {
  const good = charged(orders);
  const pick = (from: number) => good.slice(from * perKind, (from + 1) * perKind);
  return {
    before: new Set(pick(0).map((o) => o.orderId)),
    during: new Set(pick(1).map((o) => o.orderId)),
    later: good.slice(2 * perKind),
    asked: [],
  };
}

export async function cancel(client: SagaClient, plan: CompensationPlan, o: Required<InventoryReserved>, kind: CompensationKind): Promise<void> {
  await client.publishOrderEvent(orderCancelled({ orderId: o.orderId, reason: `demo: ${kind}` }));
  plan.asked.push({ kind, orderId: o.orderId, currency: o.currency });
}

/** Half the amount, in minor units of its currency (never a float), at least one unit. */
export function halfOf(amount: string, currency: string): string {
  const minor = parseAmount(amount, currency);
  return formatAmount(minor > 1n ? minor / 2n : minor, currency);
}

/**
 * Once every order has settled: cancels a few that succeeded and asks for a
 * partial refund of a few others.
 */
export async function compensateSettled(client: SagaClient, plan: CompensationPlan, perKind = 3): Promise<void> {
  const completed = new Set(client.received.filter((e) => e.type === 'PaymentCompleted').map((e) => e.data.orderId));
  const succeeded = plan.later.filter((o) => completed.has(o.orderId));
  for (const o of succeeded.slice(0, perKind)) await cancel(client, plan, o, 'cancel after success');
  for (const o of succeeded.slice(perKind, 2 * perKind)) {
    const refundId = randomUUID();
    const amount = halfOf(o.amount, o.currency);
    await client.publishOrderEvent(refundRequested({ orderId: o.orderId, refundId, amount, reason: 'demo: partial refund' }));
    plan.asked.push({ kind: 'partial refund', orderId: o.orderId, refundId, amount, currency: o.currency });
  }
}

export function unanswered(plan: CompensationPlan, events: ReceivedEvent[]): Compensation[] {
  return plan.asked.filter((c) => !answerTo(c, events));
}

/**
 * Waits for every compensation's answer, at most `timeoutMs`. Never throws on
 * a timeout: the demo's charges are its main job, and the worker's answers to
 * order.events may not be there yet. Returns the line that says what is missing.
 */
export async function awaitAnswers(client: SagaClient, plan: CompensationPlan, timeoutMs: number): Promise<string | null> {
  try {
    await client.waitFor('compensation answers', (events) => unanswered(plan, events).length === 0, timeoutMs);
    return null;
  } catch {
    const missing = unanswered(plan, client.received);
    const byKind = new Map<string, string[]>();
    for (const c of missing) byKind.set(c.kind, [...(byKind.get(c.kind) ?? []), c.refundId ? `refund ${c.refundId} of order ${c.orderId}` : `order ${c.orderId}`]);
    const list = [...byKind.entries()].map(([kind, ids]) => `${kind}: ${ids.join(', ')}`).join('; ');
    return (
      `no answer within ${Math.round(timeoutMs / 1000)} s to ${missing.length} of ${plan.asked.length} compensations ` +
      `(expected PaymentCancelled / PaymentRefunded / RefundFailed on payment.events; ${list}). ` +
      'Is the worker consuming payment-service.order-events? Look in the queue and at /admin/queues (compensations).'
    );
  }
}

/** The summary's lines: what was asked, the answers by type, the amounts refunded per currency. */
export function compensationRows(plan: CompensationPlan, events: ReceivedEvent[]): Array<[string, string]> {
  const asked = new Map<string, number>();
  for (const c of plan.asked) asked.set(c.kind, (asked.get(c.kind) ?? 0) + 1);
  const answers = new Map<string, number>();
  const refunded = new Map<string, bigint>();
  const seen = new Set<string>();
  for (const e of events) {
    if (!COMPENSATION_ANSWERS.has(e.type) || seen.has(e.id)) continue;
    seen.add(e.id);
    answers.set(e.type, (answers.get(e.type) ?? 0) + 1);
    if (e.type === 'PaymentRefunded' && typeof e.data.amount === 'string' && typeof e.data.currency === 'string') {
      const currency = e.data.currency;
      refunded.set(currency, (refunded.get(currency) ?? 0n) + parseAmount(e.data.amount, currency));
    }
  }
  const missing = unanswered(plan, events).length;
  return [
    ['compensations asked', [...asked.entries()].map(([k, n]) => `${n} ${k}`).join(', ') || 'none'],
    ...[...answers.entries()].map(([type, n]): [string, string] => [`answered: ${type}`, String(n)]),
    ['refunded', [...refunded.entries()].map(([c, minor]) => `${formatAmount(minor, c)} ${c}`).join(', ') || 'nothing'],
    ['compensations unanswered', missing === 0 ? '0' : `${missing} (see the warning above)`],
  ];
}
