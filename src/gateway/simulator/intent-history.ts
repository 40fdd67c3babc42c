import type { PaymentIntent } from './intent-object.js';
import { MAX_SEARCH_LAG_MS } from './simulator.settings.js';

/**
 * Every version of every payment intent with the time it was made, so search
 * can show the world as it was `searchLagMs` ago, as Stripe's search index
 * does ("searchable in under 1 minute", up to an hour behind in outages).
 */
interface Version {
  /** The simulator's milliseconds when this version was saved. */
  at: number;
  intent: PaymentIntent;
}

export function createIntentHistory() {
  // Map order is creation order; each list is oldest first.
  const versions = new Map<string, Version[]>();

  function record(intent: PaymentIntent, at: number): void {
    const list = versions.get(intent.id);
    if (!list) return void versions.set(intent.id, [{ at, intent }]);
    list.push({ at, intent });
    // A version followed by one older than the longest lag is visible to no search from now on.
    while (list.length > 1 && list[1]!.at <= at - MAX_SEARCH_LAG_MS) list.shift();
  }

  /** Each intent's latest version saved at or before `cutoff`, in creation order; intents created later are absent. */
  function asOf(cutoff: number): PaymentIntent[] {
    const seen: PaymentIntent[] = [];
    for (const list of versions.values()) {
      const visible = latestAtOrBefore(list, cutoff);
      if (visible) seen.push(visible);
    }
    return seen;
  }

  return { record, asOf };
}

function latestAtOrBefore(list: Version[], cutoff: number): PaymentIntent | undefined {
  for (let i = list.length - 1; i >= 0; i -= 1) if (list[i]!.at <= cutoff) return list[i]!.intent;
  return undefined;
}
