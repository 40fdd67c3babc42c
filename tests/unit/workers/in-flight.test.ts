import { describe, expect, it } from 'vitest';
import { countInFlight } from '../../../src/workers/in-flight.js';
import { deferred } from '../../support/deferred.js';

/** A job whose work finishes (or throws) when the test says so. */
const job = () => deferred<string>();

describe('in-flight counter', () => {
  it('counts each job from its start until it returns', async () => {
    const a = job();
    const b = job();
    const jobs = countInFlight((d: ReturnType<typeof job>) => d.promise);
    const runA = jobs.run(a);
    const runB = jobs.run(b);
    expect(jobs.inFlight()).toBe(2);
    a.resolve('a');
    await expect(runA).resolves.toBe('a');
    expect(jobs.inFlight()).toBe(1);
    b.resolve('b');
    await runB;
    expect(jobs.inFlight()).toBe(0);
  });

  it('when the processor throws, then the job still leaves the count (never negative) and the error reaches BullMQ', async () => {
    const jobs = countInFlight(async (_: number): Promise<string> => {
      throw new Error('gateway down');
    });
    await expect(jobs.run(1)).rejects.toThrow('gateway down');
    await expect(jobs.run(2)).rejects.toThrow('gateway down');
    expect(jobs.inFlight()).toBe(0);
    const d = job();
    const later = countInFlight((x: ReturnType<typeof job>) => x.promise);
    const run = later.run(d);
    expect(later.inFlight()).toBe(1);
    d.reject(new Error('declined late'));
    await expect(run).rejects.toThrow('declined late');
    expect(later.inFlight()).toBe(0);
  });

  it('when the processor throws before its first await, then the job is still counted out', async () => {
    const jobs = countInFlight((_: number): Promise<string> => {
      throw new Error('bad job data');
    });
    await expect(jobs.run(1)).rejects.toThrow('bad job data');
    expect(jobs.inFlight()).toBe(0);
  });
});
