import type { Knex } from 'knex';

/**
 * `PartiallyRefunded` has 17 characters; the status columns held 16. Widening
 * a varchar is a catalog change in PostgreSQL (no table rewrite, indexes kept).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE payments ALTER COLUMN status TYPE varchar(32)');
  await knex.raw('ALTER TABLE payment_transitions ALTER COLUMN from_status TYPE varchar(32), ALTER COLUMN to_status TYPE varchar(32)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("UPDATE payments SET status = 'Success' WHERE status = 'PartiallyRefunded'");
  await knex.raw('ALTER TABLE payments ALTER COLUMN status TYPE varchar(16)');
  await knex.raw("DELETE FROM payment_transitions WHERE from_status = 'PartiallyRefunded' OR to_status = 'PartiallyRefunded'");
  await knex.raw('ALTER TABLE payment_transitions ALTER COLUMN from_status TYPE varchar(16), ALTER COLUMN to_status TYPE varchar(16)');
}
