import type { Knex } from 'knex';

/**
 * The record of truth. `payments` follows the seed's schema (CONTRACT.md §4)
 * with the persisted machine snapshot and an optimistic-concurrency `version`;
 * `payment_transitions` is each payment's history; `outbox` holds the terminal
 * event written in the same transaction as the terminal state.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('payments', (t) => {
    t.uuid('id').primary();
    t.uuid('order_id').notNullable().unique();
    // Exact decimal as written on the wire ("49.99", "5000", "1.250") and the integer minor units.
    t.decimal('amount', null).notNullable();
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.string('customer_id', 255);
    t.string('payment_method', 255);
    t.string('status', 16).notNullable();
    t.string('transaction_id', 255);
    t.string('gateway', 100);
    t.jsonb('gateway_response');
    t.string('failure_code', 64);
    t.string('failure_reason', 500);
    t.jsonb('snapshot').notNullable();
    t.integer('machine_version').notNullable();
    t.integer('version').notNullable().defaultTo(0);
    t.string('source_event_id', 255);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('completed_at', { useTz: true });
    t.timestamp('failed_at', { useTz: true });
    t.index(['status'], 'payments_status_idx');
    t.index(['created_at'], 'payments_created_at_idx');
  });
  await knex.raw(`ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('Initiated','Processing','Success','Failed'))`);
  // Only a payment refused for invalid data may carry no amount (0): nothing is ever charged for it.
  await knex.raw(`ALTER TABLE payments ADD CONSTRAINT payments_amount_positive
    CHECK (amount_minor > 0 OR (status = 'Failed' AND failure_code = 'invalid_request'))`);
  // The sweeper's scan: only unfinished payments, oldest first.
  await knex.raw(`CREATE INDEX payments_unfinished_idx ON payments (updated_at)
    WHERE status IN ('Initiated','Processing')`);

  await knex.schema.createTable('payment_transitions', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('payment_id').notNullable().references('payments.id').onDelete('CASCADE');
    t.uuid('order_id').notNullable();
    t.string('from_status', 16);
    t.string('to_status', 16).notNullable();
    t.string('event', 64).notNullable();
    t.jsonb('detail');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['order_id', 'id'], 'payment_transitions_order_idx');
    t.index(['created_at'], 'payment_transitions_created_at_idx');
  });

  await knex.schema.createTable('outbox', (t) => {
    // The CloudEvent id: a re-publish after a crash carries the same id.
    t.uuid('id').primary();
    t.uuid('payment_id').notNullable().references('payments.id').onDelete('CASCADE');
    // One terminal event per order, enforced by the database.
    t.uuid('order_id').notNullable().unique();
    t.string('type', 64).notNullable();
    t.string('routing_key', 128).notNullable();
    t.jsonb('payload').notNullable();
    t.jsonb('headers');
    t.integer('publish_attempts').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('published_at', { useTz: true });
  });
  await knex.raw(`CREATE INDEX outbox_unpublished_idx ON outbox (publish_attempts, created_at) WHERE published_at IS NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('outbox');
  await knex.schema.dropTableIfExists('payment_transitions');
  await knex.schema.dropTableIfExists('payments');
}
