import qs from 'qs';

/** Raw HTTP calls to the simulator, below the stripe package, to observe exactly what it answers. */

export type Observed =
  | { kind: 'answered'; status: number; body: unknown; replayed: boolean }
  | { kind: 'dropped' }
  | { kind: 'no_answer' }
  | { kind: 'refused' };

export interface CreateIntent {
  amount: string;
  currency: string;
  /** Absent: the intent waits for one (`requires_payment_method`). */
  payment_method?: string;
  orderId: string;
}

export interface CallOptions {
  idempotencyKey?: string;
  timeoutMs?: number;
  apiKey?: string;
}

/** Creates and confirms in one call (`confirm=true`) unless `confirm: false`, which leaves `confirm` out as Stripe's default. */
export async function createIntent(
  url: string,
  intent: CreateIntent,
  options: CallOptions & { confirm?: boolean } = {},
): Promise<Observed> {
  const { orderId, ...fields } = intent;
  const confirm = options.confirm === false ? {} : { confirm: 'true' };
  return post(url, '/v1/payment_intents', { ...fields, ...confirm, metadata: { orderId } }, options);
}

export async function confirmIntent(url: string, id: string, params: { payment_method?: string } = {}, options: CallOptions = {}) {
  return post(url, `/v1/payment_intents/${id}/confirm`, params, options);
}

export async function cancelIntent(url: string, id: string, params: { cancellation_reason?: string } = {}, options: CallOptions = {}) {
  return post(url, `/v1/payment_intents/${id}/cancel`, params, options);
}

export async function retrieveIntent(url: string, id: string): Promise<Observed> {
  return observe(fetch(`${url}/v1/payment_intents/${id}`, { headers: { authorization: 'Bearer sk_test_raw' } }));
}

/** The ids and statuses search answers for this order id, newest first. */
export async function searchByOrder(url: string, orderId: string): Promise<Array<{ id: string; status: string }>> {
  const query = encodeURIComponent(`metadata['orderId']:'${orderId}'`);
  const response = await fetch(`${url}/v1/payment_intents/search?query=${query}`, { headers: { authorization: 'Bearer sk_test_raw' } });
  const result = (await response.json()) as { data: Array<{ id: string; status: string }> };
  return result.data.map(({ id, status }) => ({ id, status }));
}

async function post(url: string, path: string, form: object, options: CallOptions): Promise<Observed> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${options.apiKey ?? 'sk_test_raw'}`,
    'content-type': 'application/x-www-form-urlencoded',
  };
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
  const init = { method: 'POST', headers, body: qs.stringify(form), signal: AbortSignal.timeout(options.timeoutMs ?? 5000) };
  return observe(fetch(`${url}${path}`, init));
}

export async function observe(request: Promise<Response>): Promise<Observed> {
  try {
    const response = await request;
    const text = await response.text();
    return { kind: 'answered', status: response.status, body: JSON.parse(text), replayed: response.headers.get('idempotent-replayed') === 'true' };
  } catch (error) {
    if (error instanceof Error && error.name === 'TimeoutError') return { kind: 'no_answer' };
    const code = (error as { cause?: { code?: string } }).cause?.code;
    return code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'dropped' };
  }
}

/** Polls until `check` holds or the deadline passes (there is no event to await for a port opening or closing). */
export async function eventually(check: () => Promise<boolean>, deadlineMs = 5000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`condition not met within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function isRefused(url: string): Promise<boolean> {
  const seen = await observe(fetch(`${url}/_sim/faults`, { signal: AbortSignal.timeout(1000) }));
  return seen.kind === 'refused';
}

export async function isAnswering(url: string): Promise<boolean> {
  const seen = await observe(fetch(`${url}/_sim/faults`, { signal: AbortSignal.timeout(1000) }));
  return seen.kind === 'answered' && seen.status === 200;
}
