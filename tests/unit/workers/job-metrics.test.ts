import { EventEmitter } from 'node:events';
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../../../src/observability/metrics.js';
import { recordJobAttempts, type JobMetricsDeps } from '../../../src/workers/job-metrics.js';

/** A stand-in worker that emits BullMQ's events, with the real metrics and a spy logger. */
function setup() {
  const worker = new EventEmitter();
  const metrics = createMetrics();
  const logger = { error: vi.fn() };
  recordJobAttempts({ worker: worker as unknown as JobMetricsDeps['worker'], metrics, logger: logger as unknown as JobMetricsDeps['logger'] });
  const counts = async () =>
    Object.fromEntries((await metrics.jobAttempts.get()).values.map((v) => [v.labels.result, v.value]));
  return { worker, logger, counts };
}

const job = (attemptsMade: number, attempts: number) => ({ attemptsMade, opts: { attempts }, data: { orderId: 'ord-1' } });

describe('job attempt metrics', () => {
  it('when a job returns a payment settled as Failed (declined), then it counts as settled_failed, not completed', async () => {
    const { worker, counts } = setup();
    worker.emit('completed', job(1, 3), { status: 'Failed', code: 'card_declined' });
    worker.emit('completed', job(1, 3), { status: 'Completed' });
    worker.emit('completed', job(1, 3), undefined);
    expect(await counts()).toEqual({ settled_failed: 1, completed: 2 });
  });

  it('when a job throws UnrecoverableError, then it counts as broken even on its last attempt, and logs nothing', async () => {
    const { worker, logger, counts } = setup();
    worker.emit('failed', job(1, 3), new UnrecoverableError('bad snapshot'));
    worker.emit('failed', job(3, 3), new UnrecoverableError('bad snapshot'));
    expect(await counts()).toEqual({ broken: 2 });
    expect(logger.error).not.toHaveBeenCalled();
  });

  it('when a job fails with attempts left, then it counts as retry and logs nothing', async () => {
    const { worker, logger, counts } = setup();
    worker.emit('failed', job(2, 3), new Error('gateway timeout'));
    expect(await counts()).toEqual({ retry: 1 });
    expect(logger.error).not.toHaveBeenCalled();
  });

  it('when a job fails with its attempts spent, then it counts as exhausted and logs once, naming the order', async () => {
    const { worker, logger, counts } = setup();
    worker.emit('failed', job(3, 3), new Error('gateway timeout'));
    expect(await counts()).toEqual({ exhausted: 1 });
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(logger.error).toHaveBeenCalledWith(
      { orderId: 'ord-1', err: 'gateway timeout' },
      'job attempts exhausted; the sweeper will pick the payment up',
    );
  });

  it('when a job has no attempts option, then its first failure is its last (exhausted)', async () => {
    const { worker, counts } = setup();
    worker.emit('failed', { attemptsMade: 1, opts: {}, data: { orderId: 'ord-2' } }, new Error('boom'));
    expect(await counts()).toEqual({ exhausted: 1 });
  });

  it('when BullMQ reports a failure without a job, then nothing is counted', async () => {
    const { worker, logger, counts } = setup();
    worker.emit('failed', undefined, new Error('stalled and removed'));
    expect(await counts()).toEqual({});
    expect(logger.error).not.toHaveBeenCalled();
  });
});
