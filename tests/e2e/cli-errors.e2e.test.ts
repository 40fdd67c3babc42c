import { describe, expect, it } from 'vitest';
import { startProcess } from '../../scripts/lib/processes.js';

/** Runs an entry point to its end and returns its exit code and output lines. */
async function run(entry: string, env: Record<string, string>, args: string[] = []) {
  const p = startProcess(entry, entry, env, args);
  const exit = await p.exited;
  return { code: exit.code, lines: p.lines };
}

describe('commands fail with one line a person can act on', () => {
  it.each([
    ['src/main.ts', { REDIS_URL: 'redis://127.0.0.1:1' }, /Redis is not answering at 127\.0\.0\.1:1: start it/],
    ['scripts/demo.ts', { AMQP_URL: 'amqp://guest:guest@127.0.0.1:2' }, /RabbitMQ is not answering at 127\.0\.0\.1:2: start it/],
    ['src/persistence/migrate.ts', { DATABASE_URL: 'postgres://postgres@127.0.0.1:3/payments' }, /PostgreSQL is not answering at 127\.0\.0\.1:3: start it/],
  ])('when %s cannot reach a service, then it names the service and address in one line and exits non-zero', async (entry, env, pattern) => {
    const { code, lines } = await run(entry, env);
    expect(code).not.toBe(0);
    const errors = lines.filter((l) => pattern.test(l));
    expect(errors).toHaveLength(1);
    expect(lines.some((l) => /^\s+at /.test(l))).toBe(false); // no stack trace
  });

  it('when the configuration is invalid, then every bad variable is named in one line', async () => {
    const { code, lines } = await run('src/main.ts', { GATEWAY_TIMEOUT_MS: 'soon', GATEWAY: 'paypal' });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/GATEWAY_TIMEOUT_MS/);
    expect(lines[0]).toMatch(/GATEWAY=/);
  });
});
