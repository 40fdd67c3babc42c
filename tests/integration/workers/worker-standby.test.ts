import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startWorkerStandby, type WorkerStandby } from '../../../src/workers/worker-standby.js';
import { dropRedisPrefix } from '../../../scripts/lib/isolation.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = pino({ level: 'silent' });

describe('worker standby (real Redis and BullMQ)', () => {
  const prefix = `{standby${randomBytes(4).toString('hex')}}`;
  let redis: Redis;
  let queue: Queue;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue('payments', { connection: redis, prefix });
  });
  afterEach(async () => {
    // Standbys first, then workers: the order the service shuts down in.
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await queue.obliterate({ force: true });
  });
  afterAll(async () => {
    await queue.close();
    redis.disconnect();
    await dropRedisPrefix(REDIS_URL, prefix);
  });

  /** A worker that records who ran each job; `hold` keeps its jobs running until released. */
  function worker(name: string, ran: Map<string, string>, { concurrency = 5, hold = false } = {}) {
    let inFlight = 0;
    const releases: (() => void)[] = [];
    const w = new Worker(
      'payments',
      async (job: Job) => {
        inFlight++;
        ran.set(job.id!, name);
        if (hold) await new Promise<void>((resolve) => releases.push(resolve));
        inFlight--;
      },
      // drainDelay 1 s: a worker that was blocked waiting for a job when it stood by stops waiting soon.
      { connection: redis, prefix, concurrency, autorun: false, drainDelay: 1 },
    );
    cleanups.push(async () => {
      releases.forEach((release) => release());
      await w.close();
    });
    return { w, inFlight: () => inFlight, release: () => releases.splice(0).forEach((r) => r()) };
  }

  function standby(w: Worker, inFlight: () => number, { holder, concurrency = 5 }: { holder: boolean; concurrency?: number }): WorkerStandby {
    const s = startWorkerStandby({
      workers: [w],
      redis,
      id: `${holder ? 'holder' : 'other'}-${randomBytes(3).toString('hex')}`,
      concurrency,
      lastInputAt: () => (holder ? Date.now() : 0),
      inFlight,
      logger,
      pollMs: 10,
      readMs: 10,
      beatTtlMs: 300,
      policy: { idleMs: 100 },
    });
    cleanups.push(() => s.stop());
    return s;
  }

  /**
   * A holder (takes the input) and another process, both with standbys; resolves once the other stands by
   * and its last blocking fetch, started before it stood by, has ended (drainDelay), so it pulls nothing more.
   */
  async function holderAndOther({ concurrency = 5, hold = false, holderRuns = true } = {}) {
    const ran = new Map<string, string>();
    const a = worker('holder', ran, { concurrency, hold });
    const b = worker('other', ran);
    if (holderRuns) void a.w.run();
    void b.w.run();
    const holderStandby = standby(a.w, a.inFlight, { holder: true, concurrency });
    const otherStandby = standby(b.w, b.inFlight, { holder: false });
    await once(b.w, 'paused');
    await vi.waitFor(() => expect(b.w.isRunning()).toBe(false), { timeout: 5000, interval: 20 });
    return { ran, a, b, holderStandby, otherStandby };
  }

  async function completed(ids: string[]) {
    await vi.waitFor(async () => {
      const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
      expect(states.every((s) => s === 'completed')).toBe(true);
    }, { timeout: 10_000, interval: 20 });
  }

  it('when another process holds the input with free slots, then this worker stands by and the holder runs every job', async () => {
    const { ran, otherStandby: sb } = await holderAndOther();
    expect(sb.standingBy()).toBe(true);
    const ids = Array.from({ length: 20 }, (_, i) => `job-${i}`);
    await queue.addBulk(ids.map((jobId) => ({ name: 'charge', data: {}, opts: { jobId } })));

    await completed(ids);
    expect(new Set(ran.values())).toEqual(new Set(['holder']));
    expect(sb.standingBy()).toBe(true);
  });

  it('when the holder goes away (its heartbeat expires), then the standing-by worker pulls jobs again', async () => {
    const { ran, a, b, holderStandby } = await holderAndOther();

    const resumed = once(b.w, 'resumed');
    await holderStandby.stop();
    await a.w.close();
    await resumed;
    await queue.add('charge', {}, { jobId: 'after-holder' });

    await completed(['after-holder']);
    expect(ran.get('after-holder')).toBe('other');
  });

  it('when the holder is full and jobs wait, then the standing-by worker takes them while the holder is still busy', async () => {
    const { ran, a } = await holderAndOther({ concurrency: 1, hold: true });

    await queue.add('charge', {}, { jobId: 'first' });
    await vi.waitFor(() => expect(a.inFlight()).toBe(1), { timeout: 5000, interval: 10 });
    await queue.add('charge', {}, { jobId: 'second' });

    await completed(['second']);
    expect(ran.get('second')).toBe('other');
    expect(await queue.getJobState('first')).toBe('active');
    a.release();
    await completed(['first']);
  });

  it('when jobs keep waiting although the holder reports free slots (its worker does not pull), then the standing-by worker takes them', async () => {
    // The holder's worker never runs: its heartbeat says it has room, but nothing pulls.
    const { ran } = await holderAndOther({ holderRuns: false });

    await queue.add('charge', {}, { jobId: 'stranded' });

    await completed(['stranded']);
    expect(ran.get('stranded')).toBe('other');
  });

  it('when a prioritized job is stranded the same way, then the standing-by worker takes it too', async () => {
    const { ran } = await holderAndOther({ holderRuns: false });

    await queue.add('charge', {}, { jobId: 'stranded-prioritized', priority: 1 });

    await completed(['stranded-prioritized']);
    expect(ran.get('stranded-prioritized')).toBe('other');
  });
});
