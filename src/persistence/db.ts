import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import * as paymentsMigration from './migrations/20261126000001_payments.js';
import * as dropUnusedIndexes from './migrations/20261126000002_drop_unused_payment_indexes.js';
import * as compensationsMigration from './migrations/20261206000001_compensations.js';
import * as compensationStates from './migrations/20261206000010_compensation_states.js';
import * as webhookEventsMigration from './migrations/20261207000001_webhook_events.js';
import * as statusWidth from './migrations/20261206000020_status_width.js';
import * as reconciliationMigration from './migrations/20261208000001_reconciliation.js';

// int8 (bigint) stays a string from pg; the repositories turn it into a BigInt,
// never a Number, so no amount passes through a binary float.

/** Migrations bundled as modules, so they run the same under tsx, in tests and in the image. */
const migrations: Record<string, Knex.Migration> = {
  '20261126000001_payments': paymentsMigration,
  '20261126000002_drop_unused_payment_indexes': dropUnusedIndexes,
  '20261206000001_compensations': compensationsMigration,
  '20261206000010_compensation_states': compensationStates,
  '20261207000001_webhook_events': webhookEventsMigration,
  '20261206000020_status_width': statusWidth,
  '20261208000001_reconciliation': reconciliationMigration,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name]!,
};

/** Where knex's own warnings go (pool trouble, deprecations): the service's structured log, not the console. */
export interface KnexLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/**
 * How long one statement may run before PostgreSQL cancels it, unless
 * DATABASE_URL sets its own (`?options=-c statement_timeout=…`). Every
 * per-payment statement takes milliseconds; one that waits this long is stuck
 * (a row lock held by a session that went away, a stalled connection), and the
 * batches of its kind queue behind it (see group-commit.ts). Cancelled, it fails
 * its jobs' attempt, which BullMQ retries, instead of holding them forever.
 */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

export interface KnexOptions {
  min?: number;
  max?: number;
  /** Per statement; 0 for none (migrations, whose index builds may take long). */
  statementTimeoutMs?: number;
}

export function createKnex(databaseUrl: string, pool: KnexOptions = {}, log?: KnexLog): Knex {
  const statementTimeout = pool.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const ownTimeout = statementTimeout > 0 && !/statement_timeout/i.test(safelyDecoded(databaseUrl));
  return knexFactory({
    client: 'pg',
    connection: ownTimeout ? { connectionString: databaseUrl, statement_timeout: statementTimeout } : databaseUrl,
    pool: { min: pool.min ?? 0, max: pool.max ?? 10 },
    migrations: { migrationSource, tableName: 'knex_migrations' },
    // Errors must not carry the SQL with its values filled in: they hold payment tokens.
    compileSqlOnError: false,
    ...(log
      ? {
          log: {
            warn: (message: unknown) => log.warn({ component: 'knex' }, String(message)),
            error: (message: unknown) => log.error({ component: 'knex' }, String(message)),
            deprecate: (method: string, alternative: string) => log.warn({ component: 'knex' }, `${method} is deprecated: use ${alternative}`),
            debug: (message: unknown) => log.debug({ component: 'knex' }, String(message)),
          },
        }
      : {}),
  });
}

function safelyDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a stray '%': pg reports the URL itself
  }
}

/** Creates the database named in the URL when it does not exist yet. */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) throw new Error(`DATABASE_URL ${url.origin} names no database: add one, e.g. /payments`);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    } catch (err) {
      // Another process created it between the check and the create.
      if ((err as { code?: string }).code !== '42P04') throw err;
      return false;
    }
    return true;
  } finally {
    await client.end();
  }
}

/** Creates the database if needed and applies pending migrations; idempotent and safe to race. */
export async function migrate(databaseUrl: string): Promise<string[]> {
  await ensureDatabase(databaseUrl);
  const knex = createKnex(databaseUrl, { max: 1, statementTimeoutMs: 0 });
  try {
    const [, applied] = (await knex.migrate.latest()) as [number, string[]];
    return applied;
  } finally {
    await knex.destroy();
  }
}
