// `npm run reconcile`: one reconciliation pass (CONTRACT.md §9). Prints a table, then a JSON last line.
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../config.js';
import { runCli, UserFacingError } from '../cli.js';
import { createGateways } from '../gateway/index.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { createKnex, migrate } from '../persistence/db.js';
import { createCompensationsRepository } from '../persistence/compensations.repository.js';
import { createOutboxRepository } from '../persistence/outbox.repository.js';
import { createPaymentsRepository } from '../persistence/payments.repository.js';
import { createAmqpConnection } from '../queues/amqp-connection.js';
import { createCompensationQueues } from '../queues/compensations.queue.js';
import { createOutboxRelay } from '../queues/outbox.relay.js';
import { declareTopologyOn } from '../queues/topology.js';
import { howToStart, servicesOf, unreachable } from '../services.js';
import { createRedis } from '../redis.js';
import { createCompensationProcessor } from '../workers/compensation.processor.js';
import { NoLedgerError, PassLockedError } from './reconciler.js';
import { RECONCILE_WINDOW_MS } from './periodic.js';
import { printPass } from './report.js';
import { createReconcilerOf } from './wiring.js';

const USAGE = 'usage: npm run reconcile -- [--since ISO-8601] [--until ISO-8601] [--repair]';

function dateArg(name: string, value: string | undefined, fallback: Date): Date {
  if (value === undefined) return fallback;
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new UserFacingError(`--${name} "${value}" is not an ISO 8601 date-time (e.g. 2026-12-07T00:00:00Z); ${USAGE}`);
  }
  return date;
}

function argsOf(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: { since: { type: 'string' }, until: { type: 'string' }, repair: { type: 'boolean', default: false } }, strict: true }).values;
  } catch (err) {
    throw new UserFacingError(`${(err as Error).message}; ${USAGE}`);
  }
}

await runCli('reconcile', async () => {
  const args = argsOf(process.argv.slice(2));
  const until = dateArg('until', args.until, new Date());
  const since = dateArg('since', args.since, new Date(until.getTime() - RECONCILE_WINDOW_MS));
  if (!(since < until)) throw new UserFacingError(`--since ${since.toISOString()} must be before --until ${until.toISOString()}`);

  const config = loadConfig();
  // stdout carries the table and the JSON last line; the log goes to stderr.
  const logger = createLogger(config.LOG_LEVEL, pino.destination({ dest: 2, sync: true }));
  const down = await unreachable(servicesOf(config));
  if (down.length) throw new UserFacingError(down.map(howToStart).join('; '));
  if (config.MIGRATE_ON_START) await migrate(config.DATABASE_URL);

  const metrics = createMetrics();
  const knex = createKnex(config.DATABASE_URL, { max: 4 }, logger);
  const redis = createRedis(config);
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error; reconnecting'));
  const amqp = createAmqpConnection({ url: config.AMQP_URL, logger });
  const payments = createPaymentsRepository(knex, { preparedStatements: config.DATABASE_PREPARED_STATEMENTS });
  const relay = createOutboxRelay({ outbox: createOutboxRepository(knex), connection: amqp, logger, metrics, pollMs: config.OUTBOX_POLL_MS, batchSize: config.OUTBOX_BATCH, graceMs: 0 });
  const compensationQueues = createCompensationQueues({ connection: redis, prefix: config.QUEUE_PREFIX, shards: config.QUEUE_SHARDS, attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS, retentionS: config.JOB_RETENTION_S });
  const gateways = createGateways(config);
  const compensation = createCompensationProcessor({
    payments,
    compensations: createCompensationsRepository(knex),
    gateways: gateways.map((gateway) => ({ gateway })),
    logger,
    metrics,
    onOutboxWritten: (orderId, event) => relay.publishNow(orderId, event),
  });
  const { reconciler, repository } = createReconcilerOf({ knex, redis, prefix: config.QUEUE_PREFIX, gateways, apply: compensation.apply, compensationQueues, logger, metrics, settleGraceMs: config.RECONCILE_SETTLE_GRACE_MS });
  try {
    await amqp.waitUntilUp(30_000);
    await declareTopologyOn(amqp);
    const summary = await reconciler.runPass({ since, until, repair: args.repair }).catch((err: unknown) => {
      if (err instanceof PassLockedError || err instanceof NoLedgerError) throw new UserFacingError(err.message);
      throw err;
    });
    // Every repair's event is in the outbox; publish them before exiting (a worker's relay would too, later).
    await relay.flush();
    await printPass(summary, (line) => process.stdout.write(`${line}\n`), (passId, after) => repository.discrepancies(passId, after));
  } finally {
    await relay.stop().catch(() => undefined);
    await Promise.allSettled(compensationQueues.shards.map((queue) => queue.close()));
    await amqp.close().catch(() => undefined);
    await redis.quit().catch(() => undefined);
    await knex.destroy();
  }

});
