import { loadConfig } from '../config.js';
import { createLogger } from '../observability/logger.js';
import { runCli, UserFacingError } from '../cli.js';
import { howToStart, servicesOf, unreachable } from '../services.js';
import { migrate } from './db.js';

await runCli('migrate', async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const down = await unreachable(servicesOf(config).filter((s) => s.name === 'PostgreSQL'));
  if (down.length) throw new UserFacingError(down.map(howToStart).join('; '));
  const applied = await migrate(config.DATABASE_URL);
  logger.info({ applied }, applied.length ? `applied ${applied.length} migration(s)` : 'database is up to date');
});
