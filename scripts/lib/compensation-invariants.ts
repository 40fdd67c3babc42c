import { parseAmount } from '../../src/money.js';
import { atGateway, describe, distinct, factsOf, ids, labelOf, minor, minorText, type Facts, type InvariantResult, type Ledgers, type PlanAsRun, type SeenEvent } from './compensation-facts.js';
import type { PlannedOrder, PlannedRefund } from './compensation-plan.js';

export type { InvariantResult, LedgerCharge, LedgerRefund, Ledgers, PlanAsRun, SeenEvent } from './compensation-facts.js';

/**
 * The compensation rules of CONTRACT.md §8 as checks over what can be seen
 * from outside: the gateway's ledgers, the events received on
 * `payment.events`, and the plan of what was sent. Pure, so each check is
 * shown to fail on a hand-made bad input. Every violation names the order
 * (and refund) it is about.
 */
const ANSWERS = new Set(['PaymentCancelled', 'PaymentRefunded', 'RefundFailed']);

export function checkCompensation(ledgers: Ledgers, events: SeenEvent[], plan: PlanAsRun): InvariantResult[] {
  const facts = new Map(plan.orders.map((o) => [o.orderId, factsOf(o, ledgers, events)]));
  return [
    oneTerminalChargeEvent(plan, facts),
    cancelledBeforeReservation(plan, facts),
    everyCancellationAnsweredOnce(plan, facts),
    everyRefundAnsweredOnce(plan, facts),
    netCharge(plan, facts),
    noRefundOverCharge(plan, facts, ledgers),
    refundsAgreeWithGateway(plan, facts),
    nothingUnasked(plan, events),
  ];
}

function oneTerminalChargeEvent(plan: PlanAsRun, facts: Map<string, Facts>): InvariantResult {
  const violations: string[] = [];
  for (const o of plan.orders) {
    const f = facts.get(o.orderId)!;
    if (f.succeeded.length > 1) violations.push(`${f.label}: charged ${f.succeeded.length} times (${ids(f.succeeded)})`);
    if (f.terminal.length !== 1) {
      violations.push(`${f.label}: ${f.terminal.length} distinct terminal events${f.terminal.length ? ` (${describe(f.terminal)})` : ''}`);
      continue;
    }
    const t = f.terminal[0]!;
    if (t.type === 'PaymentCompleted') {
      if (!f.succeeded.length) violations.push(`${f.label}: PaymentCompleted ${t.id}, but the gateway never charged it`);
      if (t.data.amount !== o.amount || t.data.currency !== o.currency) violations.push(`${f.label}: PaymentCompleted says ${String(t.data.amount)} ${String(t.data.currency)}`);
      continue;
    }
    const code = String(t.data.code);
    if (f.succeeded.length) violations.push(`${f.label}: charged (${ids(f.succeeded)}) but answered PaymentFailed(${code})`);
    const allowed = o.cancel ? ['order_cancelled', ...o.failCodes] : o.failCodes;
    if (!allowed.includes(code)) violations.push(`${f.label}: PaymentFailed(${code}), expected ${o.charge === 'succeeds' && !o.cancel ? 'PaymentCompleted' : allowed.join(' or ')}`);
  }
  return { name: 'one distinct terminal charge event per order, agreeing with the gateway', checked: plan.orders.length, violations };
}

function cancelledBeforeReservation(plan: PlanAsRun, facts: Map<string, Facts>): InvariantResult {
  const confirmed = new Set(plan.cancelConfirmedFirst);
  const before = plan.orders.filter((o) => o.cancel === 'before');
  const violations: string[] = [];
  for (const o of before) {
    const f = facts.get(o.orderId)!;
    if (!confirmed.has(o.orderId)) {
      violations.push(`${f.label}: OrderCancelled not answered PaymentCancelled in time, so its reservation went out unconfirmed`);
      continue;
    }
    if (f.attempts.length) violations.push(`${f.label}: cancelled before its reservation, yet the gateway was asked to charge it (${ids(f.attempts)})`);
    const t = f.terminal[0];
    if (f.terminal.length === 1 && (t!.type !== 'PaymentFailed' || t!.data.code !== 'order_cancelled')) {
      violations.push(`${f.label}: terminal event ${t!.type}${t!.data.code ? `(${String(t!.data.code)})` : ''}, expected PaymentFailed(order_cancelled)`);
    }
  }
  return { name: 'cancelled before its reservation: never charged, terminal PaymentFailed(order_cancelled)', checked: before.length, violations };
}

function everyCancellationAnsweredOnce(plan: PlanAsRun, facts: Map<string, Facts>): InvariantResult {
  const cancelled = plan.orders.filter((o) => o.cancel);
  const violations: string[] = [];
  for (const o of cancelled) {
    const f = facts.get(o.orderId)!;
    if (f.cancelAnswers.length !== 1) {
      violations.push(`${f.label}: OrderCancelled answered ${f.cancelAnswers.length} times${f.cancelAnswers.length ? ` (${describe(f.cancelAnswers)})` : ''}; ${atGateway(f)}`);
      continue;
    }
    const answer = f.cancelAnswers[0]!;
    const held = f.charged - f.refundedByRequests;
    if (held > 0n) {
      if (answer.type !== 'PaymentRefunded') violations.push(`${f.label}: ${minorText(held)} minor units held, answered ${answer.type} instead of PaymentRefunded`);
      else {
        const refunded = minor(answer.data.amount, o.currency);
        const total = minor(answer.data.amountRefunded, o.currency);
        if (refunded !== held) violations.push(`${f.label}: PaymentRefunded amount ${String(answer.data.amount)}, expected everything not yet refunded (${minorText(held)} minor units)`);
        if (total !== f.charged) violations.push(`${f.label}: PaymentRefunded amountRefunded ${String(answer.data.amountRefunded)}, expected the whole charge (${minorText(f.charged)} minor units)`);
        if (answer.data.currency !== o.currency) violations.push(`${f.label}: PaymentRefunded in ${String(answer.data.currency)}`);
      }
    } else if (answer.type !== 'PaymentCancelled') {
      violations.push(`${f.label}: no money held, answered ${answer.type} instead of PaymentCancelled`);
    }
  }
  return { name: 'every OrderCancelled answered exactly once: PaymentRefunded of what was held, else PaymentCancelled', checked: cancelled.length, violations };
}

function everyRefundAnsweredOnce(plan: PlanAsRun, facts: Map<string, Facts>): InvariantResult {
  const violations: string[] = [];
  let checked = 0;
  for (const o of plan.orders) {
    const f = facts.get(o.orderId)!;
    for (const r of o.refunds) {
      checked++;
      const answers = f.refundAnswers.get(r.refundId)!;
      const label = `${f.label} refund ${r.refundId} (${r.amount})`;
      if (answers.length !== 1) {
        violations.push(`${label}: answered ${answers.length} times${answers.length ? ` (${describe(answers)})` : ''}; ${atGateway(f)}`);
        continue;
      }
      const problem = refundAnswerProblem(o, r, answers[0]!, f.succeeded.length > 0);
      if (problem) violations.push(`${label}: ${problem}`);
    }
  }
  return { name: 'every RefundRequested answered exactly once (duplicates with the same event id)', checked, violations };
}

function refundAnswerProblem(o: PlannedOrder, r: PlannedRefund, answer: SeenEvent, charged: boolean): string | undefined {
  // An order the gateway never charged has nothing to refund, whatever the plan hoped.
  const expect = charged ? r.expect : 'failed';
  const codes = charged ? r.codes : ['not_charged'];
  if (answer.type === 'PaymentRefunded') {
    if (expect === 'failed') return `answered PaymentRefunded, expected RefundFailed(${codes?.join(' or ') ?? 'any'})`;
    if (minor(answer.data.amount, o.currency) !== parseAmount(r.amount, o.currency)) return `PaymentRefunded amount ${String(answer.data.amount)}, requested ${r.amount}`;
    if (answer.data.currency !== o.currency) return `PaymentRefunded in ${String(answer.data.currency)}, the order is in ${o.currency}`;
    return undefined;
  }
  if (expect === 'refunded') return `answered RefundFailed(${String(answer.data.code)}: ${String(answer.data.reason)}), expected PaymentRefunded`;
  if (codes && !codes.includes(String(answer.data.code))) return `RefundFailed(${String(answer.data.code)}), expected ${codes.join(' or ')}`;
  return undefined;
}

function netCharge(plan: PlanAsRun, facts: Map<string, Facts>): InvariantResult {
  const violations: string[] = [];
  for (const o of plan.orders) {
    const f = facts.get(o.orderId)!;
    const refunded = f.refunds.filter((r) => r.status === 'succeeded').reduce((sum, r) => sum + BigInt(r.amount), 0n);
    const net = f.charged - refunded;
    const expected = o.cancel ? 0n : (f.succeeded.length ? f.amount : 0n) - f.refundedByRequests;
    if (net === expected) continue;
    const open = f.refunds.filter((r) => r.status !== 'succeeded' && r.status !== 'failed');
    const why = o.cancel ? 'a cancelled order keeps nothing' : `amount minus the refunds answered PaymentRefunded`;
    violations.push(
      `${f.label}: net charge ${minorText(net)} minor units (charged ${minorText(f.charged)}, refunded ${minorText(refunded)}), expected ${minorText(expected)}: ${why}` +
        (open.length ? `; refunds not settled at the gateway: ${open.map((r) => `${r.id} ${r.status}`).join(', ')}` : ''),
    );
  }
  return { name: 'net charge (charges minus refunds succeeded): 0 when cancelled, amount - refunded otherwise', checked: plan.orders.length, violations };
}

function noRefundOverCharge(plan: PlanAsRun, facts: Map<string, Facts>, ledgers: Ledgers): InvariantResult {
  const violations: string[] = [];
  for (const o of plan.orders) {
    const f = facts.get(o.orderId)!;
    const held = f.refunds.filter((r) => r.status !== 'failed').reduce((sum, r) => sum + BigInt(r.amount), 0n);
    if (held > f.charged) violations.push(`${f.label}: refunds ${ids(f.refunds)} add up to ${minorText(held)} minor units, the charge was ${minorText(f.charged)}`);
  }
  // Refunds of intents the plan does not know are money too.
  const planned = new Set(plan.orders.map((o) => o.orderId));
  const known = new Set(ledgers.charges.filter((c) => planned.has(c.orderId ?? '')).map((c) => c.id));
  const stray = ledgers.refunds.filter((r) => !known.has(r.paymentIntent) && !planned.has(r.orderId ?? ''));
  for (const r of stray) violations.push(`refund ${r.id} of ${r.paymentIntent} (order ${r.orderId ?? 'unknown'}) for no planned order`);
  return { name: 'refunds never add up to more than the charge', checked: plan.orders.length, violations };
}

/**
 * What PaymentRefunded says matches the gateway and the payment: its
 * gatewayRefundId is a refund of this order that succeeded, for this amount;
 * its paymentId is the payment's; and the last amountRefunded is the total.
 */
function refundsAgreeWithGateway(plan: PlanAsRun, facts: Map<string, Facts>): InvariantResult {
  const violations: string[] = [];
  let checked = 0;
  for (const o of plan.orders) {
    const f = facts.get(o.orderId)!;
    const refunded = [...f.cancelAnswers, ...[...f.refundAnswers.values()].flat()].filter((e) => e.type === 'PaymentRefunded');
    const paymentId = f.terminal[0]?.data.paymentId;
    for (const e of refunded) {
      checked++;
      const at = f.refunds.find((r) => r.id === e.data.gatewayRefundId);
      const what = `${f.label}: PaymentRefunded ${e.id} (refund ${String(e.data.refundId)})`;
      if (!at) violations.push(`${what} names gateway refund ${String(e.data.gatewayRefundId)}, which the gateway has no record of for this order`);
      else if (at.status !== 'succeeded' || BigInt(at.amount) !== minor(e.data.amount, o.currency)) violations.push(`${what} for ${String(e.data.amount)}; the gateway's ${at.id} is ${at.status} for ${at.amount} minor units`);
      if (paymentId !== undefined && e.data.paymentId !== paymentId) violations.push(`${what} names payment ${String(e.data.paymentId)}, its terminal event ${String(paymentId)}`);
    }
    if (!refunded.length) continue;
    const total = refunded.reduce((sum, e) => sum + (minor(e.data.amount, o.currency) ?? 0n), 0n);
    const last = refunded.map((e) => minor(e.data.amountRefunded, o.currency) ?? -1n).reduce((a, b) => (b > a ? b : a));
    if (last !== total) violations.push(`${f.label}: the largest amountRefunded is ${minorText(last)} minor units, the refunds answered add up to ${minorText(total)}`);
  }
  return { name: 'PaymentRefunded agrees with the gateway: its refund succeeded for its amount; amountRefunded ends at the total', checked, violations };
}

function nothingUnasked(plan: PlanAsRun, events: SeenEvent[]): InvariantResult {
  const orders = new Map(plan.orders.map((o) => [o.orderId, o]));
  const answers = distinct(events.filter((e) => ANSWERS.has(e.type)));
  const violations: string[] = [];
  for (const e of answers) {
    const o = orders.get(String(e.data?.orderId));
    const what = `${e.type} ${e.id}${e.data?.refundId ? ` refund ${String(e.data.refundId)}` : ''}`;
    if (e.messageId !== e.id) violations.push(`${what}: AMQP messageId ${String(e.messageId)} is not the event id`);
    if (!o) {
      violations.push(`${what} for order ${String(e.data?.orderId)}, which is in no plan`);
      continue;
    }
    const planned = o.refunds.some((r) => r.refundId === e.data.refundId);
    if (planned) continue;
    if (e.type === 'RefundFailed') violations.push(`${labelOf(o)}: ${what} for a refund never requested`);
    else if (!o.cancel) violations.push(`${labelOf(o)}: ${what}, but the order was never cancelled`);
  }
  return { name: 'no compensation answer that nobody asked for', checked: answers.length, violations };
}

/** What the gateway holds for the order, so an unanswered message's report says where its money is. */
