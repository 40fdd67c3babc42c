import { UnrecoverableError, type Job } from 'bullmq';
import type { PaymentGateway } from '../gateway/gateway.port.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Payment, PaymentsRepository } from '../persistence/payments.repository.js';
import type { ChargePaymentJob } from '../queues/payments.queue.js';
import { attemptCharge, lookUp, chargeRequestOf, type ChargeOutcome, type GatewayCall } from './charge-outcome.js';
import { advance } from './payment-transitions.js';
import { crashPoint } from './crash-points.js';

export interface PaymentProcessorDeps {
  payments: PaymentsRepository;
  gateway: PaymentGateway;
  logger: Logger;
  metrics: Metrics;
  /** Called once a terminal state and its event are committed: wakes the outbox relay. */
  onOutboxWritten?: () => void;
}

export interface PaymentJobResult {
  status: Payment['status'];
  transactionId?: string | null;
  code?: string | null;
  /** True when the payment was already terminal: a duplicate absorbed. */
  alreadyDone?: boolean;
}

/** A transient gateway failure: BullMQ retries the job with backoff. */
export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
}

function isLastAttempt(job: Job): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/**
 * The BullMQ processor for ChargePayment jobs: one payment per job, rehydrated
 * from its persisted snapshot on every attempt.
 */
export function createPaymentProcessor(deps: PaymentProcessorDeps) {
  const { payments, gateway, metrics } = deps;

  return async function chargePayment(job: Job<ChargePaymentJob>): Promise<PaymentJobResult> {
    const { orderId } = job.data;
    let log = deps.logger.child({ orderId, jobId: job.id, attempt: job.attemptsMade + 1 });

    let payment = await payments.findByOrderId(orderId); //                     1. load the record
    if (!payment) throw new UnrecoverableError(`no payment row for order ${orderId}: the consumer writes it before enqueueing; check the database`);
    log = log.child({ paymentId: payment.id });

    if (payment.status === 'Success' || payment.status === 'Failed') { //       2. already settled: absorb
      metrics.dedupeHits.inc({ layer: 'terminal' });
      return { status: payment.status, transactionId: payment.transactionId, code: payment.failureCode, alreadyDone: true };
    }

    if (payment.status === 'Initiated') { //                                     3. commit Processing BEFORE the side effect
      payment = (await advance(payments, payment, { type: 'START' }, { jobId: job.id })).payment;
      crashPoint('worker:after-processing-commit');
    }

    const calls: GatewayCall[] = [];
    let outcome = await attemptCharge(gateway, payment, calls); //               4. charge, same key every attempt
    crashPoint('worker:after-gateway-call');
    if (outcome.kind === 'retry' && !outcome.lookedUp && isLastAttempt(job)) { // 5. last chance: did it ever charge?
      outcome = (await lookUp(gateway, chargeRequestOf(payment), calls)) ?? outcome;
    }
    for (const c of calls) {
      metrics.gatewayCall.observe({ gateway: gateway.name, operation: c.operation, outcome: c.outcome }, c.durationMs / 1000);
    }

    const settled = await settle(payment, outcome, calls, job, log); //          6. commit the outcome (+ its event)
    crashPoint('worker:after-terminal-commit');
    if (settled.status === 'Success' || settled.status === 'Failed') {
      deps.onOutboxWritten?.(); //                                               7. wake the relay
      metrics.paymentsTerminal.inc({ status: settled.status, code: settled.failureCode ?? '' });
      metrics.paymentEndToEnd.observe({ status: settled.status }, (Date.now() - settled.createdAt.getTime()) / 1000);
      log.info({ status: settled.status, code: settled.failureCode, transactionId: settled.transactionId }, `payment ${settled.status}`);
    }
    return finish(settled, outcome);
  };

  async function settle(payment: Payment, outcome: ChargeOutcome, calls: GatewayCall[], job: Job, log: Logger): Promise<Payment> {
    const detail = { jobId: job.id, gatewayCalls: calls };
    switch (outcome.kind) {
      case 'succeeded':
        return (await advance(payments, payment, { type: 'CHARGE_SUCCEEDED', transactionId: outcome.transactionId, gateway: outcome.gateway }, detail, outcome.response)).payment;
      case 'declined':
        return (await advance(payments, payment, { type: 'CHARGE_DECLINED', code: outcome.code, reason: outcome.reason, gateway: outcome.gateway }, detail, outcome.response)).payment;
      case 'unsettled':
        // Never fail a payment that may have been charged: keep it Processing; a later attempt or the sweeper asks again.
        await payments.note(payment, 'CHARGE_UNSETTLED', { ...detail, code: outcome.code, reason: outcome.reason });
        log.warn({ code: outcome.code }, `charge outcome unknown and the look-up could not settle it: ${outcome.reason}`);
        throw new RetryLaterError(`order ${payment.orderId}: ${outcome.reason}`);
      case 'retry': {
        const failed = (await advance(payments, payment, { type: 'CHARGE_FAILED_TRANSIENTLY', code: outcome.code, reason: outcome.reason }, detail)).payment;
        if (!isLastAttempt(job)) {
          log.warn({ code: outcome.code }, `gateway error, will retry: ${outcome.reason}`);
          throw new RetryLaterError(`order ${payment.orderId}: gateway ${outcome.gateway} ${outcome.code}: ${outcome.reason}`);
        }
        // Attempts are spent and the gateway has no charge for this key: fail it so the saga can compensate.
        const reason = `gateway unavailable after ${failed.snapshot.context.failures} attempts (last: ${outcome.code}: ${outcome.reason})`;
        return (await advance(payments, failed, { type: 'GIVE_UP', reason }, detail)).payment;
      }
    }
  }

  function finish(payment: Payment, outcome: ChargeOutcome): PaymentJobResult {
    if (payment.status === 'Failed') {
      // The job fails (so Bull Board shows why) but is never retried: the payment is settled and its event written.
      throw new UnrecoverableError(`payment failed: ${payment.failureCode}: ${payment.failureReason}`);
    }
    return { status: payment.status, transactionId: payment.transactionId, code: outcome.kind === 'declined' ? outcome.code : null };
  }
}
