import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import amqp from 'amqplib';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { chargeJobOptions } from '../../src/queues/payments.queue.js';
import { INPUT_QUEUE_ARGUMENTS } from '../../src/queues/topology.js';

/** One part's raw rate, measured alone in this run. */
export interface Ceiling {
  key: string;
  label: string;
  perS: number;
}

const elapsedS = (started: number) => (performance.now() - started) / 1000;

/** BullMQ with a no-op processor: jobs added in bulk (the production job options), then drained at concurrency 50. */
export async function bullmqCeilings(redisUrl: string, prefix: string, n: number): Promise<Ceiling[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('ceiling-noop', { connection: redis, prefix, defaultJobOptions: chargeJobOptions({ attempts: 8, backoffMs: 500, retentionS: 86_400 }) });
  try {
    let started = performance.now();
    for (let i = 0; i < n; i += 1000) {
      const size = Math.min(1000, n - i);
      await queue.addBulk(Array.from({ length: size }, () => ({ name: 'noop', data: { orderId: randomUUID() }, opts: { jobId: randomUUID() } })));
    }
    const addPerS = n / elapsedS(started);
    let done = 0;
    const worker = new Worker('ceiling-noop', async () => undefined, { connection: redis, prefix, concurrency: 50, autorun: false });
    const finished = new Promise<void>((resolve) => worker.on('completed', () => ++done >= n && resolve()));
    started = performance.now();
    void worker.run();
    await finished;
    const processPerS = n / elapsedS(started);
    await worker.close();
    await queue.obliterate({ force: true });
    return [
      { key: 'bullmq_add', label: 'BullMQ add (addBulk, 1000 a call)', perS: addPerS },
      { key: 'bullmq_noop', label: 'BullMQ no-op worker, concurrency 50', perS: processPerS },
    ];
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

/** Commits per second from `connections` clients looping `statements` for `durationMs`. */
async function commitLoop(databaseUrl: string, connections: number, durationMs: number, statements: (c: pg.Client) => Promise<void>): Promise<number> {
  const clients = await Promise.all(Array.from({ length: connections }, async () => {
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    return c;
  }));
  try {
    let commits = 0;
    const started = performance.now();
    const deadline = started + durationMs;
    await Promise.all(clients.map(async (c) => {
      while (performance.now() < deadline) {
        await statements(c);
        commits++;
      }
    }));
    return commits / elapsedS(started);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

/** A bare commit loop (single-row INSERT, autocommit) and the pipeline's shape (insert + update + outbox insert in one transaction). */
export async function postgresCeilings(databaseUrl: string, durationMs: number): Promise<Ceiling[]> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE TABLE IF NOT EXISTS bench_commits (id bigserial PRIMARY KEY, v text NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
  await admin.query(`CREATE TABLE IF NOT EXISTS bench_rows (id uuid PRIMARY KEY, status text NOT NULL, v jsonb, updated_at timestamptz)`);
  await admin.query(`CREATE TABLE IF NOT EXISTS bench_outbox (id uuid PRIMARY KEY, row_id uuid NOT NULL, payload jsonb NOT NULL, published_at timestamptz)`);
  await admin.end();
  const single = (c: pg.Client) => c.query('INSERT INTO bench_commits (v) VALUES ($1)', ['x']).then(() => undefined);
  const shaped = async (c: pg.Client) => {
    const id = randomUUID();
    await c.query('BEGIN');
    await c.query('INSERT INTO bench_rows (id, status, v) VALUES ($1, $2, $3)', [id, 'Processing', '{"a":1}']);
    await c.query('UPDATE bench_rows SET status = $2, updated_at = now() WHERE id = $1', [id, 'Success']);
    await c.query('INSERT INTO bench_outbox (id, row_id, payload) VALUES ($1, $2, $3)', [randomUUID(), id, '{"b":2}']);
    await c.query('COMMIT');
  };
  return [
    { key: 'pg_commit_1', label: 'PostgreSQL single-row INSERT commits, 1 connection', perS: await commitLoop(databaseUrl, 1, durationMs, single) },
    { key: 'pg_commit_10', label: 'PostgreSQL single-row INSERT commits, 10 connections', perS: await commitLoop(databaseUrl, 10, durationMs, single) },
    { key: 'pg_txn3_10', label: 'PostgreSQL insert+update+outbox insert txn, 10 connections', perS: await commitLoop(databaseUrl, 10, durationMs, shaped) },
  ];
}

/**
 * Persistent publish with a confirm per batch, then consume with prefetch
 * 100 and one ack per message (as the service does). `quorum` is the input
 * queue's kind; classic is what a subscriber of payment.events usually has.
 */
export async function rabbitCeilings(amqpUrl: string, n: number): Promise<Ceiling[]> {
  const connection = await amqp.connect(amqpUrl, { noDelay: true });
  const out: Ceiling[] = [];
  try {
    for (const kind of ['quorum', 'classic'] as const) {
      const queue = `bench-ceiling-${kind}`;
      const ch = await connection.createConfirmChannel();
      await ch.assertQueue(queue, kind === 'quorum' ? { durable: true, arguments: { ...INPUT_QUEUE_ARGUMENTS, 'x-dead-letter-routing-key': `${queue}-dlq` } } : { durable: true });
      const body = Buffer.from(JSON.stringify({ pad: 'x'.repeat(380) }));
      for (const batch of [100, 1000]) {
        const started = performance.now();
        for (let sent = 0; sent < n; ) {
          const size = Math.min(batch, n - sent);
          for (let i = 0; i < size; i++) {
            if (!ch.sendToQueue(queue, body, { persistent: true, messageId: randomUUID() })) await once(ch, 'drain');
          }
          sent += size;
          await ch.waitForConfirms();
        }
        out.push({ key: `rabbit_pub_${kind}_${batch}`, label: `RabbitMQ persistent publish, confirm per ${batch}, ${kind} queue`, perS: n / elapsedS(started) });
      }
      out.push({ key: `rabbit_consume_${kind}`, label: `RabbitMQ consume, prefetch 100, ack each, ${kind} queue`, perS: await consumeAll(connection, queue, 2 * n) });
      await ch.deleteQueue(queue);
      await ch.close();
    }
    return out;
  } finally {
    await connection.close().catch(() => {});
  }
}

async function consumeAll(connection: amqp.ChannelModel, queue: string, n: number): Promise<number> {
  const ch = await connection.createChannel();
  await ch.prefetch(100);
  let got = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    void ch.consume(queue, (msg) => {
      if (!msg) return;
      ch.ack(msg);
      if (++got >= n) resolve();
    });
  });
  const perS = n / elapsedS(started);
  await ch.close();
  return perS;
}
