import type { Queue } from 'bullmq';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { PAYMENT_MACHINE_VERSION, paymentMachine } from '../machines/payment.machine.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { PaymentsRepository } from '../persistence/payments.repository.js';
import type { PaymentQueues } from '../queues/payments.queue.js';
import { createAdminAuthHook } from './admin-auth.hook.js';
import { registerBullBoard } from './bull-board.routes.js';
import { registerHealthRoutes, type HealthChecks } from './health.routes.js';
import { registerMachineRoutes } from './machine.routes.js';
import { registerMetricsRoutes } from './metrics.routes.js';
import { OpsLogController } from './ops.log-controller.js';
import { registerPaymentRoutes, type PaymentEventSource } from './payment.routes.js';
import { registerWebhookRoutes, type WebhookRouteDeps } from './webhooks.routes.js';
import { registerReconciliationRoutes, type ReconciliationRouteDeps } from './reconciliation.routes.js';

export interface OpsServerDeps {
  logger: Logger;
  metrics: Metrics;
  payments: Pick<PaymentsRepository, 'findWithHistory' | 'countByStatus' | 'transitionCountsSince'>;
  /** The order's outbox events, shown on its timeline as published (or waiting). Optional. */
  outbox?: PaymentEventSource;
  /** The BullMQ payments queue of every shard: shown in Bull Board, their job counts exported as gauges. */
  queues: PaymentQueues;
  /** More queues Bull Board shows after the payments queues (the `compensations` queues). */
  boardQueues?: readonly Queue[];
  /** Dependency checks for /health/ready; `degraded: true` keeps the process ready. */
  health: HealthChecks;
  /** CONTRACT.md §2: unset, only loopback callers see the ops pages. */
  adminToken?: string;
  /** Lets Bull Board retry, clean and remove jobs (a retry is a new charge attempt). */
  adminReadWrite: boolean;
  /** Refreshes gauges kept elsewhere before each scrape. */
  collect?: () => Promise<void>;
  /** How often the state chart page polls for counts. */
  chartPollMs?: number;
  /** POST /webhooks/stripe's inbox. Absent, or without a secret, the route answers 404. */
  webhooks?: WebhookRouteDeps;
  /** GET /reconciliation's source: the passes and their discrepancies. Absent: no passes to show. */
  reconciliation?: ReconciliationRouteDeps['reconciliation'];
}

export const STATE_CHART_PATH = '/machines/payment';

/**
 * The ops HTTP server of one worker process (CONTRACT.md §6): health, metrics,
 * Bull Board, the live state chart and each payment's page. Returned not
 * listening: the caller decides the port and owns the lifecycle.
 */
export function createOpsServer(deps: OpsServerDeps): FastifyInstance {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; naming the base type keeps the instance type the default one.
    loggerInstance: deps.logger.child({ component: 'ops-http' }) as FastifyBaseLogger,
    logController: new OpsLogController(),
    // The socket address decides who is "loopback"; a forwarded header must not.
    trustProxy: false,
  });

  app.addHook('onRequest', createAdminAuthHook({ adminToken: deps.adminToken }));

  app.get('/', async (_request, reply) => reply.redirect(STATE_CHART_PATH));
  registerHealthRoutes(app, deps.health);
  registerMetricsRoutes(app, { metrics: deps.metrics, queues: deps.queues.shards, collect: deps.collect });
  registerBullBoard(app, { queues: [...deps.queues.shards, ...(deps.boardQueues ?? [])], readWrite: deps.adminReadWrite });
  const drawn = registerMachineRoutes(app, {
    machine: paymentMachine,
    machineVersion: PAYMENT_MACHINE_VERSION,
    payments: deps.payments,
    basePath: STATE_CHART_PATH,
    pollMs: deps.chartPollMs,
  });
  registerPaymentRoutes(app, { payments: deps.payments, outbox: deps.outbox, drawn, queueNameOf: (orderId) => deps.queues.of(orderId).name });
  // Registered even when off: an unregistered path would meet the admin guard (401/403) instead of the contract's 404.
  registerWebhookRoutes(app, deps.webhooks, deps.metrics);
  registerReconciliationRoutes(app, { reconciliation: deps.reconciliation ?? { latestPasses: async () => [], openDiscrepancies: async () => [] } });
  return app;
}
