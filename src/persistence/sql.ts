import type { Knex } from 'knex';
import type pg from 'pg';

/**
 * Runs one named prepared statement: parsed and planned once per connection,
 * then only bound and executed. Without prepared statements (`SqlOptions`),
 * the name is dropped and the statement is parsed on every call.
 */
export type Query = <R>(name: string, text: string, values: unknown[]) => Promise<R[]>;

export interface SqlOptions {
  /**
   * False behind a pooler that hands each transaction a different server
   * connection and does not carry named statements across them (PgBouncer
   * before 1.21 in transaction mode): a name pg parsed on one server
   * connection is then bound on another, where it does not exist
   * (DATABASE_PREPARED_STATEMENTS).
   */
  preparedStatements?: boolean;
}

/**
 * The per-payment statements on raw `pg` connections borrowed from knex's own
 * pool, so DATABASE_POOL_MAX still bounds every connection the process opens:
 * single-row ones as named prepared statements (parsed and planned once per
 * connection), batch ones unnamed (see `planned`). Knex and Objection build
 * everything else (ops pages, sweeper, migrations). Why: building each statement
 * with knex and planning it again on every call was a large share of the database
 * path's CPU (docs/performance.md).
 */
export interface Sql {
  query: Query;
  /**
   * Runs a statement PostgreSQL plans for the values of each call (unnamed,
   * so never a cached generic plan). For the batch statements over arrays of
   * ids: a generic plan cannot know how long the array is, and one made while
   * the table was small keeps scanning the whole table after it has grown
   * (a 40,000-order run went from 570 to 160 payments/s that way, because
   * PostgreSQL re-plans only when autovacuum next analyzes the table).
   * Planning costs up to about a millisecond, once per batch.
   */
  planned: <R>(text: string, values: unknown[]) => Promise<R[]>;
  /**
   * One connection for a transaction `work` drives itself with `script`:
   * several statements in one round trip (e.g. `BEGIN; SELECT …`). Scripts
   * take no parameters, so only text built from trusted values belongs in
   * them. When `work` throws, the transaction is rolled back.
   */
  scripted<T>(work: (script: Script) => Promise<T>): Promise<T>;
}

/** Runs several `;`-separated statements in one round trip; one result per statement. */
export type Script = (text: string) => Promise<pg.QueryResult[]>;

/** Rolls back after a failure; a connection that cannot is destroyed by knex's pool instead of reused. */
async function rollback(client: PooledClient): Promise<void> {
  await client.query('ROLLBACK').catch((err: unknown) => (client.__knex__disposed = err));
}

type PooledClient = pg.ClientBase & { __knex__disposed?: unknown };

function queryOn(client: PooledClient, prepared: boolean): Query {
  return async <R>(name: string, text: string, values: unknown[]) =>
    (await client.query(prepared ? { name, text, values } : { text, values })).rows as R[];
}

export function createSql(knex: Knex, { preparedStatements = true }: SqlOptions = {}): Sql {
  const acquire = () => knex.client.acquireConnection() as Promise<PooledClient>;
  const release = (client: PooledClient) => knex.client.releaseConnection(client) as Promise<void>;
  return {
    async query(name, text, values) {
      const client = await acquire();
      try {
        return await queryOn(client, preparedStatements)(name, text, values);
      } finally {
        await release(client);
      }
    },
    async planned(text, values) {
      const client = await acquire();
      try {
        return (await client.query({ text, values })).rows;
      } finally {
        await release(client);
      }
    },
    async scripted(work) {
      const client = await acquire();
      const script: Script = async (text) => {
        const results = (await client.query(text)) as unknown as pg.QueryResult | pg.QueryResult[];
        return Array.isArray(results) ? results : [results];
      };
      try {
        return await work(script);
      } catch (err) {
        await rollback(client);
        throw err;
      } finally {
        await release(client);
      }
    },
  };
}
