import type { Knex } from 'knex';

/**
 * The Stripe webhook inbox (CONTRACT.md §6): every verified event, keyed by
 * Stripe's own event id, written before the endpoint answers 2xx. Stripe
 * delivers at least once, so the id is what absorbs a redelivery. The
 * `ApplyWebhook` job reads the row and records what applying it did.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webhook_events', (t) => {
    t.text('id').primary();
    t.text('type').notNullable();
    t.jsonb('payload').notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Null until the job has settled it: such a row still has work to do.
    t.timestamp('applied_at', { useTz: true });
    t.text('outcome');
    t.integer('attempts').notNullable().defaultTo(0);
  });
  await knex.raw(`ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_outcome_check
    CHECK (outcome IN ('applied','refused','ignored','no_payment'))`);
  await knex.raw('ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_settled_check CHECK ((outcome IS NULL) = (applied_at IS NULL))');
  // What a sweeper or an operator looks for: events received and not settled yet.
  await knex.raw('CREATE INDEX webhook_events_unsettled_idx ON webhook_events (received_at) WHERE applied_at IS NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('webhook_events');
}
