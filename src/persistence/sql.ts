import type { Knex } from 'knex';
import type pg from 'pg';

/** Runs one named prepared statement: parsed and planned once per connection, then only bound and executed. */
export type Query = <R>(name: string, text: string, values: unknown[]) => Promise<R[]>;

/**
 * The per-payment statements (insert, load, transition, outbox claim) as
 * named prepared statements on raw `pg` connections borrowed from knex's own
 * pool, so DATABASE_POOL_MAX still bounds every connection the process opens.
 * Knex and Objection build everything else (ops pages, sweeper, migrations).
 * Measured by `npm run bench` and scripts/bench/experiments/db-path.ts: knex
 * building each statement and PostgreSQL planning it again on every call cost
 * about half of the database path's CPU.
 */
export interface Sql {
  query: Query;
  /** BEGIN … COMMIT on one connection; ROLLBACK when `work` throws. */
  transaction<T>(work: (query: Query) => Promise<T>): Promise<T>;
}

type PooledClient = pg.ClientBase & { __knex__disposed?: unknown };

function queryOn(client: PooledClient): Query {
  return async <R>(name: string, text: string, values: unknown[]) => (await client.query({ name, text, values })).rows as R[];
}

export function createSql(knex: Knex): Sql {
  const acquire = () => knex.client.acquireConnection() as Promise<PooledClient>;
  const release = (client: PooledClient) => knex.client.releaseConnection(client) as Promise<void>;
  return {
    async query(name, text, values) {
      const client = await acquire();
      try {
        return await queryOn(client)(name, text, values);
      } finally {
        await release(client);
      }
    },
    async transaction(work) {
      const client = await acquire();
      try {
        await client.query('BEGIN');
        let result;
        try {
          result = await work(queryOn(client));
        } catch (err) {
          // A connection that cannot roll back is in an unknown state: knex's pool destroys it instead of reusing it.
          await client.query('ROLLBACK').catch((rollbackErr: unknown) => (client.__knex__disposed = rollbackErr));
          throw err;
        }
        await client.query('COMMIT');
        return result;
      } finally {
        await release(client);
      }
    },
  };
}
