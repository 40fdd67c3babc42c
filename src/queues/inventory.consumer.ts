import type { Logger } from '../observability/logger.js';
import { ATTR, inSpan, withTraceHeaders } from '../observability/tracing.js';
import type { Metrics } from '../observability/metrics.js';
import type { NewPayment, OutboxEvent, PaymentsRepository } from '../persistence/payments.repository.js';
import { isTerminal } from '../machines/payment.snapshot.js';
import type { DeadLetter } from './dead-letter.js';
import {
  consumerSpan,
  enqueueSaved,
  failed,
  isLastDelivery,
  park,
  parseSafely,
  refuseCardData,
  type ConsumedMessage,
  type OutcomeDeps,
  type Settlement,
} from './consumer-outcomes.js';
import {
  parseInventoryDelivery,
  type InvalidPayment,
  type InventoryDelivery,
  type InventoryReserved,
} from './inventory-event.schema.js';
import { conflictsWith, paymentFromEvent, rejectedPayment } from './inventory-payment.js';
import { INPUT_DELIVERY_LIMIT, INPUT_QUEUE, INVENTORY_EXCHANGE } from './topology.js';
import { crashPoint } from '../workers/crash-points.js';

export { startInventoryConsumer, type InventoryConsumer } from './inventory-consumer.runner.js';
export { isLastDelivery, type Settlement } from './consumer-outcomes.js';

/** One delivery (amqplib's ConsumeMessage fits). */
export type InventoryMessage = ConsumedMessage;

export type InventoryHandler = (message: InventoryMessage) => Promise<Settlement>;

export interface InventoryConsumerDeps {
  payments: Pick<PaymentsRepository, 'insert'>;
  /** Enqueues the charge; idempotent (job id = order id). */
  enqueue: (orderId: string) => Promise<void>;
  deadLetter: DeadLetter;
  logger: Logger;
  metrics: Pick<Metrics, 'dedupeHits' | 'deadLetters' | 'eventsConsumed'>;
  /** Gateway attempts a payment may spend (the machine's `maxAttempts`). */
  maxAttempts: number;
  /** Called after a PaymentFailed was written to the outbox: the relay publishes it at once. */
  onOutboxWritten?: (orderId: string, event: OutboxEvent) => void;
  /** The input queue's `x-delivery-limit`: on the last delivery a failing message is parked, not nacked. */
  deliveryLimit?: number;
}

/**
 * CONTRACT.md's bad-input table, one delivery at a time. The handler decides
 * and the runner acks or nacks on the channel the message came from (a stale
 * delivery tag acked on a new channel would close it).
 * Infrastructure errors (PostgreSQL, Redis, the broker) answer `nack`: the
 * message is delivered again later and nothing is lost.
 */
export function createInventoryConsumer(deps: InventoryConsumerDeps): InventoryHandler {
  const limit = deps.deliveryLimit ?? INPUT_DELIVERY_LIMIT;
  const outcomes = outcomeDeps(deps);
  return async (message) => {
    const delivery = parseSafely(() => parseInventoryDelivery(message.content, message.properties), deps.logger);
    const log = loggerFor(deps.logger, delivery);
    // The job is enqueued inside this span, so the job's trace continues the incoming event's.
    return inSpan(`process ${INPUT_QUEUE}`, consumerSpan(INVENTORY_EXCHANGE, attributed(delivery)), async (span) => {
      try {
        let outcome: string;
        if (delivery.kind === 'card-data') outcome = await refuseCardData(outcomes, message, log);
        else if (delivery.kind === 'dead-letter') outcome = await park(outcomes, message, delivery.reason, 'unattributable', log);
        else if (delivery.kind === 'invalid-payment') outcome = await recordRejected(deps, message, delivery, log);
        else outcome = await startPayment(deps, message, delivery.event, log);
        deps.metrics.eventsConsumed.inc({ outcome });
        span.setAttribute(ATTR.consumed, outcome);
        return 'ack';
      } catch (err) {
        span.setAttribute(ATTR.consumed, 'retry');
        return failed(outcomes, message, delivery.kind === 'card-data', err, isLastDelivery(message, limit), log);
      }
    });
  };
}

function outcomeDeps(deps: InventoryConsumerDeps): OutcomeDeps {
  return { deadLetter: deps.deadLetter, metrics: deps.metrics, consumed: deps.metrics.eventsConsumed };
}

function attributed(delivery: InventoryDelivery) {
  if (delivery.kind === 'card-data' || delivery.kind === 'dead-letter') return undefined;
  return delivery.kind === 'valid' ? delivery.event : delivery;
}

/** Bound to the order and event once they are known to be valid ids (never for card data or garbage). */
function loggerFor(logger: Logger, delivery: InventoryDelivery): Logger {
  if (delivery.kind === 'valid') return logger.child({ orderId: delivery.event.orderId, eventId: delivery.event.eventId });
  if (delivery.kind === 'invalid-payment') return logger.child({ orderId: delivery.orderId, eventId: delivery.eventId });
  return logger;
}

async function startPayment(deps: InventoryConsumerDeps, message: InventoryMessage, event: InventoryReserved, log: Logger) {
  return saveOnce(deps, message, paymentFromEvent(event, deps.maxAttempts), log);
}

async function recordRejected(deps: InventoryConsumerDeps, message: InventoryMessage, invalid: InvalidPayment, log: Logger) {
  log.info({ field: invalid.field, reason: invalid.reason }, 'invalid payment data: recording a Failed payment');
  const rejected = rejectedPayment(invalid, deps.maxAttempts);
  // Its PaymentFailed continues the incoming event's trace, as a job's terminal event does.
  if (rejected.failure) rejected.failure.outbox = withTraceHeaders(rejected.failure.outbox);
  return saveOnce(deps, message, rejected, log);
}

/**
 * Inserts the payment unless the order has one. The same data again is a
 * duplicate (absorbed; re-enqueued while unfinished, the job id makes that a
 * no-op); other data is a conflict: parked, never charged.
 */
async function saveOnce(deps: InventoryConsumerDeps, message: InventoryMessage, wanted: NewPayment, log: Logger) {
  const { created, payment } = await deps.payments.insert(wanted);
  if (created) {
    crashPoint('consumer:after-insert');
    if (wanted.failure) deps.onOutboxWritten?.(payment.orderId, wanted.failure.outbox);
    else await enqueue(deps, payment.orderId);
    crashPoint('consumer:after-enqueue');
    log.info({ paymentId: payment.id, status: payment.status }, 'payment recorded');
    return wanted.failure ? 'rejected' : 'created';
  }
  const differences = conflictsWith(payment, wanted);
  if (differences.length > 0) {
    const reason = `conflict: order ${payment.orderId} already has payment ${payment.id} (${payment.status}); this event differs: ${differences.join('; ')}. Not charged.`;
    await park(outcomeDeps(deps), message, reason, 'conflict', log);
    return 'conflict';
  }
  deps.metrics.dedupeHits.inc({ layer: 'row' });
  if (!isTerminal(payment.snapshot)) await enqueue(deps, payment.orderId);
  log.info({ paymentId: payment.id, status: payment.status }, 'duplicate event absorbed');
  return 'duplicate';
}

function enqueue(deps: InventoryConsumerDeps, orderId: string): Promise<void> {
  return enqueueSaved('payment', () => deps.enqueue(orderId));
}
