import client from 'prom-client';
import type { RiskScreen } from '../risk/risk.port.js';

/**
 * Every metric the service exports, declared in one place. One registry per
 * process (tests may create their own with `createMetrics()`).
 */
export function createMetrics(register = new client.Registry()) {
  client.collectDefaultMetrics({ register });
  const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  const metrics = {
    register,
    paymentsTerminal: new client.Counter({
      name: 'payments_terminal_total',
      help: 'Payments that reached a terminal state, by status and failure code',
      labelNames: ['status', 'code'] as const,
      registers: [register],
    }),
    paymentEndToEnd: new client.Histogram({
      name: 'payment_end_to_end_seconds',
      help: 'From payment row created to terminal state committed',
      labelNames: ['status'] as const,
      buckets: latencyBuckets,
      registers: [register],
    }),
    gatewayCall: new client.Histogram({
      name: 'gateway_call_seconds',
      help: 'Gateway calls by gateway, operation and outcome (as recorded in the history, except that a timeout is outcome="timeout", not "unknown")',
      labelNames: ['gateway', 'operation', 'outcome'] as const,
      buckets: latencyBuckets,
      registers: [register],
    }),
    jobAttempts: new client.Counter({
      name: 'payment_job_attempts_total',
      help: 'Payment job attempts by result',
      labelNames: ['result'] as const,
      registers: [register],
    }),
    dedupeHits: new client.Counter({
      name: 'payment_dedupe_hits_total',
      help: 'Duplicate work absorbed, by layer (event, row, job, terminal)',
      labelNames: ['layer'] as const,
      registers: [register],
    }),
    deadLetters: new client.Counter({
      name: 'payment_dead_letters_total',
      help: 'Messages dead-lettered, by reason class: card_data, unattributable, conflict, gave_up',
      labelNames: ['reason'] as const,
      registers: [register],
    }),
    eventsConsumed: new client.Counter({
      name: 'inventory_events_consumed_total',
      help: 'InventoryReserved deliveries handled, by outcome',
      labelNames: ['outcome'] as const,
      registers: [register],
    }),
    eventsPublished: new client.Counter({
      name: 'payment_events_published_total',
      help: 'Payment events published with a broker confirm, by type',
      labelNames: ['type'] as const,
      registers: [register],
    }),
    outboxLag: new client.Gauge({
      name: 'outbox_lag_seconds',
      help: 'Age of the oldest unpublished outbox event',
      registers: [register],
    }),
    queueDepth: new client.Gauge({
      name: 'payment_queue_jobs',
      help: 'BullMQ payments queue jobs by state',
      labelNames: ['state'] as const,
      registers: [register],
    }),
    breakerState: new client.Gauge({
      name: 'gateway_circuit_state',
      help: 'Circuit breaker state per gateway: 0 closed, 1 half-open, 2 open',
      labelNames: ['gateway'] as const,
      registers: [register],
    }),
    sweeperRescues: new client.Counter({
      name: 'sweeper_rescues_total',
      help: 'Payments re-enqueued by the recovery sweeper, by reason',
      labelNames: ['reason'] as const,
      registers: [register],
    }),
    consumerPriority: new client.Gauge({
      name: 'inventory_consumer_priority',
      help: 'This process\'s RabbitMQ consumer priority on the input queue; -1 while demoted after failing to handle a delivery',
      registers: [register],
    }),
    workerStandingBy: new client.Gauge({
      name: 'payment_worker_standing_by',
      help: '1 while this process pulls no jobs because another process takes the input and has free slots (WORKER_STANDBY)',
      registers: [register],
    }),
    webhooksReceived: new client.Counter({
      name: 'webhooks_received_total',
      help: 'Stripe webhook deliveries to POST /webhooks/stripe, by event type (unknown when unverified) and verification: ok, bad_signature, stale, malformed',
      labelNames: ['type', 'verification'] as const,
      registers: [register],
    }),
    webhooksApplied: new client.Counter({
      name: 'webhooks_applied_total',
      help: 'Stripe webhook events settled by the ApplyWebhook job, by event type and outcome: applied, refused, ignored, no_payment',
      labelNames: ['type', 'outcome'] as const,
      registers: [register],
    }),
    connectionState: new client.Gauge({
      name: 'dependency_up',
      help: '1 when the connection to a dependency is up',
      labelNames: ['dependency'] as const,
      registers: [register],
    }),
    // Compensations (CONTRACT.md §8): the refunds' outcomes and the order.events input.
    refunds: new client.Counter({
      name: 'refunds_total',
      help: 'Refund outcomes: succeeded, pending (the gateway has not settled it), failed (the gateway refused or failed it), refused (before any gateway call: invalid, exceeds what is refundable, not charged)',
      labelNames: ['outcome'] as const,
      registers: [register],
    }),
    compensationsConsumed: new client.Counter({
      name: 'compensations_consumed_total',
      help: 'order.events deliveries handled, by event type (OrderCancelled, RefundRequested, or unknown when the delivery cannot tell) and outcome',
      labelNames: ['type', 'outcome'] as const,
      registers: [register],
    }),
    riskDecisions: new client.Counter({
      name: 'risk_decisions_total',
      help: 'Risk screening answers before a first charge, by decision (allow, block) and the rule that blocked (empty on allow)',
      labelNames: ['decision', 'rule'] as const,
      registers: [register],
    }),
    queueOldestWaiting: new client.Gauge({
      name: 'payment_queue_oldest_waiting_seconds',
      help: 'How long the payments queue job that has waited longest has been ready to run without a worker taking it (0 when none waits)',
      registers: [register],
    }),
    paymentsStale: new client.Gauge({
      name: 'payments_unsettled_stale',
      help: 'Payments still Initiated or Processing and not updated for SWEEPER_STALE_AFTER_MS (what the recovery sweeper rescues); every process reports the same count',
      registers: [register],
    }),
    // Reconciliation (CONTRACT.md §9).
    reconciliationDiscrepancies: new client.Gauge({
      name: 'payment_reconciliation_discrepancies',
      help: 'Discrepancies the latest completed reconciliation pass found and did not repair, by class (read from the database on scrape, so every process reports the same)',
      labelNames: ['class'] as const,
      registers: [register],
    }),
    reconciliationRepairs: new client.Counter({
      name: 'payment_reconciliation_repairs_total',
      help: 'Discrepancies this process repaired through the machine, by class',
      labelNames: ['class'] as const,
      registers: [register],
    }),
    reconciliationPasses: new client.Counter({
      name: 'payment_reconciliation_passes_total',
      help: 'Reconciliation passes this process ran, by outcome: completed, failed',
      labelNames: ['outcome'] as const,
      registers: [register],
    }),
    reconciliationLastPass: new client.Gauge({
      name: 'payment_reconciliation_last_pass_timestamp_seconds',
      help: 'When the latest completed reconciliation pass started, Unix seconds (read from the database on scrape)',
      registers: [register],
    }),
  };
  // Counters an alert fires on at their first increase start at 0: a series born at 1 shows no increase to Prometheus.
  for (const outcome of REFUND_OUTCOMES) metrics.refunds.inc({ outcome }, 0);
  for (const reason of DEAD_LETTER_REASONS) metrics.deadLetters.inc({ reason }, 0);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

export const REFUND_OUTCOMES = ['succeeded', 'pending', 'failed', 'refused'] as const;
export type RefundOutcome = (typeof REFUND_OUTCOMES)[number];

/** payment_dead_letters_total's reasons: card data in a delivery, one that names no order, a conflicting duplicate, one handled too often. */
export const DEAD_LETTER_REASONS = ['card_data', 'unattributable', 'conflict', 'gave_up'] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** Counts one refund outcome; the worker calls it where it writes the refund's state. */
export function countRefund(metrics: Pick<Metrics, 'refunds'>, outcome: RefundOutcome): void {
  metrics.refunds.inc({ outcome });
}

/**
 * The consumer's outcomes that name the event type; the others (a duplicate,
 * a dead-lettered or card-data delivery) do not, and are counted under
 * `unknown` unless the caller passes the type.
 */
const TYPE_OF_OUTCOME: Record<string, string> = {
  cancellation: 'OrderCancelled',
  refund: 'RefundRequested',
  conflict: 'RefundRequested',
};

/**
 * The order-events consumer's `consumed` hook (order-events.consumer.ts's
 * OutcomeCounter): `createOrderEventsConsumer({ ..., consumed: compensationsConsumedCounter(metrics) })`.
 */
export function compensationsConsumedCounter(metrics: Pick<Metrics, 'compensationsConsumed'>): {
  inc(labels: { outcome: string; type?: string }): void;
} {
  return {
    inc({ outcome, type }) {
      metrics.compensationsConsumed.inc({ type: type ?? TYPE_OF_OUTCOME[outcome] ?? 'unknown', outcome });
    },
  };
}

/** The screen with each answer counted in risk_decisions_total; a screen that throws answered nothing and counts nothing. */
export function countRiskDecisions(screen: RiskScreen, metrics: Pick<Metrics, 'riskDecisions'>): RiskScreen {
  return {
    async screen(subject) {
      const verdict = await screen.screen(subject);
      metrics.riskDecisions.inc({ decision: verdict.decision, rule: verdict.decision === 'block' ? verdict.rule : '' });
      return verdict;
    },
  };
}
