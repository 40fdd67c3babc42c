import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { ATTR, inSpan } from '../observability/tracing.js';
import type { CompensationsRepository } from '../persistence/compensations.repository.js';
import type { CompensationEnqueuer } from './compensations.queue.js';
import {
  consumerSpan,
  enqueueSaved,
  failed,
  isLastDelivery,
  park,
  parseSafely,
  refuseCardData,
  type ConsumedMessage,
  type MessageHandler,
  type OutcomeCounter,
  type OutcomeDeps,
} from './consumer-outcomes.js';
import type { DeadLetter } from './dead-letter.js';
import { startQueueConsumer, type InputConsumer, type InputConsumerOptions } from './inventory-consumer.runner.js';
import { parseOrderDelivery, type OrderCancelled, type OrderDelivery, type RefundRequested } from './order-event.schema.js';
import { refundConflicts, refundFromEvent } from './order-refund-request.js';
import { INPUT_DELIVERY_LIMIT, ORDER_EVENTS_QUEUE, ORDER_EXCHANGE } from './topology.js';

export { type InputConsumer } from './inventory-consumer.runner.js';

export interface OrderEventsConsumerDeps {
  compensations: Pick<CompensationsRepository, 'recordCancellation' | 'insertRefund' | 'paymentOf'>;
  /** Enqueues the compensation's job; idempotent (job id from the durable id). */
  enqueue: CompensationEnqueuer;
  deadLetter: DeadLetter;
  logger: Logger;
  metrics: Pick<Metrics, 'dedupeHits' | 'deadLetters'>;
  /** Counts deliveries by outcome; none by default (metrics.ts has no counter for this input yet). */
  consumed?: OutcomeCounter;
  /** The queue's `x-delivery-limit`: on the last delivery a failing message is parked, not nacked. */
  deliveryLimit?: number;
}

const NOT_COUNTED: OutcomeCounter = { inc: () => undefined };

/**
 * The compensation input (CONTRACT.md §8), with the InventoryReserved input's
 * guarantees: what cannot be attributed is dead-lettered with `x-error`, card
 * data is dead-lettered masked and nothing of it kept; otherwise the request
 * is recorded in PostgreSQL first, then its job enqueued, then the message
 * acked. PostgreSQL or Redis down: nack, delivered again later, nothing lost.
 */
export function createOrderEventsConsumer(deps: OrderEventsConsumerDeps): MessageHandler {
  const limit = deps.deliveryLimit ?? INPUT_DELIVERY_LIMIT;
  const outcomes: OutcomeDeps = { deadLetter: deps.deadLetter, metrics: deps.metrics, consumed: deps.consumed ?? NOT_COUNTED };
  return async (message) => {
    const delivery = parseSafely(() => parseOrderDelivery(message.content, message.properties), deps.logger);
    const event = attributed(delivery);
    const log = event ? deps.logger.child({ orderId: event.orderId, eventId: event.eventId }) : deps.logger;
    // The job is enqueued inside this span, so the job's trace continues the incoming event's.
    return inSpan(`process ${ORDER_EVENTS_QUEUE}`, consumerSpan(ORDER_EXCHANGE, event), async (span) => {
      try {
        let outcome: string;
        if (delivery.kind === 'card-data') outcome = await refuseCardData(outcomes, message, log);
        else if (delivery.kind === 'dead-letter') outcome = await park(outcomes, message, delivery.reason, 'unattributable', log);
        else if (delivery.kind === 'order-cancelled') outcome = await recordCancellation(deps, delivery.event, log);
        else outcome = await recordRefund(deps, outcomes, message, delivery.event, log);
        outcomes.consumed.inc({ outcome });
        span.setAttribute(ATTR.consumed, outcome);
        return 'ack';
      } catch (err) {
        span.setAttribute(ATTR.consumed, 'retry');
        return failed(outcomes, message, delivery.kind === 'card-data', err, isLastDelivery(message, limit), log);
      }
    });
  };
}

/** Consumes `payment-service.order-events` as startInventoryConsumer consumes its queue (priorities, retry delays, ack runs). */
export function startOrderEventsConsumer(o: InputConsumerOptions): InputConsumer {
  return startQueueConsumer({ ...o, queue: ORDER_EVENTS_QUEUE, name: 'order-events' });
}

function attributed(delivery: OrderDelivery): OrderCancelled | RefundRequested | undefined {
  return delivery.kind === 'order-cancelled' || delivery.kind === 'refund-requested' ? delivery.event : undefined;
}

/**
 * One record per order, however often it is cancelled: the first stands, a
 * repeat is absorbed. Re-enqueued while unanswered (the job id makes that a
 * no-op while the job is kept), so a job lost with Redis is asked for again.
 */
async function recordCancellation(deps: OrderEventsConsumerDeps, event: OrderCancelled, log: Logger): Promise<string> {
  const { created, cancellation } = await deps.compensations.recordCancellation({
    orderId: event.orderId,
    sourceEventId: event.eventId,
    reason: event.reason,
  });
  if (!created) deps.metrics.dedupeHits.inc({ layer: 'row' });
  if (cancellation.answeredAt === null) await enqueueSaved('cancellation', () => deps.enqueue.cancellation(event.orderId));
  log.info({ answered: cancellation.answeredAt !== null }, created ? 'cancellation recorded' : 'duplicate cancellation absorbed');
  return created ? 'cancellation' : 'duplicate';
}

/**
 * One record per refundId. The same refundId for the same order and amount is
 * absorbed; for another order or amount it is a conflict: parked, the first
 * request stands and is refunded at most once.
 */
async function recordRefund(
  deps: OrderEventsConsumerDeps,
  outcomes: OutcomeDeps,
  message: ConsumedMessage,
  event: RefundRequested,
  log: Logger,
): Promise<string> {
  const refundLog = log.child({ refundId: event.refundId });
  const wanted = refundFromEvent(event, await deps.compensations.paymentOf(event.orderId));
  const { created, refund } = await deps.compensations.insertRefund(wanted);
  if (!created) {
    const differences = refundConflicts(refund, wanted);
    if (differences.length > 0) {
      const reason = `conflict: refund ${refund.id} was already requested (${refund.status}); this event differs: ${differences.join('; ')}. The first request stands; use a new refundId for another refund.`;
      await park(outcomes, message, reason, 'conflict', refundLog);
      return 'conflict';
    }
    deps.metrics.dedupeHits.inc({ layer: 'row' });
  }
  const open = refund.status === 'requested' || refund.status === 'pending';
  if (open) await enqueueSaved('refund request', () => deps.enqueue.refund({ refundId: refund.id, orderId: refund.orderId }));
  refundLog.info(
    { status: refund.status, invalid: refund.failureCode === 'invalid_request', paymentKnown: refund.paymentId !== null },
    created ? 'refund request recorded' : 'duplicate refund request absorbed',
  );
  return created ? 'refund' : 'duplicate';
}
