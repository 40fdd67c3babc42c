import { loadConfig } from '../config.js';
import { createLogger } from '../observability/logger.js';
import { runCli } from '../cli.js';
import { migrate } from './db.js';

await runCli('migrate', async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const applied = await migrate(config.DATABASE_URL);
  logger.info({ applied }, applied.length ? `applied ${applied.length} migration(s)` : 'database is up to date');
});
