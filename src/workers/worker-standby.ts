import type { Worker } from 'bullmq';
import type { RedisClient } from '../redis.js';
import type { Logger } from 'pino';

/**
 * Standby: while another process takes the input and has free slots, this
 * process's BullMQ worker stops pulling jobs, so at moderate rates one process
 * does the work and its database statements and Redis round trips are shared
 * by more payments (the consumer priority of inventory-consumer.runner.ts
 * already gives one process every delivery; without this, BullMQ hands the
 * jobs out in turn). It only chooses who pulls a job, never whether one runs:
 *
 * - the process that took an input event lately (the "holder") always works,
 *   and writes a heartbeat with its jobs in flight and its concurrency;
 * - another process stands by only while that heartbeat is live and is not
 *   its own; it works again as soon as the holder is full and jobs wait (a
 *   holder short of CPU fills up too, since its jobs take longer), the jobs
 *   in flight (the holder's and its own) have filled three quarters of the
 *   holder's slots on average over the last second or so (a slow gateway:
 *   the holder's slots, not its CPU, are what runs out, and it would fill up
 *   again and again; it keeps working until that falls below 60%), the same
 *   job stays next in line for a while whatever the holder says (a holder
 *   whose worker cannot take jobs), the heartbeat expires (the holder died
 *   or lost Redis), or it cannot read Redis; and it keeps working until none
 *   of that has been true for `idleMs`. A job or two found waiting is not a
 *   reason: a busy holder leaves a fresh job in the list for a few
 *   milliseconds all the time, and waking on that had the other process
 *   pulling a third of the time at a moderate rate;
 * - with no input at all (retries, the sweeper's jobs) every process works.
 */
export interface HolderBeat {
  id: string;
  inFlight: number;
  concurrency: number;
}

export interface StandbyReading {
  /** This process took an input event within `holdMs`. */
  holdsInput: boolean;
  /** The live heartbeat, when one is. */
  holder?: HolderBeat | undefined;
  /** Jobs waiting to be pulled (wait + prioritized); undefined when Redis could not be read. */
  waiting?: number | undefined;
  /** The id of the job next in line in each shard where one waits (its wait list's oldest, else its first prioritized one). */
  next?: readonly string[] | undefined;
  /** Jobs this process is running now. */
  ownInFlight?: number | undefined;
}

export type WorkReason = 'holds_input' | 'no_holder' | 'holder_full' | 'holder_busy' | 'jobs_waiting' | 'redis_unreadable';

export interface StandbyState {
  standingBy: boolean;
  /** Readings in a row where a job next in line at the reading before still was. */
  stuckStreak: number;
  /** The jobs next in line at the last reading. */
  lastNext?: readonly string[] | undefined;
  /** Readings in a row with jobs waiting while the holder was full. */
  fullStreak: number;
  /** When a reason to work was last seen. */
  lastReasonAt: number;
  /** Jobs in flight (the holder's and this process's) per slot of the holder, averaged over about `loadTauMs`. */
  load: number;
  /** When `load` was last updated. */
  loadAt: number;
  /** `load` crossed `busyAt` and has not fallen below `calmAt` since. */
  busy: boolean;
}

export interface StandbyPolicy {
  /** Readings in a row of "holder full and jobs waiting" before working. */
  fullReadings: number;
  /** Readings in a row with the same job next in line before working whatever the holder says. */
  waitingReadings: number;
  /** How long without a reason to work before standing by. */
  idleMs: number;
  /** The averaged load (in flight per holder slot) at which this process works too. */
  busyAt: number;
  /** Once busy, the averaged load below which that stops being a reason (below `busyAt`, so it does not flap). */
  calmAt: number;
  /** The time constant of that average. */
  loadTauMs: number;
}

export const initialStandbyState = (now: number): StandbyState => ({ standingBy: false, stuckStreak: 0, fullStreak: 0, lastReasonAt: now, load: 0, loadAt: now, busy: false });

/** The next state for one reading: pure, so every rule is tested without Redis. */
export function nextStandbyState(
  state: StandbyState,
  reading: StandbyReading,
  ownId: string,
  now: number,
  policy: StandbyPolicy,
): { state: StandbyState; reason?: WorkReason } {
  const waiting = reading.waiting ?? 0;
  const holderFull = !!reading.holder && reading.holder.inFlight >= reading.holder.concurrency;
  const next = reading.next ?? [];
  const stuckStreak = next.length === 0 ? 0 : next.some((id) => state.lastNext?.includes(id)) ? state.stuckStreak + 1 : 1;
  const fullStreak = waiting > 0 && holderFull ? state.fullStreak + 1 : 0;
  const sample = reading.holder && reading.holder.concurrency > 0 ? (reading.holder.inFlight + (reading.ownInFlight ?? 0)) / reading.holder.concurrency : 0;
  const weight = 1 - Math.exp(-Math.max(0, now - state.loadAt) / policy.loadTauMs);
  const load = state.load + (sample - state.load) * weight;
  const busy = state.busy ? load >= policy.calmAt : load >= policy.busyAt;
  const reason: WorkReason | undefined = reading.holdsInput
    ? 'holds_input'
    : reading.waiting === undefined
      ? 'redis_unreadable'
      : !reading.holder || reading.holder.id === ownId
        ? 'no_holder'
        : fullStreak >= policy.fullReadings
          ? 'holder_full'
          : busy
            ? 'holder_busy'
            : stuckStreak >= policy.waitingReadings
            ? 'jobs_waiting'
            : undefined;
  const lastReasonAt = reason ? now : state.lastReasonAt;
  const standingBy = reason ? false : state.standingBy || now - lastReasonAt >= policy.idleMs;
  return { state: { standingBy, stuckStreak, lastNext: reading.next, fullStreak, lastReasonAt, load, loadAt: now, busy }, ...(reason ? { reason } : {}) };
}

export interface WorkerStandbyOptions {
  /** This process's payment workers, one per shard (QUEUE_SHARDS); shard 0's holds the heartbeat. */
  workers: readonly Pick<Worker, 'pause' | 'resume' | 'toKey'>[];
  redis: RedisClient;
  /** This process's id in the heartbeat. */
  id: string;
  concurrency: number;
  /** When this process last took an input event (ms since the epoch; 0: never). */
  lastInputAt: () => number;
  /** Jobs this process is running now. */
  inFlight: () => number;
  logger: Logger;
  onChange?: (standingBy: boolean) => void;
  /** How often the holder looks at its own slots (no I/O unless its heartbeat is due). */
  pollMs?: number;
  /** How often another process reads the heartbeat and the waiting jobs (one round trip each). */
  readMs?: number;
  /** The holder rewrites its heartbeat this often, and at once when it becomes full or has room again. */
  beatEveryMs?: number;
  /** An input event this recent makes this process the holder. */
  holdMs?: number;
  /** The heartbeat outlives its last write by this much. */
  beatTtlMs?: number;
  policy?: Partial<StandbyPolicy>;
  now?: () => number;
}

export interface WorkerStandby {
  standingBy(): boolean;
  /** Stops deciding (before the worker is closed; a worker standing by closes as any other). */
  stop(): Promise<void>;
}

export function startWorkerStandby(o: WorkerStandbyOptions): WorkerStandby {
  const pollMs = o.pollMs ?? 25;
  const readMs = o.readMs ?? 50;
  const beatEveryMs = o.beatEveryMs ?? 100;
  const holdMs = o.holdMs ?? 500;
  const beatTtlMs = o.beatTtlMs ?? 1000;
  const policy: StandbyPolicy = { fullReadings: 2, waitingReadings: 5, idleMs: 250, busyAt: 0.75, calmAt: 0.6, loadTauMs: 1000, ...o.policy };
  const now = o.now ?? Date.now;
  const beatKey = o.workers[0]!.toKey('input-holder');
  let state = initialStandbyState(now());
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  // Every round trip costs both processes a wake-up (about a millisecond of CPU each on a small VM), so
  // the holder writes only when its heartbeat is due or its fullness changed, and the others read less often.
  let lastBeat: { at: number; full: boolean } | undefined;
  let lastReadAt = -Infinity;

  /** undefined: nothing to read this tick (a process that does not hold the input reads every `readMs`). */
  const read = async (): Promise<StandbyReading | undefined> => {
    const at = now();
    if (at - o.lastInputAt() < holdMs) {
      const inFlight = o.inFlight();
      const full = inFlight >= o.concurrency;
      if (lastBeat && lastBeat.full === full && at - lastBeat.at < beatEveryMs) return { holdsInput: true };
      lastBeat = { at, full };
      // A failed heartbeat only means the others will work too: never a reason to stop this one.
      await o.redis.set(beatKey, `${o.id}|${inFlight}|${o.concurrency}`, 'PX', beatTtlMs).catch(() => undefined);
      return { holdsInput: true };
    }
    lastBeat = undefined;
    if (at - lastReadAt < readMs) return undefined;
    lastReadAt = at;
    try {
      // One transaction per shard: a cluster runs one only within a slot.
      const [beat, ...shards] = await Promise.all([o.redis.get(beatKey), ...o.workers.map((w) => readShard(o.redis, w))]);
      const next = shards.flatMap(([, head]) => (head === undefined ? [] : [head]));
      return { holdsInput: false, holder: parseBeat(beat), waiting: shards.reduce((sum, [waiting]) => sum + waiting, 0), next, ownInFlight: o.inFlight() };
    } catch {
      return { holdsInput: false };
    }
  };

  const tick = async () => {
    const reading = await read();
    if (!reading) return;
    const next = nextStandbyState(state, reading, o.id, now(), policy);
    if (stopped) return;
    const was = state.standingBy;
    state = next.state;
    if (state.standingBy === was) return;
    o.onChange?.(state.standingBy);
    if (state.standingBy) {
      o.logger.debug('worker standing by: another process takes the input and has free slots');
      // doNotWaitActive: jobs already running finish as usual; only pulling stops.
      await Promise.all(o.workers.map((w) => w.pause(true)));
    } else {
      o.logger.debug({ reason: next.reason, load: state.load }, 'worker pulling jobs again');
      for (const w of o.workers) w.resume();
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick()
        .catch((err) => o.logger.warn({ err: (err as Error).message }, 'worker standby check failed'))
        .finally(schedule);
    }, pollMs);
    timer.unref();
  };
  schedule();

  return {
    standingBy: () => state.standingBy,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/** A shard's jobs waiting (wait + prioritized) and the id of the one next in line; throws when Redis did not answer. */
async function readShard(redis: RedisClient, worker: Pick<Worker, 'toKey'>): Promise<[waiting: number, next: string | undefined]> {
  // BullMQ pushes new jobs on the left of the wait list, and workers take them from the right, then from prioritized.
  const wait = worker.toKey('wait');
  const prioritized = worker.toKey('prioritized');
  const replies = await redis.multi().llen(wait).zcard(prioritized).lindex(wait, -1).zrange(prioritized, '0', '0').exec();
  if (!replies || replies.some(([err]) => err)) throw new Error('a shard could not be read');
  const [waiting, prioritizedCount, oldest, [firstPrioritized]] = replies.map(([, value]) => value) as [unknown, unknown, unknown, unknown[]];
  return [Number(waiting) + Number(prioritizedCount), typeof oldest === 'string' ? oldest : typeof firstPrioritized === 'string' ? firstPrioritized : undefined];
}

function parseBeat(value: unknown): HolderBeat | undefined {
  if (typeof value !== 'string') return undefined;
  const [id, inFlight, concurrency] = value.split('|');
  if (!id || !Number.isFinite(Number(inFlight)) || !Number.isFinite(Number(concurrency))) return undefined;
  return { id, inFlight: Number(inFlight), concurrency: Number(concurrency) };
}
