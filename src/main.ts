// `npm start`: one worker process. Any number run side by side.
import { loadConfig } from './config.js';
import { runCli, UserFacingError } from './cli.js';
import { createLogger } from './observability/logger.js';
import { howToStart, servicesOf, unreachable } from './services.js';
import { startApp } from './app.js';

await runCli('start', async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const down = await unreachable(servicesOf(config));
  if (down.length) throw new UserFacingError(down.map(howToStart).join('; '));

  const app = await startApp(config, logger);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutting down: finishing in-flight work');
    // A hard deadline in case a step hangs: exit non-zero rather than never.
    const guard = setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS + 5000);
    guard.unref();
    void app.shutdown(config.SHUTDOWN_TIMEOUT_MS).then(() => {
      logger.info('shutdown complete');
      logger.flush?.();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
});
