import { resourceMissing, stripeError, type SimResponse } from './http-io.js';

/**
 * One page of a Stripe list endpoint: objects newest first, filtered by
 * `created[gt|gte|lt|lte]` (Unix seconds), `limit` (1-100, default 10) of
 * them from just after `starting_after`; `has_more` says whether another
 * page follows, so the `stripe` package's auto-pagination walks them all.
 */
interface Listable {
  id: string;
  created: number;
}

const DEFAULT_LIMIT = 10;
const CREATED_BOUNDS = {
  gt: (created: number, bound: number) => created > bound,
  gte: (created: number, bound: number) => created >= bound,
  lt: (created: number, bound: number) => created < bound,
  lte: (created: number, bound: number) => created <= bound,
} as const;

/** `newestFirst` must already be in Stripe's order; `resource` names what a bad `starting_after` missed. */
export function listPage<T extends Listable>(newestFirst: readonly T[], query: URLSearchParams, url: string, resource: string): SimResponse {
  const limitText = query.get('limit') ?? String(DEFAULT_LIMIT);
  const limit = /^\d{1,3}$/.test(limitText) ? Number(limitText) : NaN;
  if (!(limit >= 1 && limit <= 100)) return invalid('limit', 'limit must be a whole number from 1 to 100');
  let matching = newestFirst;
  for (const [name, holds] of Object.entries(CREATED_BOUNDS)) {
    const text = query.get(`created[${name}]`);
    if (text === null) continue;
    if (!/^\d{1,12}$/.test(text)) return invalid(`created[${name}]`, `created[${name}] must be a Unix timestamp in seconds`);
    matching = matching.filter((item) => holds(item.created, Number(text)));
  }
  const after = query.get('starting_after');
  const from = after ? matching.findIndex((item) => item.id === after) + 1 : 0;
  if (after && from === 0) {
    return resourceMissing(resource, after, 'starting_after');
  }
  const data = matching.slice(from, from + limit);
  return { status: 200, body: { object: 'list', data, has_more: from + limit < matching.length, url } };
}

function invalid(param: string, message: string): SimResponse {
  return stripeError(400, { type: 'invalid_request_error', code: 'parameter_invalid_integer', param, message });
}
