import { ConfigError } from './config.js';

/** Errors a person can act on, printed as one line instead of a stack trace. */
export class UserFacingError extends Error {
  override name = 'UserFacingError';
}

function oneLine(command: string, err: unknown): string | undefined {
  if (err instanceof ConfigError) return `${command}: ${err.message}`;
  if (err instanceof UserFacingError) return `${command}: ${err.message}`;
  const e = err as { code?: string; address?: string; port?: number; message?: string };
  if (e && (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'ETIMEDOUT')) {
    return `${command}: cannot reach ${e.address ?? 'a service'}${e.port ? `:${e.port}` : ''} (${e.code}): is it running?`;
  }
  return undefined;
}

/** Runs a command's body; known failures end as one line on stderr and exit code 1. */
export async function runCli(command: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const line = oneLine(command, err);
    if (line) {
      process.stderr.write(`${line}\n`);
    } else {
      process.stderr.write(`${command}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    }
    process.exit(1);
  }
}
