import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { annotateActiveSpan, ATTR } from '../observability/tracing.js';
import type { OutboxEvent, Payment, PaymentsRepository } from '../persistence/payments.repository.js';
import type { ChargePaymentJob } from '../queues/payments.queue.js';
import { cancellationRefundId } from '../queues/order-refund-request.js';
import { isChargeSettled } from '../machines/payment.machine.js';
import type { ChargeOutcome, GatewayCall } from './charge-outcome.js';
import { chargeViaGateways, settleBeforeGivingUp, type RoutedGateway } from './gateway-router.js';
import { attemptsExhausted, chargeOwed, migrateSnapshot, voidOwed } from '../machines/payment.snapshot.js';
import type { RiskScreen } from '../risk/risk.port.js';

/** What the processor needs of the payments table. */
export type PaymentsPort = Pick<PaymentsRepository, 'findByOrderId' | 'commitTransition' | 'note'>;
import { advance, type Advanced } from './payment-transitions.js';
import { crashPoint } from './crash-points.js';

export interface PaymentProcessorDeps {
  payments: PaymentsPort;
  /** In failover order; the first is the primary. */
  gateways: RoutedGateway[];
  /** Pauses the whole queue (every worker) for `ms`: used while every gateway's breaker is open. */
  pauseQueue?: (ms: number) => Promise<void>;
  logger: Logger;
  metrics: Metrics;
  /** Called for each event committed with a state: the relay publishes it at once. */
  onOutboxWritten?: (orderId: string, event: OutboxEvent) => void;
  /** A settled charge left compensation owed (a cancellation that came while charging): its job should run now. */
  onCompensationOwed?: (orderId: string) => void;
  /** Screens each payment before its first charge (RISK_RULES). Absent: no screening. */
  risk?: RiskScreen;
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

/**
 * The BullMQ processor for ChargePayment jobs: one payment per job, rehydrated
 * from its persisted snapshot on every attempt.
 */
export function createPaymentProcessor(deps: PaymentProcessorDeps) {
  const { payments, gateways, metrics } = deps;
  /**
   * Commits a prepared charge's handle before it is confirmed. For a new payment that is
   * the START commit itself (Processing and the first handle in one write); afterwards a ROUTE.
   */
  const route = (jobId: string | undefined) => async (p: Payment, gateway: string, intentId: string, cleared: string[]) => {
    if (p.status !== 'Initiated') return (await advance(payments, p, { type: 'ROUTE', gateway, intentId, cleared })).payment;
    const started = (await advance(payments, p, { type: 'START', gateway, intentId, cleared }, { jobId })).payment;
    crashPoint('worker:after-processing-commit');
    return started;
  };

  return async function chargePayment(job: Job<ChargePaymentJob>): Promise<PaymentJobResult> {
    const { orderId } = job.data;
    let log = deps.logger.child({ orderId, jobId: job.id, attempt: job.attemptsMade + 1 });

    const found = await payments.findByOrderId(orderId); //                     1. load the record
    if (!found) throw new UnrecoverableError(`no payment row for order ${orderId}: the consumer writes it before enqueueing; check the database`);
    // Read at the current machine version: an older row's context lacks what the charge path reads (handles, legacyCharge).
    let payment: Payment = { ...found, snapshot: migrateSnapshot(found.snapshot) };
    log = log.child({ paymentId: payment.id });
    annotateActiveSpan({ [ATTR.orderId]: orderId, [ATTR.paymentId]: payment.id }); // the job's span (bullmq-otel), when tracing

    if (payment.orderCancelled && !payment.snapshot.context.cancellation && !isChargeSettled(payment.status)) {
      // 2. cancelled before it was charged: the machine learns it before anything is sent
      const cancelled = await advance(payments, payment, { type: 'CANCEL', reason: payment.orderCancelled.reason ?? 'order cancelled', refundId: cancellationRefundId(orderId), answered: payment.orderCancelled.answered }, { jobId: job.id });
      for (const event of cancelled.outbox) deps.onOutboxWritten?.(orderId, event);
      payment = cancelled.payment;
    }
    if (isChargeSettled(payment.status)) { //                                   already settled: absorb
      metrics.dedupeHits.inc({ layer: 'terminal' });
      return { status: payment.status, transactionId: payment.transactionId, code: payment.failureCode, alreadyDone: true };
    }

    const calls: GatewayCall[] = [];
    let outcome: ChargeOutcome | { kind: 'voided' } | undefined;
    let cleared: string[] = [];
    const blocked = await screen(payment, job, log); //                         2b. screen before the first charge: a block sends nothing
    if (!blocked && voidOwed(payment.snapshot)) { //                                        3a. cancelled while the outcome was unknown: cancel, never confirm
      outcome = (await settleBeforeGivingUp(gateways, payment, calls)) ?? { kind: 'voided' };
    } else if (!blocked && chargeOwed(payment.snapshot)) { //                               3. prepare; commit Processing and the handle; confirm
      const routed = await chargeViaGateways(gateways, payment, calls, route(job.id));
      crashPoint('worker:after-gateway-call');
      payment = routed.payment;
      if (routed.kind === 'all_open') {
        // Every breaker is open: wait without spending an attempt (BullMQ's rate-limit mechanism).
        log.info({ retryInMs: routed.retryInMs }, 'gateway circuit open: job waits without using an attempt');
        await deps.pauseQueue?.(routed.retryInMs);
        throw Worker.RateLimitError();
      }
      outcome = routed.outcome;
      cleared = routed.cleared;
    }
    for (const c of calls) {
      metrics.gatewayCall.observe({ gateway: c.gateway, operation: c.operation, outcome: c.code === 'gateway_timeout' ? 'timeout' : c.outcome }, c.durationMs / 1000);
    }

    const { payment: settled, outbox } = blocked ?? (await settle(payment, outcome, cleared, calls, job, log)); //  4. commit the outcome (+ its events)
    crashPoint('worker:after-terminal-commit');
    for (const event of outbox) deps.onOutboxWritten?.(orderId, event); //       5. publish the events now (the relay is the safety net)
    if (settled.snapshot.context.cancellation && !settled.snapshot.context.cancellation.answered) deps.onCompensationOwed?.(orderId);
    if (isChargeSettled(settled.status)) {
      metrics.paymentsTerminal.inc({ status: settled.status, code: settled.failureCode ?? '' });
      metrics.paymentEndToEnd.observe({ status: settled.status }, (Date.now() - settled.createdAt.getTime()) / 1000);
      log.info({ status: settled.status, code: settled.failureCode, transactionId: settled.transactionId }, `payment ${settled.status}`);
    }
    return finish(settled, outcome);
  };

  /**
   * Screens a payment not yet charged; a block commits its failure (risk_blocked) with the
   * rule in the history. Screening again on a retried attempt is safe: a screen answers the
   * same order the same way and counts it once.
   */
  async function screen(payment: Payment, job: Job, log: Logger): Promise<Advanced | undefined> {
    if (!deps.risk || payment.status !== 'Initiated' || !chargeOwed(payment.snapshot)) return undefined;
    const { id: paymentId, orderId, customerId, paymentMethod, amountMinor, currency } = payment;
    const verdict = await deps.risk.screen({ orderId, paymentId, customerId, paymentMethod, amountMinor, currency });
    if (verdict.decision === 'allow') {
      await payments.note(payment, 'RISK_SCREENED', { decision: 'allow', rule: null });
      return undefined;
    }
    log.info({ rule: verdict.rule }, `payment blocked by risk screening: ${verdict.reason}`);
    return advance(payments, payment, { type: 'REJECT', code: 'risk_blocked', reason: verdict.reason }, { jobId: job.id, risk: { decision: 'block', rule: verdict.rule } });
  }

  /** Commits what the attempt established; `undefined`: the machine's attempts were already spent, only giving up is left. */
  async function settle(payment: Payment, outcome: ChargeOutcome | { kind: 'voided' } | undefined, cleared: string[], calls: GatewayCall[], job: Job, log: Logger): Promise<Advanced> {
    const detail = { jobId: job.id, gatewayCalls: calls };
    // Nothing could be prepared (or it was refused outright): Processing is committed first, as the outcome needs it.
    if (outcome && payment.status === 'Initiated') payment = (await advance(payments, payment, { type: 'START' }, { jobId: job.id })).payment;
    switch (outcome?.kind) {
      case 'succeeded':
        return advance(payments, payment, { type: 'CHARGE_SUCCEEDED', transactionId: outcome.transactionId, gateway: outcome.gateway }, detail, outcome.response);
      case 'declined':
        return advance(payments, payment, { type: 'CHARGE_DECLINED', code: outcome.code, reason: outcome.reason, gateway: outcome.gateway }, detail, outcome.response);
      case 'unsettled':
        // Never fail a payment that may have been charged: keep it Processing; a later attempt or the sweeper asks again.
        await payments.note(payment, 'CHARGE_UNSETTLED', { ...detail, code: outcome.code, reason: outcome.reason });
        log.warn({ code: outcome.code }, `charge outcome unknown and the look-up could not settle it: ${outcome.reason}`);
        throw new RetryLaterError(`order ${payment.orderId}: ${outcome.reason}`);
      case 'retry': {
        const failed = (await advance(payments, payment, { type: 'CHARGE_FAILED_TRANSIENTLY', code: outcome.code, reason: outcome.reason, cleared }, detail)).payment;
        if (!attemptsExhausted(failed.snapshot)) {
          log.warn({ code: outcome.code }, `gateway error, will retry: ${outcome.reason}`);
          throw new RetryLaterError(`order ${payment.orderId}: gateway ${outcome.gateway} ${outcome.code}: ${outcome.reason}`);
        }
        return giveUp(failed, `last: ${outcome.code}: ${outcome.reason}`, calls, job, log);
      }
      case 'voided':
        return advance(payments, payment, { type: 'CHARGE_VOIDED', cleared: Object.keys(payment.snapshot.context.intents) }, detail);
      case undefined:
        return giveUp(payment, `last: ${payment.snapshot.context.lastError ?? 'unknown'}`, calls, job, log);
    }
  }

  /**
   * The machine's attempts are spent. Fail the payment only once every handle
   * that could still charge is cancelled; a cancel that loses to a confirm
   * settles the payment as charged instead.
   */
  async function giveUp(payment: Payment, last: string, calls: GatewayCall[], job: Job, log: Logger): Promise<Advanced> {
    const found = await settleBeforeGivingUp(gateways, payment, calls);
    if (found) return settle(payment, found, [], calls, job, log);
    const reason = `gateway unavailable after ${payment.snapshot.context.failures} attempts (${last})`;
    return advance(payments, payment, { type: 'GIVE_UP', reason }, { jobId: job.id, gatewayCalls: calls });
  }

  /**
   * A settled payment ends its job as completed, whatever the outcome: a decline is the
   * payment's answer, not a broken job, so BullMQ's failed list keeps only jobs that broke.
   */
  function finish(payment: Payment, outcome: ChargeOutcome | { kind: 'voided' } | undefined): PaymentJobResult {
    const code = payment.status === 'Failed' ? payment.failureCode : outcome?.kind === 'declined' ? outcome.code : null;
    return { status: payment.status, transactionId: payment.transactionId, code };
  }
}
