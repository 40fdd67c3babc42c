/**
 * Counts the jobs this process is running now. The worker standby reads it:
 * the input holder's heartbeat carries it, and a process standing by weighs
 * its own jobs with the holder's.
 */
export interface InFlightCounter<J, R> {
  /** `work`, counted while it runs, whether it returns or throws. */
  run: (job: J) => Promise<R>;
  /** Jobs started and not yet finished; never below zero. */
  inFlight: () => number;
}

export function countInFlight<J, R>(work: (job: J) => Promise<R>): InFlightCounter<J, R> {
  let inFlight = 0;
  return {
    run: async (job) => {
      inFlight++;
      try {
        return await work(job);
      } finally {
        inFlight--;
      }
    },
    inFlight: () => inFlight,
  };
}
