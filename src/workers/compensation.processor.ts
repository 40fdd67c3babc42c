import { UnrecoverableError, type Job } from 'bullmq';
import { gatewayNamed } from '../gateway/index.js';
import type { PaymentGateway } from '../gateway/gateway.port.js';
import { isChargeSettled, type PaymentEvent } from '../machines/payment.machine.js';
import { isRefundOutcome } from '../machines/payment.events.js';
import { migrateSnapshot, refundsOwed, refundsUnsettled } from '../machines/payment.snapshot.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { CompensationsRepository } from '../persistence/compensations.repository.js';
import type { OutboxEvent, Payment, PaymentsRepository } from '../persistence/payments.repository.js';
import { APPLY_WEBHOOK_JOB, CANCEL_ORDER_JOB, REFUND_PAYMENT_JOB, type ApplyWebhookJob, type CompensationJob } from '../queues/compensations.queue.js';
import { checkRefundAmount, cancellationRefundId } from '../queues/order-refund-request.js';
import { paymentCancelled, refundFailed } from '../queues/payment-events.js';
import { advance, ConcurrentUpdateError, RefusedTransitionError } from './payment-transitions.js';
import { RetryLaterError } from './payment.processor.js';
import { lookUpRefund, sendRefund } from './refund-outcome.js';
import { crashPoint } from './crash-points.js';

export interface CompensationDeps {
  payments: Pick<PaymentsRepository, 'findByOrderId' | 'commitTransition' | 'note' | 'orderIdOfTransaction'>;
  compensations: Pick<
    CompensationsRepository,
    'findCancellation' | 'findRefund' | 'markCancellationAnswered' | 'answerCancellationWithoutPayment' | 'refuseRefund' | 'syncRefunds'
  >;
  gateways: ReadonlyArray<{ gateway: PaymentGateway }>;
  logger: Logger;
  metrics: Metrics;
  /** Called for each event committed: the relay publishes it at once. */
  onOutboxWritten?: (orderId: string, event: OutboxEvent) => void;
  /** Counts each refund outcome the payment took, however it came: the refund call, a look-up or a webhook (metrics). */
  onRefundOutcome?: (outcome: 'REFUND_SUCCEEDED' | 'REFUND_PENDING' | 'REFUND_FAILED') => void;
  /** The charge of this order has work owed before a compensation can go on (a cancellation must be voided): run its job now. */
  onChargeOwed?: (orderId: string) => void;
}

/** Where a webhook's event belongs: an order, or the charge a gateway names. */
export type Locate = { orderId: string } | { transactionId: string };
export type Applied = 'applied' | 'refused' | 'no_payment';

/**
 * The saga's other half, one payment at a time, always through its machine:
 * a cancellation (CancelOrder job), a refund asked for (RefundPayment job), or
 * what a gateway's webhook says (`apply`). Each job applies its event, then
 * does the work the machine says is owed: refunds to send, pending refunds to
 * ask about. A refund's attempt, with its idempotency key, is committed in the
 * machine and on its row before the gateway is asked; concurrent jobs on one
 * payment are serialised by the payment's version, and the loser retries.
 */
export function createCompensationProcessor(deps: CompensationDeps) {
  const { payments, compensations } = deps;

  const publish = (orderId: string, events: OutboxEvent[]) => {
    for (const event of events) deps.onOutboxWritten?.(orderId, event);
  };

  async function load(orderId: string): Promise<Payment | undefined> {
    const found = await payments.findByOrderId(orderId);
    return found && { ...found, snapshot: migrateSnapshot(found.snapshot) };
  }

  /** Applies `event` if the machine takes it: the new payment, or the unchanged one when refused. */
  async function applyIfAccepted(payment: Payment, event: PaymentEvent, detail: Record<string, unknown>): Promise<{ payment: Payment; applied: boolean }> {
    try {
      const step = await advance(payments, payment, event, detail);
      publish(payment.orderId, step.outbox);
      if (isRefundOutcome(event)) deps.onRefundOutcome?.(event.type);
      return { payment: step.payment, applied: true };
    } catch (err) {
      if (err instanceof RefusedTransitionError) return { payment, applied: false };
      throw err;
    }
  }

  /**
   * Sends every refund the machine holds as owed and asks about every pending
   * one, committing each outcome. Returns the payment as it then stands.
   * Unsettled outcomes are left owed (asked again on the job's next attempt).
   */
  async function settleRefunds(start: Payment, log: Logger): Promise<Payment> {
    let payment = start;
    // A stray charge's refund goes where that charge is; every other refund to the payment's own gateway.
    const gateway = (refundId: string) =>
      gatewayNamed(deps.gateways.map((g) => g.gateway), payment.snapshot.context.refunds[refundId]?.gateway ?? payment.snapshot.context.gateway ?? '');
    for (const refundId of refundsOwed(payment.snapshot)) {
      // Record before the side effect: the attempt's key is on its row before the gateway sees it.
      await compensations.syncRefunds({ ...payment, refunds: payment.snapshot.context.refunds });
      crashPoint('refund:after-reserve-commit');
      const step = await sendRefund(gateway(refundId), payment, refundId);
      crashPoint('refund:after-gateway-call');
      if (step.kind === 'unsettled') {
        log.warn({ refundId, reason: step.reason }, 'refund outcome unknown: asked again later under the same key');
        continue;
      }
      payment = (await applyIfAccepted(payment, step.event, { refundId })).payment;
      crashPoint('refund:after-outcome-commit');
    }
    for (const refundId of refundsUnsettled(payment.snapshot)) {
      const step = await lookUpRefund(gateway(refundId), payment, refundId);
      if (step.kind === 'event' && step.event.type !== 'REFUND_PENDING') payment = (await applyIfAccepted(payment, step.event, { refundId, via: 'look-up' })).payment;
    }
    await compensations.syncRefunds({ ...payment, refunds: payment.snapshot.context.refunds });
    return payment;
  }

  /** Whether this refund (or, without one, the cancellation) still waits on the gateway or on the charge. */
  function stillOpen(payment: Payment, refundId?: string): string | undefined {
    const ctx = payment.snapshot.context;
    if (refundId) {
      const status = ctx.refunds[refundId]?.status;
      if (status === 'requested' || status === 'pending') return `refund ${refundId} is ${status} at the gateway`;
      return undefined;
    }
    if (ctx.cancellation && !ctx.cancellation.answered) return 'the cancellation waits for its refund or the charge to settle';
    return undefined;
  }

  async function cancelOrder(orderId: string, log: Logger) {
    const cancellation = await compensations.findCancellation(orderId);
    if (!cancellation) throw new UnrecoverableError(`order ${orderId} has no recorded cancellation: the consumer writes it before enqueueing; check the database`);
    if (cancellation.answeredAt) return { answered: true, alreadyDone: true };

    let payment = await load(orderId);
    if (!payment) {
      const event = paymentCancelled({ orderId, paymentId: null });
      if (await compensations.answerCancellationWithoutPayment(orderId, event)) {
        publish(orderId, [event]);
        log.info('order cancelled before it had a payment: answered PaymentCancelled');
        return { answered: true, payment: null };
      }
      payment = await load(orderId); // a payment arrived meanwhile: the machine answers
      if (!payment) return { answered: true, alreadyDone: true };
    }
    if (!payment.snapshot.context.cancellation) {
      const reason = cancellation.reason ?? 'order cancelled';
      payment = (await applyIfAccepted(payment, { type: 'CANCEL', reason, refundId: cancellationRefundId(orderId) }, { sourceEventId: cancellation.sourceEventId })).payment;
    }
    if (!isChargeSettled(payment.status)) {
      // Cancelled while charging: the charge job settles it (cancels the intent, or finds it charged) first.
      deps.onChargeOwed?.(orderId);
      throw new RetryLaterError(`order ${orderId}: cancelled while its charge is ${payment.status}; waiting for the charge to settle`);
    }
    payment = await settleRefunds(payment, log);
    const open = stillOpen(payment);
    if (open) throw new RetryLaterError(`order ${orderId}: ${open}`);
    await compensations.markCancellationAnswered(orderId);
    return { answered: true, status: payment.status };
  }

  async function refundPayment(refundId: string, orderId: string, log: Logger) {
    const requested = await compensations.findRefund(refundId);
    if (!requested) throw new UnrecoverableError(`refund ${refundId} is not recorded: the consumer writes it before enqueueing; check the database`);
    let payment = await load(orderId);
    if (!payment || payment.status === 'Failed' && !payment.snapshot.context.refunds[refundId]) {
      // Nothing was charged that a refund could return.
      const code = 'not_charged';
      const reason = payment ? `order ${orderId} was never charged (${payment.failureCode ?? 'failed'})` : `order ${orderId} has no payment`;
      const event = refundFailed({ orderId, refundId, code, reason });
      if (await compensations.refuseRefund(refundId, code, reason, event)) {
        publish(orderId, [event]);
        log.info({ refundId, code }, 'refund refused: nothing was charged');
      }
      return { refundId, status: 'failed', code };
    }
    if (!isChargeSettled(payment.status)) throw new RetryLaterError(`order ${orderId}: refund ${refundId} waits for the charge (${payment.status})`);

    if (!payment.snapshot.context.refunds[refundId]) {
      const amount = requested.amountMinor !== null ? { ok: true as const, amountMinor: requested.amountMinor } : checkRefundAmount(requested.amount, payment.currency);
      if (!amount.ok || requested.failureCode === 'invalid_request') {
        const reason = amount.ok ? (requested.failureReason ?? 'invalid refund request') : amount.reason;
        const event = refundFailed({ orderId, refundId, code: 'invalid_request', reason });
        if (await compensations.refuseRefund(refundId, 'invalid_request', reason, event)) publish(orderId, [event]);
        return { refundId, status: 'failed', code: 'invalid_request' };
      }
      const event: PaymentEvent = { type: 'REFUND_REQUESTED', refundId, amountMinor: amount.amountMinor.toString(), reason: requested.reason ?? 'refund requested' };
      payment = (await applyIfAccepted(payment, event, { refundId, sourceEventId: requested.sourceEventId })).payment;
    }
    payment = await settleRefunds(payment, log);
    const open = stillOpen(payment, refundId);
    if (open) throw new RetryLaterError(`order ${orderId}: ${open}`);
    const refund = payment.snapshot.context.refunds[refundId];
    return { refundId, status: refund?.status ?? 'unknown', code: refund?.failureCode ?? null };
  }

  /**
   * Applies a gateway's word (a webhook, or a reconciliation repair) to the payment it names, then does
   * what that leaves owed. Refused when the machine does not take the event
   * in the payment's state (a duplicate, or an outcome already known):
   * recorded by the caller, never an error.
   */
  async function apply(locate: Locate, event: PaymentEvent, detail: Record<string, unknown>): Promise<Applied> {
    const orderId = 'orderId' in locate ? locate.orderId : await payments.orderIdOfTransaction(locate.transactionId);
    const payment = orderId ? await load(orderId) : undefined;
    if (!payment) return 'no_payment';
    const log = deps.logger.child({ orderId: payment.orderId, paymentId: payment.id, webhook: event.type });
    const { payment: after, applied } = await applyIfAccepted(payment, event, detail);
    if (!applied) {
      // In the history as what brought it: a webhook, or a reconciliation repair a second pass offers again.
      await payments.note(payment, detail.source === 'reconciliation' ? 'REPAIR_REFUSED' : 'WEBHOOK_REFUSED', { ...detail, event: event.type, status: payment.status });
      return 'refused';
    }
    if (isChargeSettled(after.status)) await settleRefunds(after, log);
    return 'applied';
  }

  /** The job of each kind; `webhook` runs the ApplyWebhook jobs (it calls `apply`), wired by the caller. */
  function processorFor(webhook: (job: Job<ApplyWebhookJob>) => Promise<unknown>) {
    return async function processCompensation(job: Job<CompensationJob>): Promise<unknown> {
      const data = job.data;
      const log = deps.logger.child({ ...('orderId' in data ? { orderId: data.orderId } : { eventId: data.eventId }), jobId: job.id, job: job.name, attempt: job.attemptsMade + 1 });
      try {
        if (job.name === CANCEL_ORDER_JOB && 'orderId' in data) return await cancelOrder(data.orderId, log);
        if (job.name === REFUND_PAYMENT_JOB && 'refundId' in data) return await refundPayment(data.refundId, data.orderId, log);
        if (job.name === APPLY_WEBHOOK_JOB && 'eventId' in data) return await webhook(job as Job<ApplyWebhookJob>);
        throw new UnrecoverableError(`compensation job ${job.name} with data ${JSON.stringify(Object.keys(data))} is not one this worker knows`);
      } catch (err) {
        // Expected on the way: another job holds the payment, or something settles later. BullMQ retries.
        if (err instanceof ConcurrentUpdateError || err instanceof RetryLaterError) log.info(err.message);
        throw err;
      }
    };
  }

  return { processorFor, apply };
}
