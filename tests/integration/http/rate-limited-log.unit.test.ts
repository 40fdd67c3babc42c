import { describe, expect, it } from 'vitest';
import { RateLimitedLog } from '../../../src/http/rate-limited-log.js';

describe('RateLimitedLog', () => {
  it('when a key repeats within the window, then one line is emitted and the next says how many were left out', () => {
    let now = 0;
    const log = new RateLimitedLog(60_000, () => now);
    const lines: Array<[string, number]> = [];
    const note = (key: string) => log.note(key, (suppressed) => lines.push([key, suppressed]));

    note('cross-origin');
    for (let i = 0; i < 4; i++) note('cross-origin');
    note('not loopback'); // another reason has its own window
    now = 59_999;
    note('cross-origin');
    expect(lines).toEqual([['cross-origin', 0], ['not loopback', 0]]);

    now = 60_000;
    note('cross-origin');
    expect(lines.at(-1)).toEqual(['cross-origin', 5]);
    note('cross-origin');
    expect(lines).toHaveLength(3);
  });
});
