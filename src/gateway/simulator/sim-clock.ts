/**
 * The simulator's clock: the real one (or a test's) plus whatever tests
 * moved it forward by, so a day of idempotency key lifetime or an hour of
 * search lag can be crossed without waiting. It only ever moves forward.
 */
export const MAX_CLOCK_ADVANCE_S = 10 * 365 * 86_400;

/** Thrown for an advance that is not a whole number of seconds from 1 to ten years. */
export class ClockAdvanceError extends RangeError {
  /** `given` is the value as the caller wrote it. */
  constructor(given: string) {
    super(`advance must be a whole number of seconds from 1 to ${MAX_CLOCK_ADVANCE_S} (ten years), not ${given.slice(0, 40)}`);
    this.name = 'ClockAdvanceError';
  }
}

export interface SimClock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Unix seconds, as Stripe's timestamps. */
  unixSeconds(): number;
  /** Moves the clock forward; answers the new time in Unix seconds. */
  advance(seconds: number): number;
}

export function createSimClock(base: () => number = Date.now): SimClock {
  let offsetMs = 0;
  const now = () => base() + offsetMs;
  const unixSeconds = () => Math.floor(now() / 1000);
  function advance(seconds: number): number {
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_CLOCK_ADVANCE_S) throw new ClockAdvanceError(String(seconds));
    offsetMs += seconds * 1000;
    return unixSeconds();
  }
  return { now, unixSeconds, advance };
}
