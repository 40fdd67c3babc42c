import type { Knex } from 'knex';

/**
 * The Stripe webhook inbox (`webhook_events`): one row per Stripe event id,
 * ever. The endpoint records an event before answering 2xx; the ApplyWebhook
 * job settles it once with what applying it did. Plain objects out.
 */

/** What applying an event did: `ignored` is an event the service has no use for; `no_payment` found no payment to apply it to. */
export type WebhookOutcome = 'applied' | 'refused' | 'ignored' | 'no_payment';

export interface WebhookEventRecord {
  /** Stripe's event id (`evt_…`). */
  id: string;
  type: string;
  /** The event as Stripe sent it. */
  payload: unknown;
  receivedAt: Date;
  /** When the job settled it; null while it still has to be applied. */
  appliedAt: Date | null;
  outcome: WebhookOutcome | null;
  /** How many times the job has tried to apply it. */
  attempts: number;
}

export interface NewWebhookEvent {
  id: string;
  type: string;
  /** The verified body, exactly as received. */
  payload: string;
}

interface WebhookEventRow {
  id: string;
  type: string;
  payload: unknown;
  received_at: Date;
  applied_at: Date | null;
  outcome: WebhookOutcome | null;
  attempts: number;
}

const toRecord = (r: WebhookEventRow): WebhookEventRecord => ({
  id: r.id,
  type: r.type,
  payload: r.payload,
  receivedAt: r.received_at,
  appliedAt: r.applied_at,
  outcome: r.outcome,
  attempts: r.attempts,
});

export type WebhookEventsRepository = ReturnType<typeof createWebhookEventsRepository>;

export function createWebhookEventsRepository(knex: Knex) {
  return {
    /**
     * Stores the event unless its id is already there (a redelivery). `settled`
     * says whether the stored row has been applied already, so the caller need
     * not enqueue its job again.
     */
    async record(event: NewWebhookEvent): Promise<{ created: boolean; settled: boolean }> {
      const inserted = await knex('webhook_events')
        .insert({ id: event.id, type: event.type, payload: knex.raw('?::jsonb', [event.payload]) })
        .onConflict('id')
        .ignore()
        .returning('id');
      if (inserted.length > 0) return { created: true, settled: false };
      const existing = (await knex('webhook_events').where({ id: event.id }).first('outcome')) as Pick<WebhookEventRow, 'outcome'> | undefined;
      if (!existing) throw new Error(`webhook event ${event.id} conflicted on insert but cannot be read back; retry`);
      return { created: false, settled: existing.outcome !== null };
    },

    async find(id: string): Promise<WebhookEventRecord | undefined> {
      const row = (await knex('webhook_events').where({ id }).first()) as WebhookEventRow | undefined;
      return row && toRecord(row);
    },

    /** Counts one more try at applying the event and returns the row as it now stands. */
    async startAttempt(id: string): Promise<WebhookEventRecord | undefined> {
      const [row] = (await knex('webhook_events')
        .where({ id })
        .increment('attempts', 1)
        .returning('*')) as WebhookEventRow[];
      return row && toRecord(row);
    },

    /**
     * Records the outcome once: a row already settled keeps its first outcome
     * (two jobs racing on one event cannot overwrite each other). Returns
     * whether this call settled it.
     */
    async settle(id: string, outcome: WebhookOutcome): Promise<boolean> {
      const updated = await knex('webhook_events').where({ id }).whereNull('outcome').update({ outcome, applied_at: knex.fn.now() });
      return updated > 0;
    },
  };
}
