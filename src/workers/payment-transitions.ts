import type { PaymentEvent } from '../machines/payment.machine.js';
import { applyPaymentEvent, type PaymentEffect } from '../machines/payment.snapshot.js';
import { withTraceHeaders } from '../observability/tracing.js';
import type { OutboxEvent, Payment, PaymentsRepository } from '../persistence/payments.repository.js';
import { paymentCompleted, paymentFailed } from '../queues/payment-events.js';

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
  /** The terminal event committed with this step, if the machine asked for one. */
  outbox?: OutboxEvent;
}

/** The terminal event the machine asked for, as an outbox row written with the state. */
function outboxFor(effects: PaymentEffect[], payment: Payment, next: ReturnType<typeof applyPaymentEvent>): OutboxEvent | undefined {
  const ctx = next.snapshot.context;
  if (effects.includes('emitPaymentCompleted')) {
    return paymentCompleted({
      orderId: payment.orderId,
      paymentId: payment.id,
      transactionId: ctx.transactionId ?? '',
      amount: payment.amount,
      currency: payment.currency,
    });
  }
  if (effects.includes('emitPaymentFailed')) {
    return paymentFailed({
      orderId: payment.orderId,
      paymentId: payment.id,
      reason: ctx.failureReason ?? 'payment failed',
      code: ctx.failureCode ?? 'processing_error',
    });
  }
  return undefined;
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
  const terminal = outboxFor(step.effects, payment, step);
  // The event carries the trace of the job that settled it: the relay publishes these headers.
  const outbox = terminal && withTraceHeaders(terminal);
  const updated = await payments.commitTransition(payment, {
    snapshot: step.snapshot,
    event: event.type,
    detail: { ...detail, attempts: ctx.attempts, failures: ctx.failures },
    transactionId: ctx.transactionId,
    gateway: ctx.gateway,
    failureCode: ctx.failureCode,
    failureReason: ctx.failureReason,
    ...(gatewayResponse ? { gatewayResponse } : {}),
    ...(outbox ? { outbox } : {}),
  });
  if (!updated) throw new ConcurrentUpdateError(payment.orderId, payment.version);
  return { payment: updated, effects: step.effects, ...(outbox ? { outbox } : {}) };
}
