import { stripeError, type SimResponse } from './http-io.js';

/**
 * Stripe's idempotency rules, as far as the adapter relies on them: the
 * first result stored under a key is replayed exactly for the same
 * parameters; the same key with other parameters is refused. Results of
 * requests that never ran (validation errors, injected faults) are not
 * stored, so a retry after them runs for real, as on Stripe. A key older
 * than the TTL is forgotten (Stripe prunes keys after 24 hours): the same
 * key then runs the request again.
 */
interface Stored {
  fingerprint: string;
  response: SimResponse;
  /** When it was stored, in the simulator's milliseconds. */
  at: number;
}

export function createIdempotencyStore(now: () => number, ttlMs: () => number) {
  // Insertion order is storage order, hence oldest first: expired keys are always a prefix.
  const results = new Map<string, Stored>();

  function forgetExpired(): void {
    const cutoff = now() - ttlMs();
    for (const [key, stored] of results) {
      if (stored.at > cutoff) break;
      results.delete(key);
    }
  }

  /** The stored replay or refusal for this key, or undefined when the key is new (or forgotten). */
  function check(key: string, fingerprint: string): SimResponse | undefined {
    forgetExpired();
    const stored = results.get(key);
    if (!stored) return undefined;
    if (stored.fingerprint !== fingerprint) {
      return stripeError(400, {
        type: 'idempotency_error',
        message:
          'Keys for idempotent requests can only be used with the same parameters they were first used with. ' +
          `Try using a key other than '${key.slice(0, 255)}' if you meant to execute a different request.`,
      });
    }
    return { ...stored.response, headers: { ...stored.response.headers, 'idempotent-replayed': 'true' } };
  }

  function remember(key: string, fingerprint: string, response: SimResponse): void {
    results.set(key, { fingerprint, response, at: now() });
  }

  return { check, remember };
}

/** The same parameters in any order give the same fingerprint. */
export function fingerprintOf(route: string, body: unknown): string {
  return `${route} ${JSON.stringify(sortKeys(body))}`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, sortKeys(v)]),
  );
}
