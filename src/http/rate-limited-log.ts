/**
 * At most one log line per key per window, so a flood (a scanner hammering the
 * ops port, a probe every second while a store is down) costs a line a minute,
 * not a line a request. The line that ends a quiet spell says how many were
 * left out, so the volume is still visible.
 */
export const LOG_EVERY_MS = 60_000;

export class RateLimitedLog {
  private readonly windows = new Map<string, { openedAt: number; suppressed: number }>();

  constructor(
    private readonly everyMs = LOG_EVERY_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `emit` (with how many lines of this key were left out since the last one) or counts it. */
  note(key: string, emit: (suppressed: number) => void): void {
    const at = this.now();
    const window = this.windows.get(key);
    if (window && at - window.openedAt < this.everyMs) {
      window.suppressed += 1;
      return;
    }
    this.windows.set(key, { openedAt: at, suppressed: 0 });
    emit(window?.suppressed ?? 0);
  }
}
