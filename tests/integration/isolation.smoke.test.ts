import { describe, expect, it } from 'vitest';
import { isolate, routedVia } from '../../scripts/lib/isolation.js';
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

  it('with TEST_DATABASE_VIA, the child processes reach the same database through the pooler: host, port and user from it, name and options kept', () => {
    const direct = 'postgres://postgres@127.0.0.1:5432/pay_t1?options=-c%20statement_timeout%3D5000';
    expect(routedVia(direct, undefined)).toBe(direct);
    expect(routedVia(direct, 'postgres://app:secret@127.0.0.1:6432')).toBe('postgres://app:secret@127.0.0.1:6432/pay_t1?options=-c%20statement_timeout%3D5000');
    expect(routedVia(direct, 'postgres://127.0.0.1:6432')).toBe('postgres://postgres@127.0.0.1:6432/pay_t1?options=-c%20statement_timeout%3D5000');
  });
});
