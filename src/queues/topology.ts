import type { Channel } from 'amqplib';

/** RabbitMQ names of CONTRACT.md §3: declared by the worker, idempotently, at start. */
export const INVENTORY_EXCHANGE = 'inventory.events';
export const INVENTORY_RESERVED_KEY = 'inventory.reserved';
export const INPUT_QUEUE = 'payment-service.inventory-reserved';
export const PAYMENT_EXCHANGE = 'payment.events';
export const DEAD_LETTER_QUEUE = 'payment-service.dead-letter';
export const PAYMENT_COMPLETED_KEY = 'payment.completed';
export const PAYMENT_FAILED_KEY = 'payment.failed';
/** The compensation input and answers (CONTRACT.md §8). */
export const ORDER_EXCHANGE = 'order.events';
export const ORDER_CANCELLED_KEY = 'order.cancelled';
export const REFUND_REQUESTED_KEY = 'order.refund_requested';
export const ORDER_EVENTS_QUEUE = 'payment-service.order-events';
export const PAYMENT_REFUNDED_KEY = 'payment.refunded';
export const REFUND_FAILED_KEY = 'payment.refund_failed';
export const PAYMENT_CANCELLED_KEY = 'payment.cancelled';
export const PAYMENT_DISPUTED_KEY = 'payment.disputed';
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';
export const SERVICE_SOURCE = 'payment-service';

/**
 * How often the broker hands one message out before it gives up and
 * dead-letters it. The consumer waits longer between each retry (see
 * inventory-consumer.runner.ts), so this many deliveries span minutes: a short
 * database or Redis outage is ridden out, a message that can never succeed is
 * parked in the dead-letter queue instead of looping forever.
 */
export const INPUT_DELIVERY_LIMIT = 20;

/**
 * Both input queues (InventoryReserved, and order events) are quorum queues:
 * replicated, and they count deliveries, so a poison message cannot loop
 * forever. Their dead-lettering is at-least-once
 * (needs `reject-publish` overflow), so a message given up on is never lost
 * on the way to the dead-letter queue.
 * Queue arguments cannot change once the queue exists: changing any of these
 * means a migration (new queue, or a policy), not an edit here.
 */
export const INPUT_QUEUE_ARGUMENTS = Object.freeze({
  'x-queue-type': 'quorum',
  'x-delivery-limit': INPUT_DELIVERY_LIMIT,
  'x-dead-letter-exchange': '',
  'x-dead-letter-routing-key': DEAD_LETTER_QUEUE,
  'x-dead-letter-strategy': 'at-least-once',
  'x-overflow': 'reject-publish',
});

type TopologyChannel = Pick<Channel, 'assertExchange' | 'assertQueue' | 'bindQueue'>;

/** Declares CONTRACT.md §3's exchanges, queues and bindings. Idempotent: run at start. */
export async function declareTopology(channel: TopologyChannel): Promise<void> {
  await declareDeadLetterQueue(channel);
  await declareInputTopology(channel);
}

/**
 * What a consumer declares on every (re)connect: everything but the dead-letter
 * queue. That one is a classic queue, on one node of a RabbitMQ cluster; while
 * its node is down, declaring it fails and would keep the consumers from the
 * input's quorum queues, which still have a majority. The start declares it
 * (`declareTopology`), and the dead-letter publisher on its own channel.
 */
export async function declareInputTopology(channel: TopologyChannel): Promise<void> {
  await channel.assertExchange(INVENTORY_EXCHANGE, 'topic', { durable: true });
  await declarePaymentExchange(channel);
  await channel.assertQueue(INPUT_QUEUE, { durable: true, arguments: { ...INPUT_QUEUE_ARGUMENTS } });
  await channel.bindQueue(INPUT_QUEUE, INVENTORY_EXCHANGE, INVENTORY_RESERVED_KEY);
  await channel.assertExchange(ORDER_EXCHANGE, 'topic', { durable: true });
  // The same delivery limit and dead-lettering: a compensation must not loop, nor be lost on the way to the dead letters.
  await channel.assertQueue(ORDER_EVENTS_QUEUE, { durable: true, arguments: { ...INPUT_QUEUE_ARGUMENTS } });
  await channel.bindQueue(ORDER_EVENTS_QUEUE, ORDER_EXCHANGE, ORDER_CANCELLED_KEY);
  await channel.bindQueue(ORDER_EVENTS_QUEUE, ORDER_EXCHANGE, REFUND_REQUESTED_KEY);
}

/** What the outbox relay needs: publishing to a missing exchange would close its channel. */
export async function declarePaymentExchange(channel: Pick<Channel, 'assertExchange'>): Promise<void> {
  await channel.assertExchange(PAYMENT_EXCHANGE, 'topic', { durable: true });
}

/** What the dead-letter publisher needs: a copy sent to a missing queue would be returned. */
export async function declareDeadLetterQueue(channel: Pick<Channel, 'assertQueue'>): Promise<void> {
  await channel.assertQueue(DEAD_LETTER_QUEUE, { durable: true });
}

/** Declares the topology on a short-lived channel of `connection` (amqp-connection.ts), once it is up. */
export async function declareTopologyOn(connection: { createChannel(o: { name: string; confirm: boolean; setup: (channel: TopologyChannel) => Promise<void> }): { waitForConnect(): Promise<void>; close(): Promise<void> } }): Promise<void> {
  const topology = connection.createChannel({ name: 'topology', confirm: false, setup: (channel) => declareTopology(channel) });
  await topology.waitForConnect();
  await topology.close();
}
