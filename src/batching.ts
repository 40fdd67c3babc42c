import { performance } from 'node:perf_hooks';
import DataLoader from 'dataloader';

/**
 * Gather-then-send, the one way this service batches: callers ask for one
 * thing each (a row loaded, a job enqueued, an event marked published, an ack
 * sent) and `send` does a whole batch of them in one round trip, handing each
 * caller its own answer (or its own Error). Built on DataLoader, with nothing
 * cached: every request runs.
 *
 * When a batch goes out is the `gather` rule:
 * - `tick`: the requests made in the same tick (a socket read's worth);
 * - `{ ms }`: everything asked within that window; `flush()` sends it at once
 *   (for a stop, or for a caller that must not wait);
 * - `groupCommit(...)`: like a database's group commit (see there).
 */
export interface Batcher<K, V> {
  load(key: K): Promise<V>;
  /** Sends what a timed window has gathered now (a no-op for the other rules). */
  flush(): void;
}

export type Gather = 'tick' | { ms: number } | GroupCommit;

export function batcher<K, V>(
  send: (keys: readonly K[]) => Promise<ReadonlyArray<V | Error>>,
  o: { maxBatchSize: number; gather: Gather },
): Batcher<K, V> {
  const { gather } = o;
  if (gather === 'tick') {
    const loader = new DataLoader<K, V>(send, { cache: false, maxBatchSize: o.maxBatchSize });
    return { load: (key) => loader.load(key), flush: () => {} };
  }
  if ('ms' in gather) {
    const due: Array<() => void> = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      clearTimeout(timer);
      timer = undefined;
      for (const dispatch of due.splice(0)) dispatch();
    };
    const loader = new DataLoader<K, V>(send, {
      cache: false,
      maxBatchSize: o.maxBatchSize,
      batchScheduleFn: (dispatch) => {
        due.push(dispatch);
        timer ??= setTimeout(flush, gather.ms);
      },
    });
    return { load: (key) => loader.load(key), flush };
  }
  const loader = new DataLoader<K, V>(gather.wrap(send), { cache: false, maxBatchSize: o.maxBatchSize, batchScheduleFn: gather.schedule });
  return { load: (key) => loader.load(key), flush: () => {} };
}

/** Above this share of the last 100 ms busy, the event loop counts as busy. */
const BUSY_UTILIZATION = 0.4;
const SAMPLE_MS = 100;
let busy = false;
let sampler: NodeJS.Timeout | undefined;

/** Samples this process's event-loop utilization (cheap: two counters) while any group commit exists. */
function watchLoad(): void {
  if (sampler) return;
  let last = performance.eventLoopUtilization();
  sampler = setInterval(() => {
    const now = performance.eventLoopUtilization();
    busy = performance.eventLoopUtilization(now, last).utilization > BUSY_UTILIZATION;
    last = now;
  }, SAMPLE_MS);
  sampler.unref();
}

export interface GroupCommit {
  schedule: (dispatch: () => void) => void;
  wrap: <K, V>(send: (keys: readonly K[]) => Promise<ReadonlyArray<V | Error>>) => (keys: readonly K[]) => Promise<ReadonlyArray<V | Error>>;
}

/**
 * Batches go out like a database's group commit: while `maxInFlight` batches
 * of this kind are at the database, the next batch keeps collecting, and goes
 * out as soon as one comes back.
 *
 * With nothing in flight, a batch goes out after the current poll's socket
 * reads (setImmediate): a request on a quiet process waits for nothing. It
 * lingers `lingerMs` first only when that is likely to gather more: the
 * process is busy (its event loop more than 40% busy over the last 100 ms)
 * and requests of this kind have lately come faster than one per `lingerMs`.
 * Then requests a few milliseconds apart share a statement: fewer statements
 * per payment exactly when the CPU is what limits. A busy process whose
 * requests come slower, as when a slow gateway is what keeps it busy, would
 * only add the linger to every payment.
 */
export function groupCommit(o: { maxInFlight?: number; lingerMs?: number; isBusy?: () => boolean; now?: () => number } = {}): GroupCommit {
  const maxInFlight = o.maxInFlight ?? 1;
  const lingerMs = o.lingerMs ?? 3;
  const now = o.now ?? (() => performance.now());
  const isBusy = o.isBusy ?? (() => busy);
  if (!o.isBusy) watchLoad();
  let active = 0;
  const waiting: Array<() => void> = [];
  // Requests per ms of this kind, measured over windows of at least SAMPLE_MS.
  let rate = 0;
  let windowStart = now();
  let windowCount = 0;
  const count = (n: number) => {
    const at = now();
    if (at - windowStart >= SAMPLE_MS) {
      rate = windowCount / (at - windowStart);
      windowStart = at;
      windowCount = 0;
    }
    windowCount += n;
  };
  return {
    schedule(dispatch) {
      if (active >= maxInFlight) {
        waiting.push(dispatch);
        return;
      }
      active++;
      if (isBusy() && rate * lingerMs >= 1) setTimeout(dispatch, lingerMs);
      else setImmediate(dispatch);
    },
    wrap: (send) => async (keys) => {
      count(keys.length);
      try {
        return await send(keys);
      } finally {
        const next = waiting.shift();
        if (next) setImmediate(next);
        else active--;
      }
    },
  };
}
