import { describe, expect, it } from 'vitest';
import { isolate } from '../../scripts/lib/isolation.js';
import { createKnex } from '../../src/persistence/db.js';

describe('test isolation', () => {
  it('creates a migrated database and a vhost, then removes them', async () => {
    const iso = await isolate();
    const knex = createKnex(iso.databaseUrl);
    const tables = await knex.raw(`select tablename from pg_tables where schemaname='public' order by 1`);
    await knex.destroy();
    expect(tables.rows.map((r: { tablename: string }) => r.tablename)).toEqual(
      expect.arrayContaining(['payments', 'payment_transitions', 'outbox']),
    );
    await iso.cleanup();
  });
});
