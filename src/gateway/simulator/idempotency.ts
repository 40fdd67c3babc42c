import { stripeError, type SimResponse } from './http-io.js';

/**
 * Stripe's idempotency rules, as far as the adapter relies on them: the
 * first result stored under a key is replayed exactly for the same
 * parameters; the same key with other parameters is refused. Results of
 * requests that never ran (validation errors, injected faults) are not
 * stored, so a retry after them runs for real, as on Stripe.
 */
interface Stored {
  fingerprint: string;
  response: SimResponse;
}

export function createIdempotencyStore() {
  const results = new Map<string, Stored>();

  /** The stored replay or refusal for this key, or undefined when the key is new. */
  function check(key: string, fingerprint: string): SimResponse | undefined {
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
    results.set(key, { fingerprint, response });
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
