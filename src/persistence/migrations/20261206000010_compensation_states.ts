import type { Knex } from 'knex';

/**
 * The compensation states (machine version 4) in the payments table, and an
 * outbox that holds more than one event per order: a charge's terminal event,
 * then refunds, a cancellation's answer, a dispute.
 * What must stay unique stays enforced by the database: one terminal charge
 * event per order, and one PaymentCancelled per order, whoever writes it (the
 * machine, or the cancellation of an order that has no payment yet, whose
 * event has no payment id).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE payments DROP CONSTRAINT payments_status_check');
  await knex.raw(`ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('Initiated','Processing','Success','PartiallyRefunded','Refunded','Disputed','Failed'))`);

  await knex.raw('ALTER TABLE outbox DROP CONSTRAINT outbox_order_id_unique');
  await knex.raw('ALTER TABLE outbox ALTER COLUMN payment_id DROP NOT NULL');
  await knex.raw(`CREATE UNIQUE INDEX outbox_one_charge_answer_per_order ON outbox (order_id)
    WHERE type IN ('PaymentCompleted', 'PaymentFailed')`);
  await knex.raw(`CREATE UNIQUE INDEX outbox_one_cancel_answer_per_order ON outbox (order_id) WHERE type = 'PaymentCancelled'`);
  await knex.raw('CREATE INDEX outbox_order_idx ON outbox (order_id)');
  // Webhooks name the payment intent: the charge's transaction id.
  await knex.raw('CREATE INDEX payments_transaction_idx ON payments (transaction_id) WHERE transaction_id IS NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX payments_transaction_idx');
  await knex.raw('DROP INDEX outbox_order_idx');
  await knex.raw('DROP INDEX outbox_one_cancel_answer_per_order');
  await knex.raw('DROP INDEX outbox_one_charge_answer_per_order');
  await knex.raw("DELETE FROM outbox WHERE type NOT IN ('PaymentCompleted', 'PaymentFailed')");
  await knex.raw('ALTER TABLE outbox ALTER COLUMN payment_id SET NOT NULL');
  await knex.raw('ALTER TABLE outbox ADD CONSTRAINT outbox_order_id_unique UNIQUE (order_id)');
  await knex.raw('ALTER TABLE payments DROP CONSTRAINT payments_status_check');
  await knex.raw(`ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('Initiated','Processing','Success','Failed'))`);
}
