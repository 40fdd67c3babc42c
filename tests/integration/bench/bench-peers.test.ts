import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startCollector, type Collector } from '../../../scripts/bench/collector.js';
import { startNaivePipeline, type NaivePipeline } from '../../../scripts/bench/naive-pipeline.js';
import { startPublisher, type Publisher } from '../../../scripts/bench/publisher.js';
import { startPgWireCounter } from '../../../scripts/bench/wire-counters.js';
import { jobMarks, naiveGatewayMsByOrder } from '../../../scripts/bench/db-probes.js';
import { createSimulator } from '../../../src/gateway/simulator/simulator.js';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { createPaymentQueues, enqueueCharge, PAYMENTS_QUEUE } from '../../../src/queues/payments.queue.js';
import { isolate, type Isolated } from '../../../scripts/lib/isolation.js';

describe('the benchmark\'s naive peer and its load tools', () => {
  let iso: Isolated;
  let naive: NaivePipeline | undefined;
  let collector: Collector | undefined;
  let publisher: Publisher | undefined;

  beforeAll(async () => {
    iso = await isolate();
  });
  afterAll(async () => {
    await naive?.stop();
    await collector?.close();
    await publisher?.close();
    await iso?.cleanup();
  });

  it('when orders are published flat out and at a rate, then the naive peer answers each with one PaymentCompleted matched by order id', async () => {
    collector = await startCollector(iso.amqpUrl, 'bench.test-terminal');
    publisher = await startPublisher(iso.amqpUrl);
    naive = await startNaivePipeline({ amqpUrl: iso.amqpUrl, redisUrl: iso.redisUrl, databaseUrl: iso.databaseUrl, prefix: iso.queuePrefix, concurrency: 5, prefetch: 20 });

    const flat = collector.phase('flat', 40);
    await publisher.flatOut(flat, 40, 10);
    await collector.done(flat, 30_000);
    const steady = collector.phase('steady', 20);
    await publisher.offered(steady, 20, 200);
    await collector.done(steady, 30_000);

    for (const p of [flat, steady]) {
      expect(p.receivedAt.size).toBe(p.expected);
      expect([...p.receivedAt.keys()].sort()).toEqual([...p.sentAt.keys()].sort());
      expect(p.types).toEqual({ PaymentCompleted: p.expected });
      expect(p.distinctDuplicates).toBe(0);
    }
    const db = new pg.Client({ connectionString: iso.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM naive_payments WHERE status = 'Success'`);
      expect(rows[0].n).toBe(60);
    } finally {
      await db.end();
    }
  });

  it('when the naive peer charges through a slow simulator, then the benchmark reads each order\'s gateway time, at least the latency and less than its end to end', async () => {
    // The first test's peer reads the same input queue: it would take some of these orders.
    await naive?.stop();
    naive = undefined;
    const simulator = createSimulator({ seed: 7, latencyMs: '40-60' });
    await simulator.start();
    const bus = await startCollector(iso.amqpUrl, 'bench.test-terminal-slow');
    const load = await startPublisher(iso.amqpUrl);
    const prefix = `${iso.queuePrefix}slow`;
    const peer = await startNaivePipeline({ amqpUrl: iso.amqpUrl, redisUrl: iso.redisUrl, databaseUrl: iso.databaseUrl, prefix, concurrency: 5, prefetch: 20, gatewayUrl: simulator.url });
    const pool = new pg.Pool({ connectionString: iso.databaseUrl, max: 1 });
    try {
      const p = bus.phase('slow', 10);
      await load.offered(p, 10, 100);
      await bus.done(p, 30_000);
      const gateway = await naiveGatewayMsByOrder(pool, [...p.sentAt.keys()]);
      expect(gateway.size).toBe(10);
      for (const [orderId, ms] of gateway) {
        expect(ms).toBeGreaterThanOrEqual(40);
        expect(ms).toBeLessThan(p.receivedAt.get(orderId)! - p.sentAt.get(orderId)!);
      }
      expect(simulator.ledger().length).toBe(10);
    } finally {
      await peer.stop();
      await bus.close();
      await load.close();
      await pool.end();
      await simulator.close();
    }
  });

  it('when a job has run, then the job stamps the benchmark reads say when it was added and when a worker took it; a job never added has none', async () => {
    const redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
    const queues = createPaymentQueues({ connection: redis, prefix: iso.queuePrefix, shards: 1, attempts: 1, backoffMs: 10, retentionS: 60 });
    const workerRedis = redis.duplicate();
    let worker: Worker | undefined;
    const ran = new Promise<void>((resolve) => {
      worker = new Worker(PAYMENTS_QUEUE, async () => undefined, { connection: workerRedis, prefix: iso.queuePrefix });
      worker.on('completed', () => resolve());
    });
    try {
      const [orderId, never] = [randomUUID(), randomUUID()];
      const before = Date.now();
      await enqueueCharge(queues, orderId);
      await ran;
      const marks = await jobMarks(redis, iso.queuePrefix, [orderId, never]);
      const m = marks.get(orderId)!;
      expect(m.added).toBeGreaterThanOrEqual(before);
      expect(m.active).toBeGreaterThanOrEqual(m.added!);
      expect(m.active).toBeLessThanOrEqual(Date.now());
      expect(marks.get(never)).toEqual({ added: undefined, active: undefined });
    } finally {
      await worker?.close();
      await queues.shards[0]!.close();
      workerRedis.disconnect();
      redis.disconnect();
    }
  });

  it('when a client talks to PostgreSQL through the counting proxy, then each query and each transaction statement is one round trip', async () => {
    const db = new URL(iso.databaseUrl);
    const proxy = await startPgWireCounter({ host: db.hostname, port: Number(db.port) || 5432 });
    db.port = String(proxy.port);
    const client = new pg.Client({ connectionString: db.toString() });
    await client.connect();
    try {
      const before = proxy.roundTrips();
      const { rows } = await client.query('SELECT $1::int + 1 AS n', [41]);
      await client.query('BEGIN');
      await client.query('SELECT 1');
      await client.query('COMMIT');
      expect(rows[0].n).toBe(42);
      expect(proxy.roundTrips() - before).toBe(4);
      expect(proxy.statements().get('SELECT $1::int + 1 AS n')).toBe(1);
      expect(proxy.statements().get('BEGIN')).toBe(1);
    } finally {
      await client.end();
      await proxy.close();
    }
  });
});
