import type { MessageProperties } from 'amqplib';
import { asText, screenDelivery } from './cloudevent-delivery.js';
import { checkPaymentData, type UsablePaymentData } from './inventory-payment-data.js';

/**
 * Sorts one raw InventoryReserved delivery into what CONTRACT.md's bad-input
 * table does with it: what every input refuses (size, card data, envelope,
 * type, long text, order id) is cloudevent-delivery.ts's; the payment data is
 * checked here.
 */

export { MAX_BODY_BYTES, MAX_TEXT_LENGTH } from './cloudevent-delivery.js';
export const ACCEPTED_TYPE = 'InventoryReserved';

export interface InventoryReserved {
  eventId: string;
  /** Lower case, as PostgreSQL prints a uuid, so job ids and rows agree. */
  orderId: string;
  /** The decimal string as given ("49.99"). */
  amount: string;
  amountMinor: bigint;
  currency: string;
  customerId: string | null;
  paymentMethod: string;
  /** W3C trace context (`traceparent`, `tracestate`) from the message headers or the event. */
  traceHeaders: Record<string, string>;
}

/** Attributable to an order, but its payment data is invalid: the order gets a Failed payment. */
export interface InvalidPayment {
  kind: 'invalid-payment';
  eventId: string;
  orderId: string;
  field: string;
  reason: string;
  /** The parts of the payment data that are valid (null where not), for the Failed row. */
  usable: UsablePaymentData;
  /** Amount and currency as given, as text (for the payment's history). */
  given: { amount: string; currency: string };
  traceHeaders: Record<string, string>;
}

export type InventoryDelivery =
  | { kind: 'card-data' }
  | { kind: 'dead-letter'; reason: string }
  | InvalidPayment
  | { kind: 'valid'; event: InventoryReserved };

export function parseInventoryDelivery(body: Buffer, properties: Partial<MessageProperties> = {}): InventoryDelivery {
  const screened = screenDelivery(body, properties, [ACCEPTED_TYPE]);
  if (screened.kind !== 'event') return screened;
  const { event, eventId, orderId, traceHeaders } = screened;
  const payment = checkPaymentData(event.data);
  if (!payment.ok) {
    const { field, reason, usable } = payment;
    const given = { amount: asText(event.data.amount), currency: asText(event.data.currency) };
    return { kind: 'invalid-payment', eventId, orderId, field, reason, usable, given, traceHeaders };
  }
  return { kind: 'valid', event: { eventId, orderId, ...payment.value, traceHeaders } };
}
