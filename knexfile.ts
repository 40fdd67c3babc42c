// For the knex CLI (`npx knex migrate:status --knexfile knexfile.ts`); the service
// itself migrates with `npm run migrate` or at start (src/persistence/db.ts).
import { loadConfig } from './src/config.js';
import { migrationSource } from './src/persistence/db.js';

const config = loadConfig();

export default {
  client: 'pg',
  connection: config.DATABASE_URL,
  pool: { min: 0, max: 10 },
  migrations: { migrationSource, tableName: 'knex_migrations' },
};
