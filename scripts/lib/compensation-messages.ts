import { randomUUID } from 'node:crypto';
import type { ConfirmChannel } from 'amqplib';

/**
 * The order service's compensation messages (CONTRACT.md §8), for tests and
 * the chaos run: builders in the contract's CloudEvents envelope and a
 * publisher to `order.events` with the routing key each type travels under.
 */
export const ORDER_EVENTS_EXCHANGE = 'order.events';

export interface OrderCancelled {
  orderId: string;
  reason?: string;
}

export interface RefundRequested {
  orderId: string;
  /** The caller's idempotency key (a UUID). */
  refundId: string;
  /** A decimal string with the currency's minor-unit digits, as in InventoryReserved. */
  amount: string;
  reason?: string;
}

export type OrderEvent = ReturnType<typeof orderCancelled> | ReturnType<typeof refundRequested>;

export const ROUTING_KEYS = { OrderCancelled: 'order.cancelled', RefundRequested: 'order.refund_requested' } as const;

function envelope<T extends string, D>(type: T, data: D, id: string) {
  return { specversion: '1.0', id, source: 'order-service', type, time: new Date().toISOString(), datacontenttype: 'application/json', data };
}

export function orderCancelled(data: OrderCancelled, id: string = randomUUID()) {
  return envelope('OrderCancelled', { reason: 'customer_request', ...data }, id);
}

export function refundRequested(data: RefundRequested, id: string = randomUUID()) {
  return envelope('RefundRequested', { reason: 'requested_by_customer', ...data }, id);
}

/** The same data under a new event id: the order service sending it again, which must be absorbed too. */
export function underNewId<E extends OrderEvent>(event: E): E {
  return { ...event, id: randomUUID(), time: new Date().toISOString() };
}

/** What the broker needs to route and tag one order event: exchange, routing key, body and properties. */
export function orderEventMessage(event: OrderEvent) {
  return {
    exchange: ORDER_EVENTS_EXCHANGE,
    routingKey: ROUTING_KEYS[event.type],
    body: Buffer.from(JSON.stringify(event)),
    options: { persistent: true, contentType: 'application/cloudevents+json', messageId: event.id, type: event.type },
  };
}

/** Publishes to `order.events` on a confirm channel and resolves once the broker confirmed it. */
export async function publishOrderEvent(channel: ConfirmChannel, event: OrderEvent): Promise<void> {
  const m = orderEventMessage(event);
  await new Promise<void>((resolve, reject) => {
    channel.publish(m.exchange, m.routingKey, m.body, m.options, (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
  });
}

/** Declares `order.events` as the worker does (idempotent), so a publish before any worker started is routed. */
export async function assertOrderEvents(channel: ConfirmChannel): Promise<void> {
  await channel.assertExchange(ORDER_EVENTS_EXCHANGE, 'topic', { durable: true });
}
