import { UnrecoverableError, type Job } from 'bullmq';
import type { PaymentEvent } from '../machines/payment.types.js';
import { webhookAction, type PaymentLocator, type StripeEventLike } from '../gateway/stripe-webhook-events.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { WebhookEventsRepository, WebhookOutcome } from '../persistence/webhook-events.repository.js';
import type { ApplyWebhookJob } from './compensations.queue.js';

/**
 * The ApplyWebhook job: one recorded Stripe event, mapped to a machine event
 * and applied to its payment through `apply` (the worker's, injected). A
 * duplicate or out-of-order event is the machine's to refuse; this only
 * records what happened, once per event.
 */

/** What `apply` found: the machine took the event, refused it (nothing changed), or there is no such payment. */
export type ApplyOutcome = 'applied' | 'refused' | 'no_payment';

export type ApplyPaymentEvent = (locate: PaymentLocator, event: PaymentEvent, detail: Record<string, unknown>) => Promise<ApplyOutcome>;

/**
 * Thrown while attempts are left when no payment matches the event yet (a
 * webhook can overtake the write that creates or identifies its payment), so
 * BullMQ retries it with backoff. On the last attempt the event is recorded
 * `no_payment` instead.
 */
export class PaymentNotFoundYetError extends Error {
  readonly code = 'payment_not_found_yet';
  constructor(eventId: string, locate: PaymentLocator) {
    super(`no payment found for Stripe event ${eventId} by ${JSON.stringify(locate)} yet: retried, as the event may have arrived first`);
    this.name = 'PaymentNotFoundYetError';
  }
}

export interface WebhookApplierDeps {
  webhooks: Pick<WebhookEventsRepository, 'find' | 'startAttempt' | 'settle'>;
  apply: ApplyPaymentEvent;
  /** The configured Stripe gateway's name, recorded with a charge a webhook settles. */
  gateway: string;
  logger: Logger;
  metrics: Pick<Metrics, 'webhooksApplied'>;
}

export type WebhookJob = Pick<Job<ApplyWebhookJob>, 'id' | 'data' | 'attemptsMade' | 'opts'>;

export interface WebhookJobResult {
  eventId: string;
  outcome: WebhookOutcome;
  /** False when the row had been settled before this run (a repeated job). */
  settledNow: boolean;
}

const isEventLike = (payload: unknown): payload is StripeEventLike =>
  typeof payload === 'object' && payload !== null && typeof (payload as StripeEventLike).type === 'string' && typeof (payload as StripeEventLike).data === 'object';

/** BullMQ retries a failed attempt while attemptsMade + 1 < attempts. */
const isLastAttempt = (job: WebhookJob) => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);

export function createWebhookApplier({ webhooks, apply, gateway, logger, metrics }: WebhookApplierDeps) {
  return async function applyWebhook(job: WebhookJob): Promise<WebhookJobResult> {
    const { eventId } = job.data;
    // 1 load: the row is written before the job is enqueued, so a missing one is not worth retrying.
    const found = await webhooks.find(eventId);
    if (!found) throw new UnrecoverableError(`no webhook_events row for Stripe event ${eventId}: the endpoint writes it before enqueueing; check the database`);
    if (found.outcome !== null) return { eventId, outcome: found.outcome, settledNow: false };
    const row = (await webhooks.startAttempt(eventId)) ?? found;
    const log = logger.child({ eventId, eventType: row.type, jobId: job.id, attempt: row.attempts });

    // 2 map: an event the service does not act on is settled as ignored.
    const action = isEventLike(row.payload) ? webhookAction(row.payload, { gateway }) : { ignore: 'the stored payload is not a Stripe event' };
    if ('ignore' in action) return settle(eventId, row.type, 'ignored', log.child({ reason: action.ignore }));

    // 3 apply: the machine decides; a refusal is an answer, not an error.
    const bound = log.child({ ...action.locate, paymentEvent: action.event.type });
    const outcome = await apply(action.locate, action.event, { source: 'stripe_webhook', eventId, eventType: row.type, receivedAt: row.receivedAt });
    if (outcome === 'no_payment' && !isLastAttempt(job)) {
      bound.info('Stripe webhook found no payment yet: retrying later');
      throw new PaymentNotFoundYetError(eventId, action.locate);
    }
    // 4 record, once.
    return settle(eventId, row.type, outcome, bound);
  };

  async function settle(eventId: string, type: string, outcome: WebhookOutcome, log: Logger): Promise<WebhookJobResult> {
    const settledNow = await webhooks.settle(eventId, outcome);
    // Counted by the run that settled it, so a repeated job does not count twice.
    if (settledNow) metrics.webhooksApplied.inc({ type, outcome });
    const level = outcome === 'no_payment' ? 'warn' : 'info';
    log[level]({ outcome, settledNow }, `Stripe webhook ${outcome}`);
    return { eventId, outcome, settledNow };
  }
}
