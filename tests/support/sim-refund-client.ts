import qs from 'qs';
import { observe, type CallOptions, type Observed } from './sim-client.js';

/** Raw HTTP calls to the simulator's Refunds API, below the stripe package, to observe exactly what it answers. */

export interface RefundParams {
  payment_intent?: string;
  charge?: string;
  /** Minor units as a decimal string. */
  amount?: string;
  reason?: string;
  metadata?: Record<string, string>;
}

const AUTH = { authorization: 'Bearer sk_test_raw' };

export async function createRefund(url: string, params: RefundParams, options: CallOptions = {}): Promise<Observed> {
  const headers: Record<string, string> = { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' };
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
  const init = { method: 'POST', headers, body: qs.stringify(params), signal: AbortSignal.timeout(options.timeoutMs ?? 5000) };
  return observe(fetch(`${url}/v1/refunds`, init));
}

export async function getJson(url: string, path: string): Promise<Observed> {
  return observe(fetch(`${url}${path}`, { headers: AUTH }));
}

/** The body of an answered call; throws with what was seen otherwise, so a test fails with the reason. */
export function bodyOf<T = Record<string, unknown>>(seen: Observed): T {
  if (seen.kind !== 'answered') throw new Error(`expected an answer, saw ${seen.kind}`);
  return seen.body as T;
}
