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

  // These fail on their arguments, before the command reads its configuration or connects to anything.
  it.each([
    ['a --since that is not a date', ['--since', 'yesterday'], /^reconcile: --since "yesterday" is not an ISO 8601 date-time .*usage: npm run reconcile/],
    ['a --since after --until', ['--since', '2026-12-08T00:00:00Z', '--until', '2026-12-07T00:00:00Z'], /^reconcile: --since 2026-12-08T00:00:00\.000Z must be before --until 2026-12-07T00:00:00\.000Z$/],
    ['an unknown flag', ['--repiar'], /^reconcile: .*'--repiar'.*; usage: npm run reconcile -- \[--since ISO-8601\] \[--until ISO-8601\] \[--repair\]$/],
  ])('when npm run reconcile is given %s, then it says so in one line and exits 1', async (_, args, pattern) => {
    const { code, lines } = await run('src/reconciliation/cli.ts', {}, args);
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
  });
});
