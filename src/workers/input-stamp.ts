/**
 * Stamps when this process last took an input event. Taking input is what
 * makes a process the "input holder" of the worker standby (worker-standby.ts):
 * the holder always works, others may stand by.
 */
export interface InputStamp<M, R> {
  /** `handle`, stamping the time before each message is handled. */
  handler: (message: M) => R;
  /** Epoch ms of the last message taken; 0 before the first. */
  lastInputAt: () => number;
}

export function stampInput<M, R>(handle: (message: M) => R, now: () => number = Date.now): InputStamp<M, R> {
  let lastInputAt = 0;
  return {
    handler: (message) => {
      lastInputAt = now();
      return handle(message);
    },
    lastInputAt: () => lastInputAt,
  };
}
