import type { Logger } from './observability/logger.js';

/** One step of an orderly stop: what it is called in the logs, and what it does. */
export interface ShutdownStep {
  name: string;
  run: (left: () => number) => Promise<unknown>;
}

/**
 * Runs the steps in order within one deadline. Each step is bounded by the
 * time left (a close that never resolves, like BullMQ waiting on a
 * reconnecting Redis client, must not hold the exit) and every step runs even
 * when one before it failed or ran out of time: a half-closed process must
 * not hang. `left()` lets a step keep part of the time for the ones after it.
 */
export async function shutDownInOrder(steps: readonly ShutdownStep[], timeoutMs: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(0, deadline - Date.now());
  for (const step of steps) {
    try {
      const finished = await withinMs(step.run(left), left());
      if (!finished) logger.warn(`shutdown: ${step.name} did not finish in time; going on`);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, `shutdown: ${step.name} failed`);
    }
  }
}

/** Whether `work` settled within `ms`; a rejection is thrown to the caller. */
export async function withinMs(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
