import { describe, expect, it } from 'vitest';
import { createCreationIndex, type CreatedBounds, type CreationIndex } from '../../../src/gateway/simulator/creation-index.js';
import { createPrng } from '../../../src/gateway/simulator/prng.js';

interface Made {
  id: string;
  created: number;
}

/** Stripe's list as a plain filter: newest `created` first, among equals the one made later first. */
function expectedOrder(made: Made[], bounds: CreatedBounds): string[] {
  const { gt = -Infinity, gte = -Infinity, lt = Infinity, lte = Infinity } = bounds;
  return made
    .map((item, seq) => ({ ...item, seq }))
    .filter(({ created }) => created > gt && created >= gte && created < lt && created <= lte)
    .sort((a, b) => b.created - a.created || b.seq - a.seq)
    .map(({ id }) => id);
}

/** Every page from the first until has_more is false, as the stripe package's auto-pagination asks for them. */
function walk(index: CreationIndex, bounds: CreatedBounds, limit: number): string[] {
  const seen: string[] = [];
  for (;;) {
    const page = index.page({ bounds, startingAfter: seen.at(-1), limit })!;
    // A page short of the limit must be the last, and none may be longer.
    if (page.ids.length > limit || (page.hasMore && page.ids.length < limit)) throw new Error(`page of ${page.ids.length} at ${seen.length}`);
    seen.push(...page.ids);
    if (!page.hasMore) return seen;
  }
}

/** `count` objects whose clock mostly moves forward a second at a time, with runs of equal `created`, and sometimes steps back. */
function make(count: number, seed: number): { index: CreationIndex; made: Made[] } {
  const random = createPrng(seed);
  const index = createCreationIndex();
  const made: Made[] = [];
  let clock = 1_000;
  for (let i = 0; i < count; i += 1) {
    const roll = random();
    clock += roll < 0.05 ? -3 : roll < 0.5 ? 0 : 1;
    made.push({ id: `obj_${i}`, created: clock });
    index.add(`obj_${i}`, clock);
  }
  return { index, made };
}

const WINDOWS: Array<[string, CreatedBounds]> = [
  ['no bounds', {}],
  ['gte and lte', { gte: 1_100, lte: 1_400 }],
  ['gt and lt', { gt: 1_100, lt: 1_400 }],
  ['gte only', { gte: 1_500 }],
  ['lt only', { lt: 1_050 }],
  ['gt and gte together (the tighter wins)', { gt: 1_200, gte: 1_150, lte: 1_300 }],
  ['an empty window', { gte: 1_300, lt: 1_300 }],
  ['a window past every object', { gt: 99_999 }],
];

describe('simulator list order (creation index)', () => {
  it.each(WINDOWS)('when a few thousand objects are walked with %s, then each comes once, newest first, ties latest first', (_, bounds) => {
    const { index, made } = make(3_000, 7);
    for (const limit of [1, 7, 100]) expect(walk(index, bounds, limit)).toEqual(expectedOrder(made, bounds));
  });

  it('when starting_after is unknown or outside the window, then there is no page, as Stripe answers resource_missing', () => {
    const { index, made } = make(200, 3);
    const outside = expectedOrder(made, { lt: 1_050 })[0]!;
    expect(index.page({ bounds: {}, startingAfter: 'obj_nope', limit: 10 })).toBeUndefined();
    expect(index.page({ bounds: { gte: 1_050 }, startingAfter: outside, limit: 10 })).toBeUndefined();
  });

  it('when an id is added again (a new version of the object), then it keeps its first place', () => {
    const index = createCreationIndex();
    index.add('a', 10);
    index.add('b', 10);
    index.add('a', 20);
    expect(index.ids()).toEqual(['a', 'b']);
    expect(index.page({ bounds: { gte: 15 }, limit: 10 })).toEqual({ ids: [], hasMore: false });
  });

  // How long such a walk takes is the scale run's figure (scripts/reconcile-scale.ts), not this test's.
  it('when 100,000 objects are walked ten at a time, then each comes back once, newest first', () => {
    const index = createCreationIndex();
    for (let i = 0; i < 100_000; i += 1) index.add(`obj_${i}`, 1_000 + Math.floor(i / 50));
    const seen = walk(index, { gte: 1_000 }, 10);
    expect(seen).toHaveLength(100_000);
    expect(new Set(seen).size).toBe(100_000);
    expect(seen[0]).toBe('obj_99999');
    expect(seen[seen.length - 1]).toBe('obj_0');
  });
});
