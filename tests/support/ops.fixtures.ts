import { createOutboxRepository } from '../../src/persistence/outbox.repository.js';
import { Writable } from 'node:stream';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { createOpsServer, type OpsServerDeps } from '../../src/http/ops.server.js';
import type { PaymentEventSource } from '../../src/http/payment.routes.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createKnex } from '../../src/persistence/db.js';
import { createPaymentsRepository, type PaymentsRepository } from '../../src/persistence/payments.repository.js';
import { createPaymentQueues, enqueueCharge, type ChargePaymentJob, type PaymentQueues } from '../../src/queues/payments.queue.js';
import { isolate, redisTarget, type Isolated } from '../../scripts/lib/isolation.js';
import { createRedis, type RedisClient } from '../../src/redis.js';
import {
  markPublished,
  seedDeclined,
  seedInitiated,
  seedRejected,
  seedRetrying,
  seedSucceeded,
  type SeededPayment,
} from './payments.seed.js';

export * from './payments.seed.js';

/** The outbox rows of one order, exactly as the service's outbox repository hands them over. */
export function outboxEvents(knex: Knex): PaymentEventSource {
  return createOutboxRepository(knex);
}

/** The payments queues of `shards` shards; `queue` is shard 0's, the only one with one shard. */
export function paymentsQueue(iso: Isolated, shards = 1): { queues: PaymentQueues; queue: Queue<ChargePaymentJob>; redis: RedisClient } {
  const redis = createRedis(redisTarget(iso));
  const queues = createPaymentQueues({ connection: redis, prefix: iso.queuePrefix, shards, attempts: 3, backoffMs: 100, retentionS: 3600 });
  return { queues, queue: queues.shards[0]!, redis };
}

export async function enqueueAll(queues: PaymentQueues, seeded: SeededPayment[]): Promise<void> {
  for (const p of seeded) await enqueueCharge(queues, p.orderId);
}

/** A logger whose lines are kept in memory, for assertions on what was (not) logged. */
export function capturedLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger('debug', sink), text: () => chunks.join('') };
}

export interface OpsWorld {
  iso: Isolated;
  knex: Knex;
  payments: PaymentsRepository;
  queues: PaymentQueues;
  /** Shard 0's queue: the only one with one shard. */
  queue: Queue<ChargePaymentJob>;
  seeded: { succeeded: SeededPayment; declined: SeededPayment; retrying: SeededPayment; initiated: SeededPayment; rejected: SeededPayment };
  /** An ops server on this world; each is closed by `close()`. */
  server(overrides?: Partial<OpsServerDeps>): FastifyInstance;
  close(): Promise<void>;
}

/** An isolated database with one payment in every situation, their jobs on real BullMQ queues (`shards` of them). */
export async function opsWorld({ shards = 1 } = {}): Promise<OpsWorld> {
  const iso = await isolate();
  const knex = createKnex(iso.databaseUrl);
  const payments = createPaymentsRepository(knex);
  const seeded = {
    succeeded: await seedSucceeded(payments),
    declined: await seedDeclined(payments),
    retrying: await seedRetrying(payments),
    initiated: await seedInitiated(payments),
    rejected: await seedRejected(payments),
  };
  await markPublished(knex, seeded.succeeded.orderId);
  const { queues, queue, redis } = paymentsQueue(iso, shards);
  await enqueueAll(queues, Object.values(seeded));
  const servers: FastifyInstance[] = [];
  return {
    iso,
    knex,
    payments,
    queues,
    queue,
    seeded,
    server(overrides = {}) {
      const app = createOpsServer({
        logger: capturedLogger().logger,
        metrics: createMetrics(),
        payments,
        outbox: outboxEvents(knex),
        queues,
        health: async () => ({ postgres: { ok: true }, redis: { ok: true }, rabbitmq: { ok: true } }),
        adminReadWrite: false,
        ...overrides,
      });
      servers.push(app);
      return app;
    },
    async close() {
      await Promise.allSettled(servers.map((s) => s.close()));
      await Promise.all(queues.shards.map((q) => q.close()));
      redis.disconnect();
      await knex.destroy();
      await iso.cleanup();
    },
  };
}
