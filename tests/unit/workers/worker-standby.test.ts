import { describe, expect, it } from 'vitest';
import { initialStandbyState, nextStandbyState, type StandbyReading, type StandbyState } from '../../../src/workers/worker-standby.js';

const policy = { fullReadings: 2, waitingReadings: 10, idleMs: 1000, busyAt: 0.75, calmAt: 0.6, loadTauMs: 1000 };
const other = (inFlight = 3, concurrency = 20) => ({ id: 'other', inFlight, concurrency });

/** Feeds readings 25 ms apart from `state`; returns the last state and every reason seen. */
function feed(readings: StandbyReading[], state: StandbyState = initialStandbyState(0), start = 0) {
  const reasons: (string | undefined)[] = [];
  let t = start;
  for (const reading of readings) {
    t += 25;
    const next = nextStandbyState(state, reading, 'me', t, policy);
    state = next.state;
    reasons.push(next.reason);
  }
  return { state, reasons, t };
}

const quiet = (n: number): StandbyReading[] => Array.from({ length: n }, () => ({ holdsInput: false, holder: other(), waiting: 0 }));
const standingBy = () => feed(quiet(41)).state;
/** n readings with the holder running `holderInFlight` of 20 slots and this process `ownInFlight`. */
const loaded = (n: number, holderInFlight: number, ownInFlight = 0): StandbyReading[] =>
  Array.from({ length: n }, () => ({ holdsInput: false, holder: other(holderInFlight, 20), waiting: 0, ownInFlight }));

describe('worker standby policy', () => {
  it('when another process holds the input with free slots and nothing waits, then it stands by only after idleMs', () => {
    const early = feed(quiet(39));
    expect(early.state.standingBy).toBe(false);
    expect(standingBy().standingBy).toBe(true);
  });

  it('when this process took an input event, then it works at once and names why', () => {
    const { state, reasons } = feed([{ holdsInput: true }], standingBy());
    expect(state.standingBy).toBe(false);
    expect(reasons).toEqual(['holds_input']);
  });

  it('when the heartbeat is gone (holder dead or cut off from Redis), then it works', () => {
    const { state, reasons } = feed([{ holdsInput: false, waiting: 0 }], standingBy());
    expect(state.standingBy).toBe(false);
    expect(reasons).toEqual(['no_holder']);
  });

  it('when the live heartbeat is its own (it held the input a moment ago), then it works', () => {
    const { state } = feed([{ holdsInput: false, holder: { id: 'me', inFlight: 0, concurrency: 20 }, waiting: 0 }], standingBy());
    expect(state.standingBy).toBe(false);
  });

  it('when Redis cannot be read, then it works rather than guess', () => {
    const { state, reasons } = feed([{ holdsInput: false }], standingBy());
    expect(state.standingBy).toBe(false);
    expect(reasons).toEqual(['redis_unreadable']);
  });

  it('when the holder runs three quarters of its slots for about a second with nothing waiting, then it works; a brief spike is not enough', () => {
    const idle = feed(quiet(41));
    const spike = feed([...loaded(8, 18), ...quiet(2)], idle.state, idle.t);
    expect(spike.state.standingBy).toBe(true);
    expect(spike.reasons).not.toContain('holder_busy');
    const { state, reasons } = feed(loaded(80, 18), idle.state, idle.t);
    expect(state.standingBy).toBe(false);
    expect(reasons.at(-1)).toBe('holder_busy');
  });

  it('when it works because the holder is busy, then its own jobs count too, and it stands by once the load falls below calmAt', () => {
    const idle = feed(quiet(41));
    const working = feed(loaded(80, 18), idle.state, idle.t);
    // Sharing the work halves the holder's in flight; the load (holder + own) stays what it was.
    const still = feed(loaded(200, 8, 7), working.state, working.t);
    expect(still.state.standingBy).toBe(false);
    expect(still.reasons.at(-1)).toBe('holder_busy');
    // Between calmAt and busyAt it keeps working (no flapping at the line).
    const kept = feed(loaded(200, 7, 6), still.state, still.t);
    expect(kept.state.standingBy).toBe(false);
    expect(kept.state.busy).toBe(true);
    const after = feed(loaded(200, 4, 3), still.state, still.t);
    expect(after.state.standingBy).toBe(true);
    expect(after.state.busy).toBe(false);
  });

  it('when the holder is full and jobs wait on two readings in a row, then it works; one reading is not enough', () => {
    const full = { holdsInput: false, holder: other(20, 20), waiting: 4 };
    expect(feed([full], standingBy()).state.standingBy).toBe(true);
    const { state, reasons } = feed([full, full], standingBy());
    expect(state.standingBy).toBe(false);
    expect(reasons.at(-1)).toBe('holder_full');
  });

  it('when the same job stays next in line although the holder reports free slots (its worker cannot pull), then it works after waitingReadings', () => {
    const stuck = Array.from({ length: 10 }, () => ({ holdsInput: false, holder: other(0, 20), waiting: 1, next: ['job-1'] }));
    expect(feed(stuck.slice(0, 9), standingBy()).state.standingBy).toBe(true);
    const { state, reasons } = feed(stuck, standingBy());
    expect(state.standingBy).toBe(false);
    expect(reasons.at(-1)).toBe('jobs_waiting');
  });

  it('when one shard\'s next job stays put while another shard\'s keep moving, then it works after waitingReadings', () => {
    const mixed = Array.from({ length: 10 }, (_, i) => ({ holdsInput: false, holder: other(0, 20), waiting: 2, next: [`moving-${i}`, 'stuck-1'] }));
    expect(feed(mixed.slice(0, 9), standingBy()).state.standingBy).toBe(true);
    const { state, reasons } = feed(mixed, standingBy());
    expect(state.standingBy).toBe(false);
    expect(reasons.at(-1)).toBe('jobs_waiting');
  });

  it('when a job or two is found waiting on every reading but each is taken in turn, then it stays standing by', () => {
    // A busy holder that keeps up: a fresh job is in the list at every look, never the same one.
    const moving = Array.from({ length: 30 }, (_, i) => ({ holdsInput: false, holder: other(5, 20), waiting: 2, next: [`job-${i}`] }));
    const { state, reasons } = feed(moving, standingBy());
    expect(state.standingBy).toBe(true);
    expect(reasons.filter(Boolean)).toEqual([]);
  });

  it('when jobs waited only briefly while the holder had room, then it stays standing by', () => {
    const blips = [1, 0, 3, 0, 2, 0].map((waiting) => ({ holdsInput: false, holder: other(), waiting, next: waiting ? ['job-1'] : undefined }));
    expect(feed(blips, standingBy()).state.standingBy).toBe(true);
  });

  it('when it started working, then it keeps working for idleMs after the last reason', () => {
    const woken = feed([{ holdsInput: false, waiting: 0 }], standingBy());
    const after = feed(quiet(39), woken.state, woken.t);
    expect(after.state.standingBy).toBe(false);
    expect(feed(quiet(41), woken.state, woken.t).state.standingBy).toBe(true);
  });
});
