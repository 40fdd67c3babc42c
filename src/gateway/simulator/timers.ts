/**
 * The simulator's own timers (refunds settling, webhook deliveries and their
 * retries), kept in one place so `close()` can cancel every one of them and a
 * test that closes the simulator leaves no handle behind.
 */
export interface Timers {
  /** Runs `task` after `ms`, unless cleared first. */
  after(ms: number, task: () => void): void;
  /** Cancels every timer not yet run; later `after` calls are ignored. */
  clear(): void;
  /** How many timers are waiting. */
  pending(): number;
}

export function createTimers(): Timers {
  const waiting = new Set<NodeJS.Timeout>();
  let closed = false;
  return {
    after(ms, task) {
      if (closed) return;
      const timer = setTimeout(() => {
        waiting.delete(timer);
        task();
      }, ms);
      waiting.add(timer);
    },
    clear() {
      closed = true;
      for (const timer of waiting) clearTimeout(timer);
      waiting.clear();
    },
    pending: () => waiting.size,
  };
}
