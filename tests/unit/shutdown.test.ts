import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { shutDownInOrder } from '../../src/shutdown.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

describe('shutdown runs its steps in order within one deadline', () => {
  it('when a step fails, then the steps after it still run and the failure is logged by name', async () => {
    const { logger, lines } = capture();
    const ran: string[] = [];
    await shutDownInOrder(
      [
        { name: 'first', run: async () => void ran.push('first') },
        { name: 'broken', run: async () => { ran.push('broken'); throw new Error('socket already closed'); } },
        { name: 'last', run: async () => void ran.push('last') },
      ],
      1_000,
      logger,
    );
    expect(ran).toEqual(['first', 'broken', 'last']);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'shutdown: broken failed', err: 'socket already closed' }));
  });

  it('when a step never finishes, then it is abandoned at the deadline and the steps after it still run', async () => {
    const { logger, lines } = capture();
    const ran: string[] = [];
    await shutDownInOrder(
      [
        { name: 'hangs', run: () => new Promise(() => {}) },
        { name: 'after', run: async (left) => void ran.push(`after with ${left()} ms left`) },
      ],
      50,
      logger,
    );
    expect(ran).toEqual(['after with 0 ms left']);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'shutdown: hangs did not finish in time; going on' }));
  });
});
