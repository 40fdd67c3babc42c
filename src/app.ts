import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from './config.js';
import { createGateways } from './gateway/index.js';
import { SharedCircuitBreaker } from './resilience/shared-circuit-breaker.js';
import { reportBreakerState } from './resilience/breaker-metrics.js';
import { createOpsServer } from './http/ops.server.js';
import type { Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import { initTracing } from './observability/tracing.js';
import { createKnex, migrate } from './persistence/db.js';
import { createOutboxRepository } from './persistence/outbox.repository.js';
import { createPaymentsRepository } from './persistence/payments.repository.js';
import { createAmqpConnection } from './queues/amqp-connection.js';
import { createDeadLetterPublisher } from './queues/dead-letter.js';
import { createInventoryConsumer, startInventoryConsumer } from './queues/inventory.consumer.js';
import { createOutboxRelay } from './queues/outbox.relay.js';
import { declareTopologyOn } from './queues/topology.js';
import { createChargeEnqueuer, createPaymentQueues, findChargeJob, pauseAllShards } from './queues/payments.queue.js';
import { createRedis, redisErrorOf } from './redis.js';
import { createDependencyChecks } from './health.js';
import { createPaymentProcessor } from './workers/payment.processor.js';
import { createRuleFileScreen } from './risk/rule-file.js';
import { createPaymentWorkers } from './workers/payment.worker.js';
import { createCompensationProcessor } from './workers/compensation.processor.js';
import { createCompensationWorkers } from './workers/compensation.worker.js';
import { createCompensationsRepository } from './persistence/compensations.repository.js';
import { createWebhookEventsRepository } from './persistence/webhook-events.repository.js';
import { cancelJobId, createCompensationEnqueuer, createCompensationQueues, enqueueWebhook, findCompensationJob } from './queues/compensations.queue.js';
import { createOrderEventsConsumer, startOrderEventsConsumer } from './queues/order-events.consumer.js';
import { createWebhookApplier } from './queues/webhook.applier.js';
import { compensationsConsumedCounter, countRefund, countRiskDecisions } from './observability/metrics.js';
import type { Job } from 'bullmq';
import { startWorkerStandby } from './workers/worker-standby.js';
import { countInFlight } from './workers/in-flight.js';
import { stampInput } from './workers/input-stamp.js';
import { recordJobAttempts } from './workers/job-metrics.js';
import { startRecoverySweeper } from './workers/recovery.sweeper.js';
import { shutDownInOrder, withinMs } from './shutdown.js';
import { createReconcilerOf } from './reconciliation/wiring.js';
import { startPeriodicReconciliation } from './reconciliation/periodic.js';
import { reportReconciliation } from './reconciliation/metrics.js';

export interface App {
  /** The ops server's address, once listening. */
  httpUrl: string;
  /** Stops taking work, lets in-flight jobs finish within the timeout, hands the rest back, flushes the outbox. */
  shutdown(timeoutMs: number): Promise<void>;
}

/**
 * The composition root: builds every part from the config and wires them.
 * One process runs the RabbitMQ consumer, the BullMQ worker, the outbox
 * relay, the recovery sweeper and the ops HTTP server.
 */
export async function startApp(config: Config, logger: Logger): Promise<App> {
  if (config.MIGRATE_ON_START) {
    const applied = await migrate(config.DATABASE_URL);
    if (applied.length) logger.info({ applied }, 'applied migrations');
  }
  // Before the queue and worker exist: they take its BullMQ telemetry. Off (nothing loaded) without an OTLP endpoint.
  const tracing = await initTracing(config, logger);
  const metrics = createMetrics();
  const knex = createKnex(config.DATABASE_URL, { max: config.DATABASE_POOL_MAX }, logger);
  const payments = createPaymentsRepository(knex, { preparedStatements: config.DATABASE_PREPARED_STATEMENTS });
  const outbox = createOutboxRepository(knex);

  const redis = createRedis(config);
  redis.on('error', (err) => logger.warn({ err: redisErrorOf(err) }, 'redis connection error; reconnecting'));
  const queueOpts = {
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
    retentionS: config.JOB_RETENTION_S,
    telemetry: tracing.bullmq,
  };
  const queues = createPaymentQueues({ ...queueOpts, shards: config.QUEUE_SHARDS });
  const compensationQueues = createCompensationQueues({ ...queueOpts, shards: config.QUEUE_SHARDS });
  const compensations = createCompensationsRepository(knex);
  const onBreakerChange = reportBreakerState({ metrics, logger });
  const gateways = createGateways(config).map((gateway) => ({
    gateway,
    breaker: new SharedCircuitBreaker(
      redis,
      gateway.name,
      config.QUEUE_PREFIX,
      { failureThreshold: config.BREAKER_FAILURES, failureRatio: config.BREAKER_FAILURE_PERCENT / 100, windowMs: config.BREAKER_WINDOW_MS, openMs: config.BREAKER_OPEN_MS, probeTimeoutMs: config.GATEWAY_TIMEOUT_MS + 1000, halfOpenProbes: config.BREAKER_HALF_OPEN_PROBES },
      onBreakerChange,
    ),
  }));

  const amqp = createAmqpConnection({ url: config.AMQP_URL, logger });
  const relay = createOutboxRelay({
    outbox,
    connection: amqp,
    logger,
    metrics,
    pollMs: config.OUTBOX_POLL_MS,
    batchSize: config.OUTBOX_BATCH,
    graceMs: config.OUTBOX_GRACE_MS,
  });
  const deadLetters = createDeadLetterPublisher({ connection: amqp });

  const processor = createPaymentProcessor({
    payments,
    gateways,
    pauseQueue: (ms) => pauseAllShards(queues, ms),
    logger,
    metrics,
    onOutboxWritten: (orderId, event) => relay.publishNow(orderId, event),
    onCompensationOwed: (orderId) => void runNow(() => findCompensationJob(compensationQueues, orderId, cancelJobId(orderId)), cancelJobId(orderId), logger),
    ...(config.RISK_RULES ? { risk: countRiskDecisions(createRuleFileScreen({ rules: config.RISK_RULES.rules, redis, prefix: config.QUEUE_PREFIX }), metrics) } : {}),
  });
  const jobs = countInFlight(processor);
  const workers = createPaymentWorkers({
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    shards: config.QUEUE_SHARDS,
    concurrency: config.WORKER_CONCURRENCY,
    lockDurationMs: config.JOB_LOCK_MS,
    processor: jobs.run,
    telemetry: tracing.bullmq,
  });
  for (const worker of workers) {
    worker.on('error', (err) => logger.error({ err: err.message, queue: worker.name }, 'payment worker error'));
    recordJobAttempts({ worker, metrics, logger });
  }

  const compensation = createCompensationProcessor({
    payments,
    compensations,
    gateways,
    logger,
    metrics,
    onOutboxWritten: (orderId, event) => relay.publishNow(orderId, event),
    onChargeOwed: (orderId) => void runNow(() => findChargeJob(queues, orderId), orderId, logger),
    onRefundOutcome: (outcome) => countRefund(metrics, outcome === 'REFUND_SUCCEEDED' ? 'succeeded' : outcome === 'REFUND_PENDING' ? 'pending' : 'failed'),
  });
  const reconciliation = createReconcilerOf({
    knex, redis, prefix: config.QUEUE_PREFIX, gateways: gateways.map((g) => g.gateway), apply: compensation.apply, compensationQueues, logger, metrics,
    settleGraceMs: config.RECONCILE_SETTLE_GRACE_MS,
  });
  const webhookEvents = createWebhookEventsRepository(knex);
  // Webhooks come from the primary Stripe gateway's account: a charge they settle is recorded as that gateway's.
  const webhookGateway = gateways.find((g) => g.gateway.name.startsWith('stripe'))?.gateway.name ?? gateways[0]!.gateway.name;
  const compensationWorkers = createCompensationWorkers({
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    shards: config.QUEUE_SHARDS,
    concurrency: config.WORKER_CONCURRENCY,
    backoffMs: config.JOB_BACKOFF_MS,
    lockDurationMs: config.JOB_LOCK_MS,
    processor: compensation.processorFor(createWebhookApplier({ webhooks: webhookEvents, apply: compensation.apply, gateway: webhookGateway, logger, metrics })),
    telemetry: tracing.bullmq,
  });
  for (const worker of compensationWorkers) worker.on('error', (err) => logger.error({ err: err.message, queue: worker.name }, 'compensation worker error'));

  const handler = createInventoryConsumer({
    payments,
    enqueue: createChargeEnqueuer(queues, tracing.enabled),
    deadLetter: deadLetters.deadLetter,
    logger,
    metrics,
    maxAttempts: config.JOB_ATTEMPTS,
    onOutboxWritten: (orderId, event) => relay.publishNow(orderId, event),
  });

  const orderEvents = createOrderEventsConsumer({
    compensations,
    enqueue: createCompensationEnqueuer(compensationQueues),
    deadLetter: deadLetters.deadLetter,
    logger,
    metrics,
    consumed: compensationsConsumedCounter(metrics),
  });

  const sweeper = await startRecoverySweeper({
    payments,
    queues,
    compensations,
    compensationQueues,
    logger,
    metrics,
    staleAfterMs: config.SWEEPER_STALE_AFTER_MS,
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    intervalMs: config.SWEEPER_INTERVAL_MS,
  });

  const health = createDependencyChecks({ knex, redis, amqp, metrics, breakers: gateways.map((g) => g.breaker) });
  const http = createOpsServer({
    logger,
    metrics,
    payments,
    outbox,
    queues,
    boardQueues: compensationQueues.shards,
    webhooks: { secret: config.STRIPE_WEBHOOK_SECRET, inbox: webhookEvents, enqueue: (eventId: string) => enqueueWebhook(compensationQueues, eventId) },
    health,
    ...(config.ADMIN_TOKEN ? { adminToken: config.ADMIN_TOKEN } : {}),
    adminReadWrite: config.ADMIN_READ_WRITE,
    reconciliation: reconciliation.repository,
    collect: async () => {
      const [lagMs, stale] = await Promise.all([outbox.lagMs(), payments.countUnfinished(config.SWEEPER_STALE_AFTER_MS), health(), reportReconciliation(reconciliation.repository, metrics)]);
      metrics.outboxLag.set(lagMs / 1000);
      metrics.paymentsStale.set(stale);
    },
  });
  const httpUrl = await http.listen({ port: config.HTTP_PORT, host: '0.0.0.0' });

  await amqp.waitUntilUp(30_000);
  // Declare the topology before saying ready: an event published after "ready" must find its queue.
  await declareTopologyOn(amqp);
  relay.start();
  for (const worker of workers) void worker.run();
  for (const worker of compensationWorkers) void worker.run();
  // Taking input is what makes this process the input holder for the worker standby below.
  const input = stampInput(handler);
  const consumer = startInventoryConsumer({
    connection: amqp,
    prefetch: config.AMQP_PREFETCH,
    handler: input.handler,
    logger,
    onPriority: (priority) => metrics.consumerPriority.set(priority),
  });
  const orderConsumer = startOrderEventsConsumer({ connection: amqp, prefetch: config.AMQP_PREFETCH, handler: orderEvents, logger });
  const periodic = config.RECONCILE_INTERVAL_MS
    ? startPeriodicReconciliation({ ...reconciliation, intervalMs: config.RECONCILE_INTERVAL_MS, logger })
    : undefined;
  const standby = config.WORKER_STANDBY
    ? startWorkerStandby({
        workers,
        redis,
        id: `${hostname()}:${process.pid}:${randomUUID()}`,
        concurrency: config.WORKER_CONCURRENCY,
        lastInputAt: input.lastInputAt,
        inFlight: jobs.inFlight,
        logger,
        onChange: (standingBy) => metrics.workerStandingBy.set(standingBy ? 1 : 0),
      })
    : undefined;
  logger.info({ http: httpUrl, concurrency: config.WORKER_CONCURRENCY, shards: config.QUEUE_SHARDS, gateways: gateways.map((g) => g.gateway.name) }, `worker ready on ${httpUrl}`);

  return {
    httpUrl,
    shutdown: (timeoutMs) =>
      shutDownInOrder(
        [
          { name: 'stop consuming', run: () => Promise.all([consumer.stop(), orderConsumer.stop()]) },
          { name: 'stop the worker standby', run: async () => standby?.stop() },
          {
            // A second worker.close(true) returns the first close's pending promise (BullMQ 6.7), so it cannot force
            // anything: keep a reserve for the outbox flush instead; unfinished jobs go back when their locks expire.
            name: 'finish in-flight jobs',
            run: async (left) => {
              const finished = await withinMs(Promise.all(workers.map((worker) => worker.close())), Math.max(0, left() - Math.min(3000, timeoutMs / 3)));
              if (!finished) logger.warn('in-flight jobs did not finish in time: their locks expire and another worker takes them');
            },
          },
          { name: 'finish in-flight compensations', run: () => Promise.all(compensationWorkers.map((worker) => worker.close())) },
          { name: 'stop the sweeper', run: () => sweeper.close() },
          { name: 'stop reconciliation', run: async () => periodic?.stop() },
          { name: 'flush the outbox', run: () => relay.flush() },
          { name: 'stop the relay', run: () => relay.stop() },
          { name: 'close the ops server', run: () => http.close() },
          { name: 'close the queues', run: () => Promise.all([...queues.shards, ...compensationQueues.shards].map((queue) => queue.close())) },
          { name: 'close dead-letter publisher', run: () => deadLetters.close() },
          { name: 'close RabbitMQ', run: () => amqp.close() },
          { name: 'close Redis', run: () => redis.quit() },
          { name: 'close PostgreSQL', run: () => knex.destroy() },
          { name: 'export the last traces', run: () => tracing.shutdown() },
        ],
        timeoutMs,
        logger,
      ),
  };
}

/**
 * Runs a waiting job now: one whose retry is delayed (a cancellation waiting
 * for its charge, a charge waiting out its backoff) when the thing it waits
 * for has just happened. Best effort: without it the job runs at its time.
 */
async function runNow(find: () => Promise<Job | undefined>, jobId: string, logger: Logger): Promise<void> {
  try {
    const job = await find();
    if (job && (await job.isDelayed())) await job.promote();
  } catch (err) {
    logger.debug({ jobId, err: (err as Error).message }, 'could not run a delayed job early; it runs at its time');
  }
}
