import { randomUUID } from 'node:crypto';
import type { OutboxEvent } from '../persistence/payments.repository.js';
import { PAYMENT_COMPLETED_KEY, PAYMENT_FAILED_KEY, SERVICE_SOURCE } from './topology.js';

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

/** The outbox row for PaymentCompleted; its id is the CloudEvent id. */
export function paymentCompleted(
  p: { orderId: string; paymentId: string; transactionId: string; amount: string; currency: string },
  now = new Date(),
): OutboxEvent {
  const event = envelope<PaymentCompletedData>('PaymentCompleted', p.orderId, { ...p, timestamp: now.toISOString() }, now);
  return { id: event.id, type: event.type, routingKey: PAYMENT_COMPLETED_KEY, payload: event as unknown as Record<string, unknown> };
}

/** The outbox row for PaymentFailed; its id is the CloudEvent id. */
export function paymentFailed(
  p: { orderId: string; paymentId: string; reason: string; code: string },
  now = new Date(),
): OutboxEvent {
  const event = envelope<PaymentFailedData>('PaymentFailed', p.orderId, { ...p, timestamp: now.toISOString() }, now);
  return { id: event.id, type: event.type, routingKey: PAYMENT_FAILED_KEY, payload: event as unknown as Record<string, unknown> };
}
