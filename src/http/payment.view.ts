import type { PaymentEventRecord } from '../persistence/outbox.repository.js';
import type { OrderCancellation, Refund } from '../persistence/compensations.repository.js';
import type { Payment, Transition } from '../persistence/payments.repository.js';
import { formatAmount } from '../money.js';
import { compensationView, type CompensationView } from './compensation.view.js';
import { redactForDisplay } from './display.redact.js';

/**
 * A payment as the ops server shows it. Built field by field (never a spread
 * of the row) so a column added later, or the payment method, cannot leak:
 * the payment method and the raw gateway response are never shown.
 */
export interface PaymentView extends CompensationView {
  orderId: string;
  paymentId: string;
  status: string;
  /** Decimal string with the currency's digits, as on the wire. */
  amount: string;
  /** Integer minor units as a string: JSON numbers are floats. */
  amountMinor: string;
  currency: string;
  customerId: string | null;
  transactionId: string | null;
  gateway: string | null;
  failureCode: string | null;
  failureReason: string | null;
  attempts: number | null;
  lastError: string | null;
  machineVersion: number;
  sourceEventId: string | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  failedAt: string | null;
  history: HistoryView[];
  /** The events this payment published (or has waiting in the outbox), when the outbox is wired in. */
  events: EventView[];
}

export interface EventView {
  id: string;
  type: string;
  routingKey: string;
  createdAt: string;
  publishedAt: string | null;
  publishAttempts: number;
}

export interface HistoryView {
  at: string;
  from: string | null;
  to: string;
  event: string;
  /** True when the state changed; false for a note (a gateway call, a look-up, a retry scheduled). */
  transition: boolean;
  detail: Record<string, unknown> | null;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function historyView(t: Transition): HistoryView {
  return {
    at: t.createdAt.toISOString(),
    from: t.fromStatus,
    to: t.toStatus,
    event: t.event,
    transition: t.fromStatus !== t.toStatus,
    detail: t.detail ? (redactForDisplay(t.detail) as Record<string, unknown>) : null,
  };
}

/** From the minor units, so the string always has the currency's digits ("5000" JPY, "1.250" BHD). */
function decimalAmount(p: Payment): string {
  try {
    return formatAmount(p.amountMinor, p.currency);
  } catch {
    return p.amount;
  }
}

/** What was given back of the payment: none when the ops server reads no compensations. */
export interface Compensations {
  refunds?: Refund[];
  cancellation?: OrderCancellation | null;
}

const NONE: Compensations = { refunds: [], cancellation: null };

export function paymentView(
  p: Payment,
  history: Transition[],
  events: PaymentEventRecord[] = [],
  compensations: Compensations = NONE,
): PaymentView {
  const context = p.snapshot?.context;
  return {
    orderId: p.orderId,
    paymentId: p.id,
    status: p.status,
    amount: decimalAmount(p),
    amountMinor: p.amountMinor.toString(),
    currency: p.currency,
    customerId: p.customerId,
    transactionId: p.transactionId,
    gateway: p.gateway,
    failureCode: p.failureCode,
    failureReason: p.failureReason,
    attempts: typeof context?.attempts === 'number' ? context.attempts : null,
    lastError: typeof context?.lastError === 'string' ? context.lastError : null,
    machineVersion: p.snapshot?.version ?? 0,
    sourceEventId: p.sourceEventId,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
    completedAt: iso(p.completedAt),
    failedAt: iso(p.failedAt),
    ...compensationView(p, compensations.refunds ?? [], compensations.cancellation ?? null),
    history: history.map(historyView),
    events: events.map((e) => ({
      id: e.id,
      type: e.type,
      routingKey: e.routingKey,
      createdAt: e.createdAt.toISOString(),
      publishedAt: iso(e.publishedAt),
      publishAttempts: e.publishAttempts,
    })),
  };
}

/** One line of a payment's timeline: a history row or an event's publication, in time order. */
export interface TimelineEntry {
  at: string;
  kind: 'transition' | 'note' | 'event' | 'event-pending';
  from: string | null;
  to: string | null;
  event: string;
  detail: Record<string, unknown> | null;
}

export function timelineOf(v: PaymentView): TimelineEntry[] {
  const rows: TimelineEntry[] = v.history.map((h) => ({
    at: h.at,
    kind: h.transition ? 'transition' : 'note',
    from: h.from,
    to: h.to,
    event: h.event,
    detail: h.detail,
  }));
  for (const e of v.events) {
    const published = e.publishedAt !== null;
    rows.push({
      at: e.publishedAt ?? e.createdAt,
      kind: published ? 'event' : 'event-pending',
      from: null,
      to: null,
      event: published ? `${e.type} published` : `${e.type} waiting in outbox`,
      detail: { eventId: e.id, routingKey: e.routingKey, publishAttempts: e.publishAttempts },
    });
  }
  // Stable sort: an event written in the same transaction as its state stays after it.
  return rows.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}
