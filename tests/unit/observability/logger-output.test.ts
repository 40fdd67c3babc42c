import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('../../support/log-writer.child.ts', import.meta.url));

function start(mode: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  return { child, output: () => out };
}

describe('log lines reach stdout', () => {
  it('when a quiet process logs a line and goes on running, then the line comes out without waiting for more lines or for exit', async () => {
    const { child, output } = start('stay');
    let exited = false;
    child.on('exit', () => (exited = true));
    try {
      // Lines gather up to 4 KB: a lone line must still come out by the periodic flush (200 ms), long before this gives up.
      const giveUp = AbortSignal.timeout(5_000);
      while (!output().includes('first line')) {
        await once(child.stdout, 'data', { signal: giveUp }).catch(() => {
          throw new Error(`the line did not reach stdout within 5 s of being logged (got ${JSON.stringify(output())})`);
        });
      }
      expect(exited).toBe(false);
      expect(JSON.parse(output().trim().split('\n')[0]!)).toMatchObject({ orderId: 'order-1', msg: 'first line' });
    } finally {
      child.stdin.end();
      if (!exited) await once(child, 'exit');
    }
  });

  it('when a process exits right after logging, then every line is written first', async () => {
    const { child, output } = start('exit-at-once');
    const [code] = (await once(child, 'exit')) as [number];
    if (!child.stdout.readableEnded) await once(child.stdout, 'end');
    expect(code).toBe(0);
    expect(output().trim().split('\n').map((l) => JSON.parse(l).msg)).toEqual(['first line', 'last line before exit']);
  });
});
