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
  payment_method: string;
  orderId: string;
}

export async function createIntent(
  url: string,
  intent: CreateIntent,
  options: { idempotencyKey?: string; timeoutMs?: number; apiKey?: string } = {},
): Promise<Observed> {
  const { orderId, ...fields } = intent;
  const body = qs.stringify({ ...fields, confirm: 'true', metadata: { orderId } });
  const headers: Record<string, string> = {
    authorization: `Bearer ${options.apiKey ?? 'sk_test_raw'}`,
    'content-type': 'application/x-www-form-urlencoded',
  };
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
  return observe(fetch(`${url}/v1/payment_intents`, { method: 'POST', headers, body, signal: AbortSignal.timeout(options.timeoutMs ?? 5000) }));
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
