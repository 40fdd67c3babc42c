import type { Redis } from 'ioredis';
import type pg from 'pg';
import { PAYMENTS_QUEUE } from '../../src/queues/payments.queue.js';
import { queueKey, queueShards, sharded } from '../../src/queues/queue-shards.js';

/** A stamp read back as text (PostgreSQL or Redis); missing or empty is undefined. */
const num = (v: string | null | undefined) => (v === null || v === undefined || v === '' ? undefined : Number(v));

/** pg_stat_database of the run's own database: nobody else writes there, so deltas are ours. */
export interface PgCounters {
  commits: number;
  rollbacks: number;
  inserted: number;
  updated: number;
}

export async function pgCounters(pool: pg.Pool): Promise<PgCounters> {
  // PostgreSQL 15 flushes a backend's pending statistics at most once a second: read after a pause.
  const { rows } = await pool.query(
    `SELECT xact_commit, xact_rollback, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = current_database()`,
  );
  const r = rows[0] as Record<string, string>;
  return { commits: Number(r.xact_commit), rollbacks: Number(r.xact_rollback), inserted: Number(r.tup_inserted), updated: Number(r.tup_updated) };
}

/** Calls per command since the server started (INFO commandstats): server-wide, so other clients count too. */
export async function redisCommandCounts(redis: Redis): Promise<Map<string, number>> {
  const text = await redis.info('commandstats');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

export function diffCounts(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

/** Gateway time per order: the sum of its gateway calls, as the worker recorded them in the history. */
export async function gatewayMsByOrder(pool: pg.Pool, orderIds: string[]): Promise<Map<string, number>> {
  const { rows } = await pool.query(
    `SELECT order_id, sum((c->>'durationMs')::numeric) AS ms
       FROM payment_transitions t, jsonb_array_elements(t.detail->'gatewayCalls') c
      WHERE t.order_id = ANY($1::uuid[]) AND t.detail ? 'gatewayCalls'
      GROUP BY order_id`,
    [orderIds],
  );
  return new Map(rows.map((r: { order_id: string; ms: string }) => [r.order_id, Number(r.ms)]));
}

/** The naive peer's gateway time per order: the one charge call it timed (only when it charges). */
export async function naiveGatewayMsByOrder(pool: pg.Pool, orderIds: string[]): Promise<Map<string, number>> {
  const { rows } = await pool.query(
    `SELECT order_id, gateway_ms AS ms FROM naive_payments WHERE order_id = ANY($1::uuid[]) AND gateway_ms IS NOT NULL`,
    [orderIds],
  );
  return new Map(rows.map((r: { order_id: string; ms: string }) => [r.order_id, Number(r.ms)]));
}

/**
 * Where each order's time went, from the timestamps the service writes.
 * PostgreSQL's now() is its transaction's start, so each mark is when that
 * step's transaction began.
 */
export interface OrderMarks {
  created: number;
  processing: number | undefined;
  terminal: number | undefined;
}

export async function orderMarks(pool: pg.Pool, orderIds: string[]): Promise<Map<string, OrderMarks>> {
  // Joins on order_id, which every table indexes: a correlated look-up per payment would scan the history N times.
  const { rows } = await pool.query(
    `WITH ids AS (SELECT unnest($1::uuid[]) AS order_id),
          started AS (
            SELECT t.order_id, min(t.created_at) AS at FROM payment_transitions t JOIN ids USING (order_id)
             WHERE t.to_status = 'Processing' AND t.from_status = 'Initiated' GROUP BY t.order_id)
     SELECT p.order_id,
            extract(epoch FROM p.created_at) * 1000 AS created,
            extract(epoch FROM s.at) * 1000 AS processing,
            extract(epoch FROM o.created_at) * 1000 AS terminal
       FROM payments p JOIN ids USING (order_id)
       LEFT JOIN started s USING (order_id)
       LEFT JOIN outbox o ON o.order_id = p.order_id`,
    [orderIds],
  );
  return new Map(
    rows.map((r: Record<string, string | null>) => [
      r.order_id!,
      { created: Number(r.created), processing: num(r.processing), terminal: num(r.terminal) },
    ]),
  );
}

export interface JobMarks {
  /** When the job was added (BullMQ's `timestamp`), ms since the epoch. */
  added?: number;
  /** When a worker took it (`processedOn`: its latest attempt's start). */
  active?: number;
}

/**
 * Each order's job stamps, read from the job hashes BullMQ keeps (finished
 * jobs are retained, so they are all still there). A job is missing only if
 * retention removed it; its stages are then left out.
 */
export async function jobMarks(redis: Redis, prefix: string, orderIds: string[], shards = 1): Promise<Map<string, JobMarks>> {
  const out = new Map<string, JobMarks>();
  const home = sharded(queueShards(PAYMENTS_QUEUE, prefix, shards));
  for (let i = 0; i < orderIds.length; i += 1000) {
    const chunk = orderIds.slice(i, i + 1000);
    const pipeline = redis.pipeline();
    for (const id of chunk) pipeline.hmget(queueKey(home.of(id), id), 'timestamp', 'processedOn');
    const replies = (await pipeline.exec()) ?? [];
    chunk.forEach((id, j) => {
      const [err, fields] = replies[j] ?? [];
      if (err || !Array.isArray(fields)) return;
      out.set(id, { added: num(fields[0] as string | null), active: num(fields[1] as string | null) });
    });
  }
  return out;
}
