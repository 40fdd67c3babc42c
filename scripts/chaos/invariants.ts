import { checkCompensation, type InvariantResult, type LedgerCharge, type LedgerRefund, type PlanAsRun } from '../lib/compensation-invariants.js';

/** The same ledger rows and results as the compensation checks, so the two reports are one table. */
export type { InvariantResult, LedgerCharge };
import type { ReceivedEvent } from '../lib/saga-client.js';
import type { DeadLetterCopy } from './chaos-client.js';
import { CHAOS_ID_HEADER, type ExpectedOrder, type OrderMix } from './order-mix.js';
import type { UnexpectedExit } from './worker-pool.js';

/** The chaos run's invariants, checked against what the stores, the gateway and the saga client saw. */
export interface PaymentRow {
  id: string;
  order_id: string;
  status: string;
  amount: string;
  currency: string;
  transaction_id: string | null;
  failure_code: string | null;
}

export interface Observed {
  mix: OrderMix;
  rows: PaymentRow[];
  ledger: LedgerCharge[];
  refunds: LedgerRefund[];
  /** The compensation plan played alongside the mix: its orders are checked by the compensation invariants. */
  compensation: PlanAsRun;
  received: ReceivedEvent[];
  deadLetters: DeadLetterCopy[];
  unexpectedExits: UnexpectedExit[];
  shutdownExits: Array<{ name: string; code: number | null; signal: NodeJS.Signals | null }>;
  /** Worker processes started over the run, restarts included. */
  workerProcesses: number;
  settled: { ok: boolean; detail: string };
}

/** Attempts exhausted with nothing charged: an honest Failed for any card under a long gateway fault. */
const GAVE_UP = 'gateway_unavailable';

export function checkInvariants(o: Observed): InvariantResult[] {
  return [
    settledInTime(o),
    atMostOneCharge(o),
    everyOrderSettled(o),
    successIffCharged(o),
    noChargedOrderAnsweredFailed(o),
    oneTerminalEvent(o),
    badMessagesDeadLettered(o),
    noWorkerExitedOnItsOwn(o),
    workersDrainOnSigterm(o),
    ...checkCompensation({ charges: o.ledger, refunds: o.refunds }, o.received, o.compensation),
  ];
}

/** Orders of the compensation plan: their states and answers go beyond a charge, and their own invariants check them. */
function compensated(o: Observed): Set<string> {
  return new Set(o.compensation.orders.map((x) => x.orderId));
}

function settledInTime(o: Observed): InvariantResult {
  return { name: 'the run settled before the deadline', checked: 1, violations: o.settled.ok ? [] : [o.settled.detail] };
}

function atMostOneCharge(o: Observed): InvariantResult {
  const accepted = new Set([...o.mix.orders.map((x) => x.orderId), ...compensated(o)]);
  const byOrder = groupBy(o.ledger.filter((c) => c.status === 'succeeded'), (c) => c.orderId ?? '(none)');
  const violations: string[] = [];
  for (const [orderId, charges] of byOrder) {
    if (charges.length > 1) violations.push(`order ${orderId} charged ${charges.length} times: ${charges.map((c) => c.id).join(', ')}`);
    if (!accepted.has(orderId)) violations.push(`charge ${charges[0]!.id} for ${orderId}, which is no accepted order`);
  }
  return { name: 'at most one successful charge per order', checked: byOrder.size, violations };
}

function everyOrderSettled(o: Observed): InvariantResult {
  const expected = new Set(o.mix.orders.map((x) => x.orderId));
  const rows = groupBy(o.rows, (r) => r.order_id);
  const violations: string[] = [];
  for (const order of o.mix.orders) {
    const found = rows.get(order.orderId) ?? [];
    if (found.length !== 1) violations.push(`order ${order.orderId} has ${found.length} payment rows`);
    else if (found[0]!.status !== 'Success' && found[0]!.status !== 'Failed') violations.push(`order ${order.orderId} left ${found[0]!.status}`);
  }
  const theirs = compensated(o);
  for (const row of o.rows) if (!expected.has(row.order_id) && !theirs.has(row.order_id)) violations.push(`payment row for ${row.order_id}, a message that had to be refused`);
  return { name: 'every accepted order ends Success or Failed', checked: o.mix.orders.length, violations };
}

function successIffCharged(o: Observed): InvariantResult {
  const charged = groupBy(o.ledger.filter((c) => c.status === 'succeeded'), (c) => c.orderId ?? '');
  const rows = new Map(o.rows.map((r) => [r.order_id, r]));
  const violations: string[] = [];
  for (const order of o.mix.orders) {
    const row = rows.get(order.orderId);
    if (!row) continue;
    const charge = charged.get(order.orderId)?.[0];
    if ((row.status === 'Success') !== Boolean(charge)) {
      violations.push(`order ${order.orderId} is ${row.status} (${row.failure_code ?? '-'}) but the gateway ${charge ? `charged ${charge.id}` : 'never charged it'}`);
    } else if (charge && row.transaction_id !== charge.id) {
      violations.push(`order ${order.orderId} records transaction ${row.transaction_id}, the gateway charged ${charge.id}`);
    }
    const wrong = unexpectedOutcome(order, row);
    if (wrong) violations.push(wrong);
  }
  return { name: 'Success if and only if the gateway charged', checked: o.rows.length, violations };
}

/** A decline must fail with its code, an invalid request must fail unchanged; only an outage may fail a good card. */
/** The money-truth invariant on its own: what the saga was told against what the gateway did. */
function noChargedOrderAnsweredFailed(o: Observed): InvariantResult {
  const charged = new Set(o.ledger.filter((c) => c.status === 'succeeded').map((c) => c.orderId ?? ''));
  const failed = o.received.filter((e) => e.type === 'PaymentFailed' && charged.has(String(e.data?.orderId)));
  const violations = failed.map((e) => `order ${String(e.data?.orderId)} was charged and answered PaymentFailed (${String(e.data?.code)})`);
  return { name: 'no charged order answered PaymentFailed', checked: charged.size, violations };
}

function unexpectedOutcome(order: ExpectedOrder, row: PaymentRow): string | undefined {
  const failedAs = (codes: string[]) => row.status === 'Failed' && codes.includes(row.failure_code ?? '');
  const ok =
    order.expect === 'either' ||
    (order.expect === 'success' && (row.status === 'Success' || failedAs([GAVE_UP]))) ||
    (order.expect === 'declined' && failedAs([order.code!, GAVE_UP])) ||
    (order.expect === 'invalid' && failedAs(['invalid_request']));
  return ok ? undefined : `order ${order.orderId} (${order.paymentMethod}, expected ${order.expect}) ended ${row.status} ${row.failure_code ?? ''}`;
}

function oneTerminalEvent(o: Observed): InvariantResult {
  const events = groupBy(o.received, (e) => e.data?.orderId ?? '(none)');
  for (const orderId of compensated(o)) events.delete(orderId);
  const rows = new Map(o.rows.map((r) => [r.order_id, r]));
  const violations: string[] = [];
  for (const order of o.mix.orders) {
    const distinct = [...new Map((events.get(order.orderId) ?? []).map((e) => [e.id, e])).values()];
    events.delete(order.orderId);
    if (distinct.length !== 1) {
      violations.push(`order ${order.orderId}: ${distinct.length} distinct terminal events (${distinct.map((e) => `${e.type} ${e.id}`).join(', ')})`);
      continue;
    }
    const problem = eventProblem(order, distinct[0]!, rows.get(order.orderId));
    if (problem) violations.push(`order ${order.orderId}: ${problem}`);
  }
  for (const [orderId, stray] of events) violations.push(`${stray.length} event(s) for ${orderId}, which is no accepted order`);
  return { name: 'exactly one distinct terminal event per order, amount and currency unchanged', checked: o.mix.orders.length, violations };
}

function eventProblem(order: ExpectedOrder, event: ReceivedEvent, row: PaymentRow | undefined): string | undefined {
  if (event.messageId !== event.id) return `messageId ${event.messageId} is not the event id ${event.id}`;
  if (!row) return 'an event but no payment row';
  const wanted = row.status === 'Success' ? 'PaymentCompleted' : 'PaymentFailed';
  if (event.type !== wanted) return `${event.type} for a ${row.status} payment`;
  if (event.data.paymentId !== row.id) return `event names payment ${String(event.data.paymentId)}, the row is ${row.id}`;
  if (order.expect !== 'invalid' && (row.amount !== order.amount || row.currency.trim() !== order.currency)) {
    return `row holds ${row.amount} ${row.currency}, the order said ${order.amount} ${order.currency}`;
  }
  if (event.type === 'PaymentCompleted') {
    const { amount, currency, transactionId } = event.data as Record<string, unknown>;
    if (amount !== order.amount || currency !== order.currency) return `PaymentCompleted says ${String(amount)} ${String(currency)}, the order said ${order.amount} ${order.currency}`;
    if (transactionId !== row.transaction_id) return `PaymentCompleted names transaction ${String(transactionId)}, the row ${row.transaction_id}`;
  }
  return undefined;
}

function badMessagesDeadLettered(o: Observed): InvariantResult {
  const copies = groupBy(o.deadLetters, (m) => String(m.headers[CHAOS_ID_HEADER] ?? '(untagged)'));
  const violations: string[] = [];
  for (const p of o.mix.poison) {
    const found = copies.get(p.chaosId) ?? [];
    copies.delete(p.chaosId);
    const reason = found.map((m) => String(m.headers['x-error'] ?? '')).find((r) => r.length > 0);
    if (!reason) violations.push(`${p.chaosId}: ${found.length ? 'dead-lettered without a reason' : 'not dead-lettered'}`);
    else if (p.kind === 'conflict' && !/conflict/i.test(reason)) violations.push(`${p.chaosId}: dead-lettered as "${reason}", not as a conflict`);
    if (p.kind === 'card-number' && found.some((m) => m.content.includes('4242424242424242'))) violations.push(`${p.chaosId}: the card number was kept unmasked`);
  }
  for (const [chaosId, stray] of copies) {
    violations.push(`${chaosId} dead-lettered (${String(stray[0]!.headers['x-error'] ?? 'no reason')}): a good message was not accepted`);
  }
  return { name: 'every bad message dead-lettered with a reason', checked: o.mix.poison.length, violations };
}

function noWorkerExitedOnItsOwn(o: Observed): InvariantResult {
  const violations = o.unexpectedExits.map((e) => `${e.name} exited (${e.code ?? e.signal}); last lines:\n      ${e.lastLines.slice(-5).join('\n      ')}`);
  return { name: 'no worker exited on its own (input or lost connection)', checked: o.workerProcesses, violations };
}

function workersDrainOnSigterm(o: Observed): InvariantResult {
  const violations = o.shutdownExits.filter((e) => e.code !== 0).map((e) => `${e.name} exited ${e.code ?? e.signal} on SIGTERM`);
  return { name: 'every worker drains and exits 0 on SIGTERM', checked: o.shutdownExits.length, violations };
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const list = map.get(key(item));
    if (list) list.push(item);
    else map.set(key(item), [item]);
  }
  return map;
}
