import type { CreatedBounds, CreationIndex } from './creation-index.js';
import { resourceMissing, stripeError, type SimResponse } from './http-io.js';

/**
 * One page of a Stripe list endpoint: objects newest first, filtered by
 * `created[gt|gte|lt|lte]` (Unix seconds), `limit` (1-100, default 10) of
 * them from just after `starting_after`; `has_more` says whether another
 * page follows, so the `stripe` package's auto-pagination walks them all.
 */
const DEFAULT_LIMIT = 10;
const BOUNDS = ['gt', 'gte', 'lt', 'lte'] as const;

/** `index` orders the ids, `get` gives each one's current object; `resource` names what a bad `starting_after` missed. */
export function listPage(index: CreationIndex, get: (id: string) => unknown, query: URLSearchParams, url: string, resource: string): SimResponse {
  const limitText = query.get('limit') ?? String(DEFAULT_LIMIT);
  const limit = /^\d{1,3}$/.test(limitText) ? Number(limitText) : NaN;
  if (!(limit >= 1 && limit <= 100)) return invalid('limit', 'limit must be a whole number from 1 to 100');
  const bounds: CreatedBounds = {};
  for (const name of BOUNDS) {
    const text = query.get(`created[${name}]`);
    if (text === null) continue;
    if (!/^\d{1,12}$/.test(text)) return invalid(`created[${name}]`, `created[${name}] must be a Unix timestamp in seconds`);
    bounds[name] = Number(text);
  }
  // An empty starting_after is no cursor at all: the first page.
  const after = query.get('starting_after') || undefined;
  const page = index.page({ bounds, startingAfter: after, limit });
  if (!page) return resourceMissing(resource, after!, 'starting_after');
  return { status: 200, body: { object: 'list', data: page.ids.map(get), has_more: page.hasMore, url } };
}

function invalid(param: string, message: string): SimResponse {
  return stripeError(400, { type: 'invalid_request_error', code: 'parameter_invalid_integer', param, message });
}
