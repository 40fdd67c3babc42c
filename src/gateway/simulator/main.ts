import { createLogger } from '../../observability/logger.js';
import { createSimulator } from './simulator.js';
import { loadSimulatorConfig, SimulatorSettingsError } from './simulator.settings.js';

/**
 * `npm run gateway`: the simulator as its own process. SIGUSR2 toggles it
 * down/up (as `POST /_sim/outage` does for a while); SIGTERM/SIGINT stop it.
 */
async function main(): Promise<void> {
  const config = loadSimulatorConfig(process.env);
  const logger = createLogger(config.logLevel).child({ component: 'gateway-simulator' });
  const simulator = createSimulator({ ...config.settings, port: config.port, seed: config.seed, webhooks: config.webhooks, logger });
  try {
    await simulator.start();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new StartError(`gateway simulator cannot listen on port ${config.port}: ${reason} (set GATEWAY_PORT to another port)`);
  }
  logger.info(
    { url: simulator.url, seed: simulator.seed, settings: simulator.settings(), webhookUrls: config.webhooks?.urls ?? [] },
    'gateway simulator listening',
  );

  // While down nothing else keeps the event loop alive, and the process must wait for SIGUSR2 or a signal to stop.
  const keepAlive = setInterval(() => {}, 60_000);
  process.on('SIGUSR2', () => {
    const toggle = simulator.isUp() ? simulator.down() : simulator.up();
    toggle.then(
      () => logger.info({ up: simulator.isUp() }, 'gateway simulator toggled by SIGUSR2'),
      (error: unknown) => logger.error({ err: error }, 'gateway simulator could not toggle'),
    );
  });
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'gateway simulator stopping');
    clearInterval(keepAlive);
    simulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

class StartError extends Error {}

main().catch((error: unknown) => {
  const oneLine = error instanceof SimulatorSettingsError || error instanceof StartError;
  console.error(oneLine ? (error as Error).message : error);
  process.exit(1);
});
