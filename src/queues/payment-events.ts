import { randomUUID } from 'node:crypto';
import type { OutboxEvent } from '../persistence/payments.repository.js';
import {
  PAYMENT_CANCELLED_KEY,
  PAYMENT_COMPLETED_KEY,
  PAYMENT_DISPUTED_KEY,
  PAYMENT_FAILED_KEY,
  PAYMENT_REFUNDED_KEY,
  REFUND_FAILED_KEY,
  SERVICE_SOURCE,
} from './topology.js';

/** A CloudEvents 1.0 structured-mode event (CONTRACT.md §3). */
export interface CloudEvent<T = Record<string, unknown>> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  datacontenttype: 'application/json';
  subject?: string;
  data: T;
}

export interface PaymentCompletedData {
  orderId: string;
  paymentId: string;
  transactionId: string;
  amount: string;
  currency: string;
  timestamp: string;
}

export interface PaymentFailedData {
  orderId: string;
  paymentId: string;
  reason: string;
  code: string;
  timestamp: string;
}

function envelope<T extends object>(type: string, subject: string, data: T, now: Date): CloudEvent<T> {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: SERVICE_SOURCE,
    type,
    time: now.toISOString(),
    datacontenttype: 'application/json',
    subject,
    data,
  };
}

/** The outbox row of one event on payment.events (CONTRACT.md §3, §8); its id is the CloudEvent id. */
function outboxEvent<T extends { orderId: string }>(type: string, routingKey: string, data: T, now: Date): OutboxEvent {
  const event = envelope(type, data.orderId, { ...data, timestamp: now.toISOString() }, now);
  return { id: event.id, type, routingKey, payload: event as unknown as Record<string, unknown> };
}

export const paymentCompleted = (p: Omit<PaymentCompletedData, 'timestamp'>, now = new Date()) =>
  outboxEvent('PaymentCompleted', PAYMENT_COMPLETED_KEY, p, now);

export const paymentFailed = (p: Omit<PaymentFailedData, 'timestamp'>, now = new Date()) =>
  outboxEvent('PaymentFailed', PAYMENT_FAILED_KEY, p, now);

/** A refund went through: `amount` this refund, `amountRefunded` the total so far, both decimal strings. */
export const paymentRefunded = (
  p: { orderId: string; paymentId: string; refundId: string; amount: string; amountRefunded: string; currency: string; gatewayRefundId: string | null },
  now = new Date(),
) => outboxEvent('PaymentRefunded', PAYMENT_REFUNDED_KEY, p, now);

export const refundFailed = (p: { orderId: string; refundId: string; code: string; reason: string }, now = new Date()) =>
  outboxEvent('RefundFailed', REFUND_FAILED_KEY, p, now);

/** The order is cancelled and none of its money is held; `paymentId` null when it never had a payment. */
export const paymentCancelled = (p: { orderId: string; paymentId: string | null }, now = new Date()) =>
  outboxEvent('PaymentCancelled', PAYMENT_CANCELLED_KEY, p, now);

export const paymentDisputed = (
  p: { orderId: string; paymentId: string; disputeId: string; amount: string; currency: string; reason: string },
  now = new Date(),
) => outboxEvent('PaymentDisputed', PAYMENT_DISPUTED_KEY, p, now);
