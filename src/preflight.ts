import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { howToStart, unreachable, type ServiceCheck } from './services.js';

const run = promisify(execFile);

async function dockerAnswers(): Promise<boolean> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure the services answer: when one does not and a Docker engine does,
 * starts it from docker-compose.yml (saying so) and waits until it is healthy.
 * Returns the one-line problems that remain (empty when all is well).
 */
export async function ensureServices(services: ServiceCheck[], say: (line: string) => void): Promise<string[]> {
  const down = await unreachable(services);
  if (down.length === 0) return [];
  if (await dockerAnswers()) {
    const names = down.map((s) => s.composeService);
    say(`starting ${down.map((s) => s.name).join(', ')} from docker-compose.yml (docker compose up -d --wait ${names.join(' ')})`);
    try {
      await run('docker', ['compose', 'up', '-d', '--wait', ...names], { timeout: 180_000 });
    } catch (err) {
      return [`docker compose could not start ${names.join(', ')}: ${(err as Error).message.split('\n')[0]}`];
    }
    const still = await unreachable(down);
    return still.map(howToStart);
  }
  return down.map(howToStart);
}
