import { describe, expect, it } from 'vitest';
import { stampInput } from '../../../src/workers/input-stamp.js';

describe('input stamp (worker standby holder)', () => {
  it('is 0 before any input, then the time the last message was taken, and passes the handler result through', async () => {
    let clock = 1_000;
    const seen: string[] = [];
    const input = stampInput(async (m: string) => {
      seen.push(m);
      return `handled ${m}`;
    }, () => clock);
    expect(input.lastInputAt()).toBe(0);
    await expect(input.handler('a')).resolves.toBe('handled a');
    expect(input.lastInputAt()).toBe(1_000);
    clock = 2_500;
    await input.handler('b');
    expect(input.lastInputAt()).toBe(2_500);
    expect(seen).toEqual(['a', 'b']);
  });

  it('stamps before handling: a message whose handling fails still made this process the holder', async () => {
    const input = stampInput(async (_: string) => {
      throw new Error('database down');
    }, () => 42);
    await expect(input.handler('a')).rejects.toThrow('database down');
    expect(input.lastInputAt()).toBe(42);
  });
});
