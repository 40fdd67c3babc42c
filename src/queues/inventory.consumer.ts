import { SpanKind } from '@opentelemetry/api';
import type { Logger } from '../observability/logger.js';
import { ATTR, contextFromHeaders, inSpan, withTraceHeaders, type SpanSpec } from '../observability/tracing.js';
import type { Metrics } from '../observability/metrics.js';
import type { NewPayment, OutboxEvent, PaymentsRepository } from '../persistence/payments.repository.js';
import { isTerminal } from '../machines/payment.snapshot.js';
import { CARD_DATA_REASON, type DeadLetter, type DeadLetterMessage } from './dead-letter.js';
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

/** What to tell the broker about a delivery once handled. */
export type Settlement = 'ack' | 'nack';

/** One delivery (amqplib's ConsumeMessage fits). */
export type InventoryMessage = DeadLetterMessage;

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

/** Thrown when the row is saved but the job could not be enqueued: the sweeper can finish from the row. */
class EnqueueFailedError extends Error {
  constructor(cause: unknown) {
    super(`payment saved but not enqueued: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'EnqueueFailedError';
  }
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
  return async (message) => {
    const delivery = parseSafely(message, deps.logger);
    const log = loggerFor(deps.logger, delivery);
    // The job is enqueued inside this span, so the job's trace continues the incoming event's.
    return inSpan(`process ${INPUT_QUEUE}`, consumerSpan(delivery), async (span) => {
      try {
        let outcome: string;
        if (delivery.kind === 'card-data') outcome = await refuseCardData(deps, message, log);
        else if (delivery.kind === 'dead-letter') outcome = await park(deps, message, delivery.reason, 'unattributable', log);
        else if (delivery.kind === 'invalid-payment') outcome = await recordRejected(deps, message, delivery, log);
        else outcome = await startPayment(deps, message, delivery.event, log);
        deps.metrics.eventsConsumed.inc({ outcome });
        span.setAttribute(ATTR.consumed, outcome);
        return 'ack';
      } catch (err) {
        span.setAttribute(ATTR.consumed, 'retry');
        return failed(deps, message, delivery.kind === 'card-data', err, isLastDelivery(message, limit), log);
      }
    });
  };
}

/**
 * Parsing is pure: an exception there would come back on every delivery, so
 * it is never answered with a nack (a redelivery loop that demotes every
 * process in turn). The message is dead-lettered once, masked like every
 * copy, with a reason that quotes nothing of it.
 */
function parseSafely(message: InventoryMessage, logger: Logger): InventoryDelivery {
  try {
    return parseInventoryDelivery(message.content, message.properties);
  } catch (err) {
    const name = err instanceof Error ? err.name : typeof err;
    logger.error({ errorName: name }, 'could not parse or validate a message: dead-lettering it');
    return { kind: 'dead-letter', reason: `could not be parsed or validated (${name}): a smaller, flatter CloudEvents JSON document is expected` };
  }
}

/**
 * A CONSUMER span whose parent is the event's `traceparent`. Ids only once the
 * event is known to be attributable: a refused message gives nothing of itself.
 */
function consumerSpan(delivery: InventoryDelivery): SpanSpec {
  const attributes = { 'messaging.system': 'rabbitmq', 'messaging.operation.type': 'process', 'messaging.destination.name': INVENTORY_EXCHANGE };
  if (delivery.kind === 'card-data' || delivery.kind === 'dead-letter') return { kind: SpanKind.CONSUMER, attributes, parent: contextFromHeaders({}) };
  const { orderId, eventId, traceHeaders } = delivery.kind === 'valid' ? delivery.event : delivery;
  return {
    kind: SpanKind.CONSUMER,
    attributes: { ...attributes, 'messaging.message.id': eventId, [ATTR.orderId]: orderId },
    parent: contextFromHeaders(traceHeaders),
  };
}

/** Bound to the order and event once they are known to be valid ids (never for card data or garbage). */
function loggerFor(logger: Logger, delivery: InventoryDelivery): Logger {
  if (delivery.kind === 'valid') return logger.child({ orderId: delivery.event.orderId, eventId: delivery.event.eventId });
  if (delivery.kind === 'invalid-payment') return logger.child({ orderId: delivery.orderId, eventId: delivery.eventId });
  return logger;
}

async function refuseCardData(deps: InventoryConsumerDeps, message: InventoryMessage, log: Logger): Promise<string> {
  // Nothing of the message is logged: not even its ids, which could carry the number.
  await deps.deadLetter(message, CARD_DATA_REASON);
  deps.metrics.deadLetters.inc({ reason: 'card_data' });
  log.warn('refused a message carrying card data: dead-lettered masked');
  return 'card-data';
}

async function park(deps: InventoryConsumerDeps, message: InventoryMessage, reason: string, kind: string, log: Logger) {
  await deps.deadLetter(message, reason);
  deps.metrics.deadLetters.inc({ reason: kind });
  log.warn({ reason }, 'dead-lettered an event');
  return 'dead-lettered';
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
    await park(deps, message, reason, 'conflict', log);
    return 'conflict';
  }
  deps.metrics.dedupeHits.inc({ layer: 'row' });
  if (!isTerminal(payment.snapshot)) await enqueue(deps, payment.orderId);
  log.info({ paymentId: payment.id, status: payment.status }, 'duplicate event absorbed');
  return 'duplicate';
}

async function enqueue(deps: InventoryConsumerDeps, orderId: string): Promise<void> {
  try {
    await deps.enqueue(orderId);
  } catch (err) {
    throw new EnqueueFailedError(err);
  }
}

/** Quorum queues count earlier deliveries in `x-delivery-count`; past the limit the broker dead-letters. */
export function isLastDelivery(message: InventoryMessage, limit: number): boolean {
  const count = Number(message.properties.headers?.['x-delivery-count'] ?? 0);
  return Number.isFinite(count) && count >= limit;
}

/**
 * Usually a nack (delivered again later). On the last delivery the broker
 * would dead-letter the message itself, without a reason, so: a saved row is
 * left to the sweeper (ack); anything else is parked with the error as
 * reason; a card-data message is dropped rather than ever kept unmasked.
 */
async function failed(
  deps: InventoryConsumerDeps,
  message: InventoryMessage,
  cardData: boolean,
  err: unknown,
  last: boolean,
  log: Logger,
): Promise<Settlement> {
  const reason = (err as Error)?.message ?? String(err);
  log.warn({ err: { message: reason, code: (err as { code?: string })?.code }, lastDelivery: last }, 'could not handle the event');
  deps.metrics.eventsConsumed.inc({ outcome: 'retry' });
  if (!last) return 'nack';
  if (cardData) {
    log.error('dropped a card-data message: its masked copy could not be kept');
    return 'ack';
  }
  if (err instanceof EnqueueFailedError) {
    log.error('payment saved but never enqueued: the sweeper will enqueue it');
    return 'ack';
  }
  try {
    await park(deps, message, `gave up after repeated failures: ${reason}`.slice(0, 1000), 'gave_up', log);
    return 'ack';
  } catch {
    return 'nack';
  }
}
