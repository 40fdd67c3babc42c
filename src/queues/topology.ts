import type { Channel } from 'amqplib';

/** RabbitMQ names of CONTRACT.md §3: declared by the worker, idempotently, at start. */
export const INVENTORY_EXCHANGE = 'inventory.events';
export const INVENTORY_RESERVED_KEY = 'inventory.reserved';
export const INPUT_QUEUE = 'payment-service.inventory-reserved';
export const PAYMENT_EXCHANGE = 'payment.events';
export const DEAD_LETTER_QUEUE = 'payment-service.dead-letter';
export const PAYMENT_COMPLETED_KEY = 'payment.completed';
export const PAYMENT_FAILED_KEY = 'payment.failed';
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
 * The input queue is a quorum queue: replicated, and it counts deliveries, so
 * a poison message cannot loop forever. Its dead-lettering is at-least-once
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

/** Declares CONTRACT.md §3's exchanges, queues and binding. Idempotent: run on every (re)connect. */
export async function declareTopology(channel: TopologyChannel): Promise<void> {
  await channel.assertExchange(INVENTORY_EXCHANGE, 'topic', { durable: true });
  await declarePaymentExchange(channel);
  await declareDeadLetterQueue(channel);
  await channel.assertQueue(INPUT_QUEUE, { durable: true, arguments: { ...INPUT_QUEUE_ARGUMENTS } });
  await channel.bindQueue(INPUT_QUEUE, INVENTORY_EXCHANGE, INVENTORY_RESERVED_KEY);
}

/** What the outbox relay needs: publishing to a missing exchange would close its channel. */
export async function declarePaymentExchange(channel: Pick<Channel, 'assertExchange'>): Promise<void> {
  await channel.assertExchange(PAYMENT_EXCHANGE, 'topic', { durable: true });
}

/** What the dead-letter publisher needs: a copy sent to a missing queue would be returned. */
export async function declareDeadLetterQueue(channel: Pick<Channel, 'assertQueue'>): Promise<void> {
  await channel.assertQueue(DEAD_LETTER_QUEUE, { durable: true });
}
