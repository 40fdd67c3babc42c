import type { PaymentContext, PaymentEvent } from '../machines/payment.machine.js';
import { applyPaymentEvent, type PaymentEffect } from '../machines/payment.snapshot.js';
import { withTraceHeaders } from '../observability/tracing.js';
import type { OutboxEvent, Payment, PaymentsRepository } from '../persistence/payments.repository.js';
import { formatAmount } from '../money.js';
import { paymentCancelled, paymentCompleted, paymentDisputed, paymentFailed, paymentRefunded, refundFailed } from '../queues/payment-events.js';

/** Another worker wrote this payment since we read it: we lost the race and must not act further. */
export class ConcurrentUpdateError extends Error {
  constructor(orderId: string, version: number) {
    super(`payment for order ${orderId} changed since version ${version}: another worker holds it; this attempt stops`);
    this.name = 'ConcurrentUpdateError';
  }
}

/** The machine refused an event in the payment's current state: a bug or a stale caller, never silently ignored. */
export class RefusedTransitionError extends Error {
  constructor(orderId: string, state: string, event: string) {
    super(`payment for order ${orderId} is ${state}: the machine refuses ${event}`);
    this.name = 'RefusedTransitionError';
  }
}

export interface Advanced {
  payment: Payment;
  effects: PaymentEffect[];
  /** The events committed with this step, as the machine asked for them (none for most steps). */
  outbox: OutboxEvent[];
}

/** Which refund an effect is about: the one the applied event names, or the cancellation's own. */
function refundIdOf(event: PaymentEvent, ctx: PaymentContext): string | undefined {
  if ('refundId' in event) return event.refundId;
  return ctx.cancellation?.refundId;
}

/** The events the machine asked for with this step, as outbox rows written with the state. */
function outboxFor(effects: PaymentEffect[], payment: Payment, event: PaymentEvent, ctx: PaymentContext): OutboxEvent[] {
  const { orderId, id: paymentId, currency } = payment;
  const money = (minor: string) => formatAmount(BigInt(minor), currency);
  const refundId = refundIdOf(event, ctx);
  const refund = refundId ? ctx.refunds[refundId] : undefined;
  return effects.map((effect) => {
    switch (effect) {
      case 'emitPaymentCompleted':
        return paymentCompleted({ orderId, paymentId, transactionId: ctx.transactionId ?? '', amount: payment.amount, currency });
      case 'emitPaymentFailed':
        return paymentFailed({ orderId, paymentId, reason: ctx.failureReason ?? 'payment failed', code: ctx.failureCode ?? 'processing_error' });
      case 'emitPaymentCancelled':
        return paymentCancelled({ orderId, paymentId });
      case 'emitPaymentRefunded':
        if (!refundId || !refund) throw new Error(`order ${orderId}: the machine named emitPaymentRefunded for ${event.type} without a refund`);
        return paymentRefunded({
          orderId, paymentId, refundId, amount: money(refund.amountMinor),
          // A stray charge is refunded whole, once: its refund is all that was refunded of it.
          amountRefunded: money(refund.intentId ? refund.amountMinor : ctx.amountRefundedMinor), currency,
          gatewayRefundId: refund.gatewayRefundId,
        });
      case 'emitRefundFailed':
        if (!refundId) throw new Error(`order ${orderId}: the machine named emitRefundFailed for ${event.type} without a refund`);
        return refundFailed({ orderId, refundId, code: refund?.failureCode ?? 'refund_failed', reason: refund?.failureReason ?? 'the refund failed' });
      case 'emitPaymentDisputed': {
        const dispute = ctx.dispute;
        if (!dispute) throw new Error(`order ${orderId}: the machine named emitPaymentDisputed without a dispute`);
        return paymentDisputed({ orderId, paymentId, disputeId: dispute.disputeId, amount: money(dispute.amountMinor), currency, reason: dispute.reason });
      }
    }
  });
}

/**
 * Applies one event to the payment's machine and commits the result: the new
 * snapshot, a history row and — when the machine asks for it — the terminal
 * event in the outbox, in one transaction, conditional on the version read.
 */
export async function advance(
  payments: Pick<PaymentsRepository, 'commitTransition'>,
  payment: Payment,
  event: PaymentEvent,
  detail: Record<string, unknown> = {},
  gatewayResponse?: Record<string, unknown>,
): Promise<Advanced> {
  const step = applyPaymentEvent(payment.snapshot, event);
  if (!step.changed) throw new RefusedTransitionError(payment.orderId, payment.status, event.type);
  const ctx = step.snapshot.context;
  // The events carry the trace of the job that settled them: the relay publishes these headers.
  const outbox = outboxFor(step.effects, payment, event, ctx).map(withTraceHeaders);
  const updated = await payments.commitTransition(payment, {
    snapshot: step.snapshot,
    event: event.type,
    detail: { ...detail, attempts: ctx.attempts, failures: ctx.failures },
    transactionId: ctx.transactionId,
    gateway: ctx.gateway,
    failureCode: ctx.failureCode,
    failureReason: ctx.failureReason,
    ...(gatewayResponse ? { gatewayResponse } : {}),
    ...(outbox.length ? { outbox } : {}),
  });
  if (!updated) throw new ConcurrentUpdateError(payment.orderId, payment.version);
  return { payment: updated, effects: step.effects, outbox };
}
