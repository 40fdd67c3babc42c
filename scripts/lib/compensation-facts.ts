import { parseAmount } from '../../src/money.js';
import type { CompensationPlan, PlannedOrder } from './compensation-plan.js';

/**
 * What the compensation invariants look at (the gateway's ledgers, the events
 * received, the plan as it ran) and what they derive from it per order.
 */
export interface LedgerCharge {
  id: string;
  orderId: string | null;
  /** Minor units, decimal string. */
  amount: string;
  currency: string;
  status: string;
}

export interface LedgerRefund {
  id: string;
  paymentIntent: string;
  orderId: string | null;
  amount: string;
  currency: string;
  status: string;
}

export interface Ledgers {
  charges: LedgerCharge[];
  refunds: LedgerRefund[];
}

export interface SeenEvent {
  id: string;
  type: string;
  messageId?: string | undefined;
  data: Record<string, unknown>;
}

export interface PlanAsRun extends CompensationPlan {
  /** Orders cancelled `before` whose OrderCancelled was answered before their reservation was published. */
  cancelConfirmedFirst: string[];
}

export interface InvariantResult {
  name: string;
  /** How many things (orders, messages, processes) were checked. */
  checked: number;
  violations: string[];
}

const TERMINAL = new Set(['PaymentCompleted', 'PaymentFailed']);

export interface Facts {
  label: string;
  amount: bigint;
  /** Every charge attempt the gateway recorded for the order, failed ones included. */
  attempts: LedgerCharge[];
  succeeded: LedgerCharge[];
  charged: bigint;
  refunds: LedgerRefund[];
  terminal: SeenEvent[];
  /** Distinct PaymentCancelled, and PaymentRefunded not for a planned refundId: the answers to OrderCancelled. */
  cancelAnswers: SeenEvent[];
  refundAnswers: Map<string, SeenEvent[]>;
  /** Sum of the planned refunds answered PaymentRefunded. */
  refundedByRequests: bigint;
}

export function factsOf(o: PlannedOrder, ledgers: Ledgers, events: SeenEvent[]): Facts {
  const attempts = ledgers.charges.filter((c) => c.orderId === o.orderId);
  const intents = new Set(attempts.map((c) => c.id));
  const succeeded = attempts.filter((c) => c.status === 'succeeded');
  const mine = distinct(events.filter((e) => e.data?.orderId === o.orderId));
  const planned = new Set(o.refunds.map((r) => r.refundId));
  const refundAnswers = new Map(o.refunds.map((r) => [r.refundId, mine.filter((e) => (e.type === 'PaymentRefunded' || e.type === 'RefundFailed') && e.data.refundId === r.refundId)]));
  const refundedByRequests = [...refundAnswers.values()].flat().filter((e) => e.type === 'PaymentRefunded').reduce((sum, e) => sum + (minor(e.data.amount, o.currency) ?? 0n), 0n);
  return {
    label: labelOf(o),
    amount: parseAmount(o.amount, o.currency),
    attempts,
    succeeded,
    charged: succeeded.reduce((sum, c) => sum + BigInt(c.amount), 0n),
    refunds: ledgers.refunds.filter((r) => r.orderId === o.orderId || intents.has(r.paymentIntent)),
    terminal: mine.filter((e) => TERMINAL.has(e.type)),
    cancelAnswers: mine.filter((e) => e.type === 'PaymentCancelled' || (e.type === 'PaymentRefunded' && !planned.has(String(e.data.refundId)))),
    refundAnswers,
    refundedByRequests,
  };
}

export function atGateway(f: Facts): string {
  const charges = f.attempts.map((c) => `${c.id} ${c.amount} ${c.status}`).join(', ') || 'none';
  const refunds = f.refunds.map((r) => `${r.id} ${r.amount} ${r.status}`).join(', ') || 'none';
  return `at the gateway: charges ${charges}; refunds ${refunds}`;
}

export function labelOf(o: PlannedOrder): string {
  const extras = [o.paymentMethod, o.cancel ? `cancelled ${o.cancel}${o.cancelRacesRefunds ? ' racing its refunds' : ''}` : '', o.refunds.length ? `${o.refunds.length} refund(s)` : ''].filter(Boolean);
  return `order ${o.orderId} (${o.amount} ${o.currency}, ${extras.join(', ')})`;
}

/** First copy of each event id: a re-delivery has the same id and is no second answer. */
export function distinct(events: SeenEvent[]): SeenEvent[] {
  return [...new Map(events.map((e) => [e.id, e])).values()];
}

export function minor(amount: unknown, currency: string): bigint | undefined {
  try {
    return parseAmount(amount, currency);
  } catch {
    return undefined;
  }
}

export const minorText = (n: bigint) => n.toString();
export const ids = (items: Array<{ id: string }>) => items.map((i) => i.id).join(', ');
export const describe = (events: SeenEvent[]) => events.map((e) => `${e.type}${e.data.code ? `(${String(e.data.code)})` : ''} ${e.id}`).join(', ');
