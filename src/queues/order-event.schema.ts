import type { MessageProperties } from 'amqplib';
import { z } from 'zod';
import { asText, describeIssue, screenDelivery, uuidField } from './cloudevent-delivery.js';

/**
 * Sorts one raw `order.events` delivery (CONTRACT.md §8) into what §3's
 * bad-input table does with it. What every input refuses (size, card data,
 * envelope, type, long text, order id) is cloudevent-delivery.ts's. A
 * RefundRequested also needs its refundId: without one it cannot be answered
 * as a refund, so it is dead-lettered. Its amount is kept as given: its
 * digits depend on the payment's currency, checked once the payment is known
 * (order-refund-request.ts); an amount that no currency could make valid is
 * marked here, and answered RefundFailed(invalid_request).
 */

export const ORDER_CANCELLED = 'OrderCancelled';
export const REFUND_REQUESTED = 'RefundRequested';
export const ORDER_EVENT_TYPES = [ORDER_CANCELLED, REFUND_REQUESTED] as const;

interface Attributed {
  eventId: string;
  /** Lower case, as PostgreSQL prints a uuid. */
  orderId: string;
  /** The sender's words, or null when it gave none. */
  reason: string | null;
  /** W3C trace context (`traceparent`, `tracestate`) from the message headers or the event. */
  traceHeaders: Record<string, string>;
}

export type OrderCancelled = Attributed;

export interface RefundRequested extends Attributed {
  /** Lower case; the caller's idempotency key and the refund's id. */
  refundId: string;
  /** As given: the decimal string, or another value's JSON text (printable ASCII only); null when missing. */
  amount: string | null;
  /** Why no currency could make the amount valid; null when the payment's currency decides. */
  amountProblem: string | null;
}

export type OrderDelivery =
  | { kind: 'card-data' }
  | { kind: 'dead-letter'; reason: string }
  | { kind: 'order-cancelled'; event: OrderCancelled }
  | { kind: 'refund-requested'; event: RefundRequested };

const refundAttribution = z.looseObject({ refundId: uuidField() });

/** A positive decimal without leading zeros; how many digits the fraction has is the currency's to say. */
const DECIMAL = /^(0|[1-9]\d*)(\.\d+)?$/;

export function parseOrderDelivery(body: Buffer, properties: Partial<MessageProperties> = {}): OrderDelivery {
  const screened = screenDelivery(body, properties, ORDER_EVENT_TYPES);
  if (screened.kind !== 'event') return screened;
  const { event, eventId, orderId, traceHeaders } = screened;
  const attributed = { eventId: storable(eventId), orderId, reason: reasonOf(event.data.reason), traceHeaders };
  if (event.type === ORDER_CANCELLED) return { kind: 'order-cancelled', event: attributed };
  const refund = refundAttribution.safeParse(event.data);
  if (!refund.success) return { kind: 'dead-letter', reason: `data.${describeIssue(refund.error)}: a RefundRequested names its refund` };
  const given = event.data.amount;
  return {
    kind: 'refund-requested',
    event: {
      ...attributed,
      refundId: refund.data.refundId.toLowerCase(),
      amount: given === undefined || given === null ? null : typeof given === 'string' ? storable(given) : asText(given),
      amountProblem: amountProblem(given),
    },
  };
}

function amountProblem(amount: unknown): string | null {
  if (amount === undefined || amount === null) return 'amount is missing: a decimal string such as "49.99" is expected';
  if (typeof amount !== 'string') return 'amount must be a decimal string such as "49.99", not a number';
  if (!DECIMAL.test(amount)) return 'amount must be a decimal string such as "49.99"';
  if (/^[0.]*$/.test(amount)) return 'amount must be greater than zero';
  return null;
}

/**
 * The reason is the sender's note, never what decides anything: a missing one
 * is null and any other JSON value is kept as its text. A cancellation is
 * never refused over its note.
 */
function reasonOf(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? storable(value) : asText(value);
}

/** PostgreSQL text cannot hold NUL: kept, such a field would fail every insert and loop the message. */
function storable(text: string): string {
  return text.replaceAll('\u0000', '');
}
