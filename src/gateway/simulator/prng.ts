/**
 * A small seeded PRNG (mulberry32) so that a simulator run with faults, or a
 * mock gateway in a test, repeats exactly for the same seed. Not for secrets.
 */
export type Random = () => number;

export function createPrng(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A fresh seed for runs that did not ask for one; logged so the run can be repeated. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 4_294_967_296);
}
