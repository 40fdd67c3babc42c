import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createStripeGateway } from '../../src/gateway/stripe.gateway.js';
import { parseAmount } from '../../src/money.js';
import { declareTopology, INPUT_QUEUE } from '../../src/queues/topology.js';

/**
 * The peer the benchmark compares against: the straightforward pipeline
 * without any of the service's guarantees. consume → BullMQ add → insert,
 * update → publish with confirm → ack. No state machine, no outbox, no
 * dedupe, no idempotency key, no gateway call. It reads the same quorum input
 * queue as the service, so both pay the same broker costs.
 */
export interface NaivePipelineOptions {
  amqpUrl: string;
  redisUrl: string;
  databaseUrl: string;
  /** BullMQ prefix (the run's isolation). */
  prefix: string;
  concurrency: number;
  prefetch: number;
  /**
   * When set, each job also charges through this Stripe-compatible gateway
   * (the simulator) with the service's own adapter, between the insert and
   * the update: the naive peer plus the one external call every payment makes.
   */
  gatewayUrl?: string;
}

export interface NaivePipeline {
  stop(): Promise<void>;
}

const QUEUE = 'naive-payments';

export async function ensureNaiveTable(pool: pg.Pool): Promise<void> {
  await pool.query(`CREATE TABLE IF NOT EXISTS naive_payments (
    id uuid PRIMARY KEY, order_id uuid NOT NULL, amount numeric NOT NULL, currency char(3) NOT NULL,
    status varchar(16) NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz, gateway_ms numeric)`);
}

export async function startNaivePipeline(o: NaivePipelineOptions): Promise<NaivePipeline> {
  const pool = new pg.Pool({ connectionString: o.databaseUrl, max: Math.min(40, o.concurrency + 5) });
  await ensureNaiveTable(pool);
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
  const connection = await amqp.connect(o.amqpUrl, { noDelay: true });
  const consumeChannel = await connection.createChannel();
  const publishChannel = await connection.createConfirmChannel();
  await declareTopology(consumeChannel);
  await consumeChannel.prefetch(o.prefetch);

  const queue = new Queue(QUEUE, { connection: redis, prefix: o.prefix });
  const gateway = o.gatewayUrl ? createStripeGateway({ apiKey: 'sk_test_naive_peer', url: o.gatewayUrl, timeoutMs: 10_000, name: 'naive' }) : undefined;
  // The delivery waits here until its job has published: then it is acked.
  const deliveries = new Map<string, amqp.ConsumeMessage>();

  const worker = new Worker(
    QUEUE,
    async (job) => {
      const { orderId, amount, currency } = job.data as { orderId: string; amount: string; currency: string };
      const id = randomUUID();
      await pool.query('INSERT INTO naive_payments (id, order_id, amount, currency, status) VALUES ($1, $2, $3, $4, $5)', [id, orderId, amount, currency, 'Processing']);
      // The call's duration, as the service records its own (the benchmark subtracts it to get the overhead).
      let gatewayMs: number | null = null;
      if (gateway) {
        const amountMinor = parseAmount(amount, currency);
        const started = performance.now();
        // Prepared, then confirmed: the same two calls the service makes.
        await gateway.charge(await gateway.prepare({ orderId, paymentId: id, amountMinor, currency, paymentMethod: 'pm_card_visa', idempotencyKey: `${id}-intent` }));
        gatewayMs = performance.now() - started;
      }
      await pool.query('UPDATE naive_payments SET status = $2, updated_at = now(), gateway_ms = $3 WHERE id = $1', [id, 'Success', gatewayMs]);
      await publish(publishChannel, { orderId, paymentId: id, amount, currency });
      const delivery = deliveries.get(job.id!);
      deliveries.delete(job.id!);
      if (delivery) consumeChannel.ack(delivery);
    },
    { connection: redis, prefix: o.prefix, concurrency: o.concurrency, removeOnComplete: { count: 1000 } },
  );
  worker.on('error', () => {});

  const { consumerTag } = await consumeChannel.consume(INPUT_QUEUE, (msg) => {
    if (!msg) return;
    const data = (JSON.parse(msg.content.toString('utf8')) as { data: Record<string, unknown> }).data;
    const jobId = randomUUID();
    deliveries.set(jobId, msg);
    queue.add('charge', data, { jobId, removeOnComplete: true }).catch(() => {
      deliveries.delete(jobId);
      consumeChannel.nack(msg, false, true);
    });
  });

  return {
    async stop() {
      await consumeChannel.cancel(consumerTag).catch(() => {});
      await worker.close();
      await queue.close();
      await connection.close().catch(() => {});
      redis.disconnect();
      await pool.end();
    },
  };
}

/** PaymentCompleted, CloudEvents-shaped like the service's, one confirm awaited per message. */
async function publish(channel: amqp.ConfirmChannel, d: { orderId: string; paymentId: string; amount: string; currency: string }) {
  const id = randomUUID();
  const now = new Date().toISOString();
  const event = {
    specversion: '1.0', id, source: 'naive-peer', type: 'PaymentCompleted', time: now, datacontenttype: 'application/json',
    data: { ...d, transactionId: `naive_${id}`, timestamp: now },
  };
  await new Promise<void>((resolve, reject) => {
    channel.publish('payment.events', 'payment.completed', Buffer.from(JSON.stringify(event)), {
      persistent: true, contentType: 'application/cloudevents+json', messageId: id, type: 'PaymentCompleted',
    }, (err) => (err ? reject(err) : resolve()));
  });
}
