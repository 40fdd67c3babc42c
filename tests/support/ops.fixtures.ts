import { createOutboxRepository } from '../../src/persistence/outbox.repository.js';
import { Writable } from 'node:stream';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { createOpsServer, type OpsServerDeps } from '../../src/http/ops.server.js';
import type { PaymentEventSource } from '../../src/http/payment.routes.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createKnex } from '../../src/persistence/db.js';
import { createPaymentsRepository, type PaymentsRepository } from '../../src/persistence/payments.repository.js';
import { createPaymentsQueue, enqueueCharge, type ChargePaymentJob } from '../../src/queues/payments.queue.js';
import { isolate, type Isolated } from '../../scripts/lib/isolation.js';
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

export function paymentsQueue(iso: Isolated): { queue: Queue<ChargePaymentJob>; redis: Redis } {
  const redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
  const queue = createPaymentsQueue({ connection: redis, prefix: iso.queuePrefix, attempts: 3, backoffMs: 100, retentionS: 3600 });
  return { queue, redis };
}

export async function enqueueAll(queue: Queue<ChargePaymentJob>, seeded: SeededPayment[]): Promise<void> {
  for (const p of seeded) await enqueueCharge(queue, p.orderId);
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
  queue: Queue<ChargePaymentJob>;
  seeded: { succeeded: SeededPayment; declined: SeededPayment; retrying: SeededPayment; initiated: SeededPayment; rejected: SeededPayment };
  /** An ops server on this world; each is closed by `close()`. */
  server(overrides?: Partial<OpsServerDeps>): FastifyInstance;
  close(): Promise<void>;
}

/** An isolated database with one payment in every situation, their jobs on a real BullMQ queue. */
export async function opsWorld(): Promise<OpsWorld> {
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
  const { queue, redis } = paymentsQueue(iso);
  await enqueueAll(queue, Object.values(seeded));
  const servers: FastifyInstance[] = [];
  return {
    iso,
    knex,
    payments,
    queue,
    seeded,
    server(overrides = {}) {
      const app = createOpsServer({
        logger: capturedLogger().logger,
        metrics: createMetrics(),
        payments,
        outbox: outboxEvents(knex),
        queue,
        health: async () => ({ postgres: { ok: true }, redis: { ok: true }, rabbitmq: { ok: true } }),
        adminReadWrite: false,
        ...overrides,
      });
      servers.push(app);
      return app;
    },
    async close() {
      await Promise.allSettled(servers.map((s) => s.close()));
      await queue.close();
      redis.disconnect();
      await knex.destroy();
      await iso.cleanup();
    },
  };
}
