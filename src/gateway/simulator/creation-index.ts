/**
 * The ids of one kind of object (payment intents, refunds) ordered by
 * `created`, ties in the order they were added, which is how Stripe's list
 * endpoints order them (newest first). One page costs two binary searches
 * for the `created` bounds, one for `starting_after`, and `limit` steps, so
 * walking 100,000 objects a page at a time does not re-scan them all per page.
 *
 * Objects are added as they are created and the simulator's clock normally
 * only moves forward, so an add is a push; the base clock (Date.now, or a
 * test's) can still step back, and then the new id is inserted where its
 * `created` puts it rather than breaking the order the searches rely on.
 */
export interface CreatedBounds {
  gt?: number;
  gte?: number;
  lt?: number;
  lte?: number;
}

export interface PageRequest {
  bounds: CreatedBounds;
  /** Answer the objects just older than this one (it must lie within the bounds). */
  startingAfter?: string;
  limit: number;
}

export interface IdPage {
  /** Newest first. */
  ids: string[];
  hasMore: boolean;
}

interface Entry {
  id: string;
  created: number;
  /** Order of adding: breaks ties between equal `created`, and makes every entry's position unique. */
  seq: number;
}

// Sentinels for a search on `created` alone: before every seq, or after every one.
const FIRST = -1;
const LAST = Number.POSITIVE_INFINITY;

export function createCreationIndex() {
  // Sorted by (created, seq): oldest first.
  const entries: Entry[] = [];
  const byId = new Map<string, Entry>();

  /** The first position whose entry is at or after (created, seq). */
  function positionOf(created: number, seq: number): number {
    let low = 0;
    let high = entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const entry = entries[mid]!;
      if (entry.created < created || (entry.created === created && entry.seq < seq)) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Adding an id again (a new version of the object) keeps its first place. */
  function add(id: string, created: number): void {
    if (byId.has(id)) return;
    const entry: Entry = { id, created, seq: byId.size };
    byId.set(id, entry);
    const at = positionOf(created, LAST);
    if (at === entries.length) entries.push(entry);
    else entries.splice(at, 0, entry);
  }

  /** The positions [from, to) whose `created` is within the bounds. */
  function range({ gt, gte, lt, lte }: CreatedBounds): { from: number; to: number } {
    let from = 0;
    let to = entries.length;
    if (gt !== undefined) from = Math.max(from, positionOf(gt, LAST));
    if (gte !== undefined) from = Math.max(from, positionOf(gte, FIRST));
    if (lt !== undefined) to = Math.min(to, positionOf(lt, FIRST));
    if (lte !== undefined) to = Math.min(to, positionOf(lte, LAST));
    return { from, to };
  }

  /** Newest first within the bounds; undefined when `startingAfter` is unknown or outside them. */
  function page({ bounds, startingAfter, limit }: PageRequest): IdPage | undefined {
    const { from, to } = range(bounds);
    let top = to;
    if (startingAfter !== undefined) {
      const after = byId.get(startingAfter);
      const at = after ? positionOf(after.created, after.seq) : -1;
      if (at < from || at >= to) return undefined;
      top = at;
    }
    const bottom = Math.max(from, top - limit);
    const ids: string[] = [];
    for (let i = top - 1; i >= bottom; i -= 1) ids.push(entries[i]!.id);
    return { ids, hasMore: bottom > from };
  }

  /** Every id, oldest first. */
  const ids = (): string[] => entries.map((entry) => entry.id);

  return { add, page, ids };
}

export type CreationIndex = ReturnType<typeof createCreationIndex>;
