import type { Knex } from 'knex';

/**
 * Every state change rewrites the payment row, and PostgreSQL then adds an
 * entry to each of the table's indexes. No query of the service reads
 * `payments` by status alone or by creation time (the sweeper has its own
 * partial index, the ops pages count by status with a scan), so these two
 * indexes only cost time on every write: the benchmark measured it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS payments_status_idx');
  await knex.raw('DROP INDEX IF EXISTS payments_created_at_idx');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX IF NOT EXISTS payments_status_idx ON payments (status)');
  await knex.raw('CREATE INDEX IF NOT EXISTS payments_created_at_idx ON payments (created_at)');
}
