import type { Knex } from 'knex';

/**
 * The compensation input's durable record (CONTRACT.md §8), written before its
 * job is enqueued and the message acked.
 * `order_cancellations`: one row per cancelled order, ever; it is also the
 * tombstone a late InventoryReserved is checked against.
 * `refunds`: one row per refund, keyed by the caller's refundId (or, for a
 * cancellation, the service's own); the request record the refund job and the
 * ops pages and reconciliation read.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('order_cancellations', (t) => {
    t.uuid('order_id').primary();
    t.string('source_event_id', 255).notNullable();
    t.string('reason', 255);
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Set once its PaymentCancelled or PaymentRefunded is written: an unanswered one still has work to do.
    t.timestamp('answered_at', { useTz: true });
  });
  await knex.raw(`CREATE INDEX order_cancellations_unanswered_idx ON order_cancellations (received_at) WHERE answered_at IS NULL`);

  await knex.schema.createTable('refunds', (t) => {
    t.uuid('id').primary();
    t.uuid('order_id').notNullable();
    t.uuid('payment_id').references('payments.id');
    // Null while the payment's currency is unknown, or when the amount can be valid in none.
    t.bigInteger('amount_minor');
    // As the caller wrote it: what a repeated request is compared with.
    t.string('amount', 255);
    t.specificType('currency', 'char(3)');
    t.string('reason', 255);
    t.string('status', 16).notNullable().defaultTo('requested');
    t.string('failure_code', 64);
    t.string('failure_reason', 500);
    t.string('gateway_refund_id', 255);
    t.string('idempotency_key', 255);
    t.string('source_event_id', 255);
    t.boolean('cancel').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['order_id'], 'refunds_order_idx');
  });
  await knex.raw(`ALTER TABLE refunds ADD CONSTRAINT refunds_status_check
    CHECK (status IN ('requested','pending','succeeded','failed'))`);
  await knex.raw('ALTER TABLE refunds ADD CONSTRAINT refunds_amount_positive CHECK (amount_minor IS NULL OR amount_minor > 0)');
  // A cancellation gives back everything at most once: one refund of its own per order.
  await knex.raw('CREATE UNIQUE INDEX refunds_one_cancel_per_order ON refunds (order_id) WHERE cancel');
  // What the refund job and a sweeper look for: requests not settled yet.
  await knex.raw(`CREATE INDEX refunds_open_idx ON refunds (updated_at) WHERE status IN ('requested','pending')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('refunds');
  await knex.schema.dropTableIfExists('order_cancellations');
}
