import { hostname } from 'node:os';
import type { RedisClient } from '../redis.js';
import type { Knex } from 'knex';
import type { PaymentGateway } from '../gateway/gateway.port.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { createCompensationEnqueuer, type CompensationQueues } from '../queues/compensations.queue.js';
import { createReconciler, type ReconcilerDeps } from './reconciler.js';
import { createReconciliationRepository } from './reconciliation.repository.js';

/** The one lock every process's passes share; under the queue prefix, so an isolated setup has its own. */
export const reconcileLockKey = (prefix: string) => `${prefix}:reconcile:lock`;

export interface ReconcilerParts {
  knex: Knex;
  redis: RedisClient;
  prefix: string;
  gateways: readonly PaymentGateway[];
  apply: ReconcilerDeps['apply'];
  compensationQueues: CompensationQueues;
  logger: Logger;
  metrics: Metrics;
  settleGraceMs: number;
}

/** The reconciler on the parts `npm start` and `npm run reconcile` both build. */
export function createReconcilerOf(p: ReconcilerParts) {
  const repository = createReconciliationRepository(p.knex);
  const enqueue = createCompensationEnqueuer(p.compensationQueues);
  const reconciler = createReconciler({
    repository,
    ledgers: p.gateways.flatMap((g) => (g.ledger ? [{ name: g.name, ledger: g.ledger }] : [])),
    apply: p.apply,
    followRefund: (orderId, refundId) => enqueue.refund({ orderId, refundId }),
    redis: p.redis,
    lockKey: reconcileLockKey(p.prefix),
    logger: p.logger.child({ component: 'reconciliation' }),
    metrics: p.metrics,
    startedBy: `${hostname()}:${process.pid}`,
    settleGraceMs: p.settleGraceMs,
  });
  return { reconciler, repository };
}
