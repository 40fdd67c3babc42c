import type { Knex } from 'knex';
import { createSql } from './sql.js';

export interface PendingEvent {
  id: string;
  orderId: string;
  type: string;
  routingKey: string;
  payload: Record<string, unknown>;
  headers: Record<string, string> | null;
  createdAt: Date;
}

/** An order's outbox row as the payment page shows it: what was written, and whether it went out. */
export interface PaymentEventRecord {
  id: string;
  type: string;
  routingKey: string;
  createdAt: Date;
  publishedAt: Date | null;
  publishAttempts: number;
}

interface OutboxRow {
  id: string;
  order_id: string;
  type: string;
  routing_key: string;
  payload: Record<string, unknown>;
  headers: Record<string, string> | null;
  created_at: Date;
}

// Events that keep failing (e.g. no queue bound for their routing key) go last, so they never starve the rest.
// Events younger than `minAgeMs` are left to the process that wrote them, which publishes them at once.
const claim = (limit: number, minAgeMs: number) => `SELECT id, order_id, type, routing_key, payload, headers, created_at FROM outbox
  WHERE published_at IS NULL${minAgeMs > 0 ? ` AND created_at < now() - interval '${Math.trunc(minAgeMs)} milliseconds'` : ''}
  ORDER BY publish_attempts, created_at LIMIT ${Math.trunc(limit)} FOR UPDATE SKIP LOCKED`;

/** Marks the events in `ids` (a uuid[] parameter or literal) published; one already marked stays as it was. */
const markPublished = (ids: string) => `UPDATE outbox SET published_at = now() WHERE id = ANY(${ids}) AND published_at IS NULL`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A uuid[] literal of ids read from the uuid column (checked again: they go into the statement's text). */
function uuidArray(ids: string[]): string {
  for (const id of ids) if (!UUID.test(id)) throw new Error(`outbox id ${JSON.stringify(id)} is not a uuid`);
  return `'{${ids.join(',')}}'::uuid[]`;
}

export type OutboxRepository = ReturnType<typeof createOutboxRepository>;

export function createOutboxRepository(knex: Knex) {
  const sql = createSql(knex);
  return {
    /**
     * Claims up to `limit` unpublished events, hands them to `publish`, and
     * marks the ones it confirmed as published — all while holding the rows
     * with FOR UPDATE SKIP LOCKED, so many relays share the work without
     * publishing the same row at once. If the process dies midway the
     * transaction rolls back and the rows are published again with the same id.
     */
    async claimBatch(limit: number, publish: (events: PendingEvent[]) => Promise<string[]>, minAgeMs = 0): Promise<number> {
      // Two round trips per pass, not four: BEGIN goes with the claim, COMMIT with the marks.
      return sql.scripted(async (script) => {
        const rows = (await script(`BEGIN; ${claim(limit, minAgeMs)}`))[1]!.rows as OutboxRow[];
        if (rows.length === 0) {
          await script('COMMIT');
          return 0;
        }
        const events = rows.map((r) => ({
          id: r.id,
          orderId: r.order_id,
          type: r.type,
          routingKey: r.routing_key,
          payload: r.payload,
          headers: r.headers,
          createdAt: r.created_at,
        }));
        const confirmed = await publish(events);
        const published = new Set(confirmed);
        const failed = events.map((e) => e.id).filter((id) => !published.has(id));
        const marks = [
          confirmed.length ? markPublished(uuidArray(confirmed)) : '',
          failed.length ? `UPDATE outbox SET publish_attempts = publish_attempts + 1 WHERE id = ANY(${uuidArray(failed)})` : '',
        ].filter(Boolean);
        await script([...marks, 'COMMIT'].join('; '));
        return confirmed.length;
      });
    },

    /** Marks events published outside a claim (published right after their commit); already marked ones stay as they are. */
    async markPublished(ids: string[]): Promise<void> {
      await sql.planned(markPublished('$1::uuid[]'), [ids]);
    },

    /** The events written for one order, published or not (the payment page's timeline). */
    async eventsOf(orderId: string): Promise<PaymentEventRecord[]> {
      const rows = (await knex('outbox')
        .select('id', 'type', 'routing_key', 'created_at', 'published_at', 'publish_attempts')
        .where({ order_id: orderId })
        .orderBy('created_at')) as Array<{
        id: string;
        type: string;
        routing_key: string;
        created_at: Date;
        published_at: Date | null;
        publish_attempts: number;
      }>;
      return rows.map((r) => ({
        id: r.id,
        type: r.type,
        routingKey: r.routing_key,
        createdAt: r.created_at,
        publishedAt: r.published_at,
        publishAttempts: r.publish_attempts,
      }));
    },

    /** Oldest unpublished event's age in ms (0 when none): the outbox lag. */
    async lagMs(): Promise<number> {
      const row = (await knex('outbox')
        .whereNull('published_at')
        .min('created_at as oldest')
        .first()) as { oldest: Date | null } | undefined;
      return row?.oldest ? Math.max(0, Date.now() - new Date(row.oldest).getTime()) : 0;
    },

    async unpublishedCount(): Promise<number> {
      const row = (await knex('outbox').whereNull('published_at').count('* as n').first()) as { n: string };
      return Number(row.n);
    },
  };
}
