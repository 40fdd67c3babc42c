import { SpanKind } from '@opentelemetry/api';
import type { Logger } from '../observability/logger.js';
import { ATTR, contextFromHeaders, type SpanSpec } from '../observability/tracing.js';
import type { DeadLetterReason, Metrics } from '../observability/metrics.js';
import { CARD_DATA_REASON, type DeadLetter, type DeadLetterMessage } from './dead-letter.js';

/**
 * What every input consumer does with a delivery it refuses or cannot handle
 * yet, whatever its event type: dead-letter it (masked, with a reason), or
 * answer nack so it comes back later, or, on the last delivery the queue
 * allows, settle it without losing it.
 */

/** What to tell the broker about a delivery once handled. */
export type Settlement = 'ack' | 'nack';

/** One delivery (amqplib's ConsumeMessage fits). */
export type ConsumedMessage = DeadLetterMessage;

export type MessageHandler = (message: ConsumedMessage) => Promise<Settlement>;

/** Counts deliveries by outcome (`created`, `duplicate`, `retry`…). */
export interface OutcomeCounter {
  inc(labels: { outcome: string }): void;
}

export interface OutcomeDeps {
  deadLetter: DeadLetter;
  metrics: Pick<Metrics, 'deadLetters'>;
  consumed: OutcomeCounter;
}

/** Thrown when the record is saved but its job could not be enqueued: a sweeper can finish from the record. */
export class EnqueueFailedError extends Error {
  constructor(
    readonly what: string,
    cause: unknown,
  ) {
    super(`${what} saved but not enqueued: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'EnqueueFailedError';
  }
}

/** Runs `enqueue`, turning its failure into EnqueueFailedError (the record of `what` is already saved). */
export async function enqueueSaved(what: string, enqueue: () => Promise<void>): Promise<void> {
  try {
    await enqueue();
  } catch (err) {
    throw new EnqueueFailedError(what, err);
  }
}

/**
 * Parsing is pure: an exception there would come back on every delivery, so
 * it is never answered with a nack (a redelivery loop that demotes every
 * process in turn). The message is dead-lettered once, masked like every
 * copy, with a reason that quotes nothing of it.
 */
export function parseSafely<T>(parse: () => T, logger: Logger): T | { kind: 'dead-letter'; reason: string } {
  try {
    return parse();
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
export function consumerSpan(
  exchange: string,
  attributed?: { orderId: string; eventId: string; traceHeaders: Record<string, string> },
): SpanSpec {
  const attributes = { 'messaging.system': 'rabbitmq', 'messaging.operation.type': 'process', 'messaging.destination.name': exchange };
  if (!attributed) return { kind: SpanKind.CONSUMER, attributes, parent: contextFromHeaders({}) };
  const { orderId, eventId, traceHeaders } = attributed;
  return {
    kind: SpanKind.CONSUMER,
    attributes: { ...attributes, 'messaging.message.id': eventId, [ATTR.orderId]: orderId },
    parent: contextFromHeaders(traceHeaders),
  };
}

export async function refuseCardData(deps: OutcomeDeps, message: ConsumedMessage, log: Logger): Promise<string> {
  // Nothing of the message is logged: not even its ids, which could carry the number.
  await deps.deadLetter(message, CARD_DATA_REASON);
  deps.metrics.deadLetters.inc({ reason: 'card_data' });
  log.warn('refused a message carrying card data: dead-lettered masked');
  return 'card-data';
}

export async function park(deps: OutcomeDeps, message: ConsumedMessage, reason: string, kind: DeadLetterReason, log: Logger): Promise<string> {
  await deps.deadLetter(message, reason);
  deps.metrics.deadLetters.inc({ reason: kind });
  log.warn({ reason }, 'dead-lettered an event');
  return 'dead-lettered';
}

/** Quorum queues count earlier deliveries in `x-delivery-count`; past the limit the broker dead-letters. */
export function isLastDelivery(message: ConsumedMessage, limit: number): boolean {
  const count = Number(message.properties.headers?.['x-delivery-count'] ?? 0);
  return Number.isFinite(count) && count >= limit;
}

/**
 * Usually a nack (delivered again later). On the last delivery the broker
 * would dead-letter the message itself, without a reason, so: a saved record
 * is left to the sweeper (ack); anything else is parked with the error as
 * reason; a card-data message is dropped rather than ever kept unmasked.
 */
export async function failed(
  deps: OutcomeDeps,
  message: ConsumedMessage,
  cardData: boolean,
  err: unknown,
  last: boolean,
  log: Logger,
): Promise<Settlement> {
  const reason = (err as Error)?.message ?? String(err);
  log.warn({ err: { message: reason, code: (err as { code?: string })?.code }, lastDelivery: last }, 'could not handle the event');
  deps.consumed.inc({ outcome: 'retry' });
  if (!last) return 'nack';
  if (cardData) {
    log.error('dropped a card-data message: its masked copy could not be kept');
    return 'ack';
  }
  if (err instanceof EnqueueFailedError) {
    log.error(`${err.what} saved but never enqueued: the sweeper will enqueue it`);
    return 'ack';
  }
  try {
    await park(deps, message, `gave up after repeated failures: ${reason}`.slice(0, 1000), 'gave_up', log);
    return 'ack';
  } catch {
    return 'nack';
  }
}
