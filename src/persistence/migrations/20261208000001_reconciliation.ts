import type { Knex } from 'knex';

/**
 * Reconciliation (CONTRACT.md §9). Each pass and what it found are kept:
 * `reconciliation_passes` (one row per pass, its window and counts) and
 * `reconciliation_discrepancies` (one row per difference, with the repair it
 * got). The gateway's side of a pass is streamed page by page into two
 * staging tables and compared with the payments in SQL, so the process holds
 * one page at a time however many charges the window has; a pass deletes its
 * staged rows when it ends. `refunds.payment_intent` marks a refund of another
 * charge than the payment's own (a stray charge the pass found).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('reconciliation_passes', (t) => {
    t.uuid('id').primary();
    t.timestamp('since', { useTz: true }).notNullable();
    t.timestamp('until', { useTz: true }).notNullable();
    t.boolean('repair').notNullable();
    t.string('status', 16).notNullable().defaultTo('running');
    t.string('started_by', 255);
    t.integer('payments');
    t.integer('charges');
    t.integer('refunds');
    t.jsonb('discrepancies');
    t.jsonb('repaired');
    t.text('error');
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('finished_at', { useTz: true });
  });
  await knex.raw(`ALTER TABLE reconciliation_passes ADD CONSTRAINT reconciliation_passes_status_check
    CHECK (status IN ('running','completed','failed'))`);
  await knex.raw('CREATE INDEX reconciliation_passes_started_idx ON reconciliation_passes (started_at DESC)');

  await knex.schema.createTable('reconciliation_discrepancies', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('pass_id').notNullable().references('reconciliation_passes.id').onDelete('CASCADE');
    t.string('class', 32).notNullable();
    t.uuid('order_id');
    t.uuid('payment_id');
    t.string('payment_status', 32);
    t.string('gateway', 100);
    t.string('intent_id', 255);
    t.string('gateway_refund_id', 255);
    t.uuid('refund_id');
    t.bigInteger('amount_minor');
    t.specificType('currency', 'char(3)');
    t.text('detail').notNullable();
    // What the repair reads: the statuses and amounts on each side, the live amount of a stray charge.
    t.jsonb('facts').notNullable().defaultTo('{}');
    // none: not asked to repair; report_only: no safe repair exists; repaired / refused / failed: what the repair did.
    t.string('repair', 16).notNullable().defaultTo('none');
    t.text('repair_detail');
    t.index(['pass_id', 'id'], 'reconciliation_discrepancies_pass_idx');
  });

  // Staging: UNLOGGED (a crash loses only a pass, which is re-run), keyed by pass.
  await knex.raw(`CREATE UNLOGGED TABLE reconciliation_gateway_charges (
    pass_id uuid NOT NULL, gateway varchar(100) NOT NULL, intent_id varchar(255) NOT NULL,
    order_ref text, order_id uuid, amount_minor bigint NOT NULL, currency char(3) NOT NULL, status varchar(32) NOT NULL,
    created timestamptz NOT NULL, PRIMARY KEY (pass_id, intent_id))`);
  await knex.raw('CREATE INDEX reconciliation_gateway_charges_order_idx ON reconciliation_gateway_charges (pass_id, order_id)');
  await knex.raw(`CREATE UNLOGGED TABLE reconciliation_gateway_refunds (
    pass_id uuid NOT NULL, gateway varchar(100) NOT NULL, gateway_refund_id varchar(255) NOT NULL, intent_id varchar(255) NOT NULL,
    refund_ref text, amount_minor bigint NOT NULL, currency char(3) NOT NULL, status varchar(32) NOT NULL,
    created timestamptz NOT NULL, PRIMARY KEY (pass_id, gateway_refund_id))`);
  await knex.raw('CREATE INDEX reconciliation_gateway_refunds_intent_idx ON reconciliation_gateway_refunds (pass_id, intent_id)');

  await knex.schema.alterTable('refunds', (t) => {
    t.string('payment_intent', 255);
  });
  // Matching the gateway's refunds to ours, and payments to their charges.
  await knex.raw('CREATE INDEX refunds_gateway_refund_idx ON refunds (gateway_refund_id) WHERE gateway_refund_id IS NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS refunds_gateway_refund_idx');
  await knex.schema.alterTable('refunds', (t) => t.dropColumn('payment_intent'));
  await knex.schema.dropTableIfExists('reconciliation_gateway_refunds');
  await knex.schema.dropTableIfExists('reconciliation_gateway_charges');
  await knex.schema.dropTableIfExists('reconciliation_discrepancies');
  await knex.schema.dropTableIfExists('reconciliation_passes');
}
