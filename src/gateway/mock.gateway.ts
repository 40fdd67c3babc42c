import { randomUUID } from 'node:crypto';
import { setTimeout as wait } from 'node:timers/promises';
import { PermanentGatewayError, TransientGatewayError } from './gateway.errors.js';
import type { ChargeLookup, ChargeRequest, ChargeSucceeded, PaymentGateway } from './gateway.port.js';

/**
 * The seed's MockPaymentGateway, in process: a simulated network delay and
 * an 80% success rate by default. The test payment methods behave as in the
 * simulator, and a repeated idempotency key gives the first result again,
 * so code written against it behaves the same against Stripe.
 */
export interface MockGatewayOptions {
  /** Probability that a payment method other than the named test tokens succeeds. */
  successRate?: number;
  /** Simulated delay, drawn uniformly in [min, max] ms. */
  delayMs?: readonly [number, number];
  /** Injected for repeatable tests; draws the delay, then the success. */
  random?: () => number;
  /** Injected so tests can observe the delay without waiting for it. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

interface Attempt {
  fingerprint: string;
  result: Promise<ChargeSucceeded>;
}

const DECLINES: Record<string, { code: 'card_declined' | 'insufficient_funds'; reason: string }> = {
  pm_card_chargeDeclined: { code: 'card_declined', reason: 'Your card was declined.' },
  pm_card_chargeDeclinedInsufficientFunds: { code: 'insufficient_funds', reason: 'Your card has insufficient funds.' },
};

const defaultSleep = async (ms: number, signal?: AbortSignal) => {
  await wait(ms, undefined, { signal });
};

export function createMockGateway({
  successRate = 0.8,
  delayMs = [10, 50],
  random = Math.random,
  sleep = defaultSleep,
}: MockGatewayOptions = {}): PaymentGateway {
  const byKey = new Map<string, Attempt>();
  const keyByOrder = new Map<string, string>();

  const succeeds = (paymentMethod: string) => paymentMethod === 'pm_card_visa' || random() < successRate;

  async function attempt(request: ChargeRequest, signal?: AbortSignal): Promise<ChargeSucceeded> {
    const [min, max] = delayMs;
    await sleep(min + Math.floor(random() * (max - min + 1)), signal);
    const decline = DECLINES[request.paymentMethod] ?? (succeeds(request.paymentMethod) ? undefined : DECLINES.pm_card_chargeDeclined);
    const transactionId = `mock_txn_${randomUUID()}`;
    const response = {
      id: transactionId,
      amount: request.amountMinor.toString(),
      currency: request.currency.toLowerCase(),
      created: Math.floor(Date.now() / 1000),
    };
    if (decline) throw new PermanentGatewayError(decline.code, decline.reason, { ...response, status: 'failed', code: decline.code });
    return { status: 'succeeded', transactionId, response: { ...response, status: 'succeeded' } };
  }

  async function charge(request: ChargeRequest, signal?: AbortSignal): Promise<ChargeSucceeded> {
    if (signal?.aborted) throw new TransientGatewayError('gateway_unavailable', 'the call was cancelled before it was sent', 'not_sent');
    const fingerprint = [request.orderId, request.amountMinor, request.currency, request.paymentMethod].join('|');
    const seen = byKey.get(request.idempotencyKey);
    if (seen && seen.fingerprint !== fingerprint) {
      throw new PermanentGatewayError('invalid_request', 'the same idempotency key was used with other parameters');
    }
    if (seen) return seen.result;
    // Stored before it settles, so a concurrent repeat waits for this one instead of charging again.
    const result = attempt(request, signal).catch((error: unknown) => {
      if (error instanceof PermanentGatewayError) throw error;
      forget(request);
      throw new TransientGatewayError('gateway_unavailable', 'the call was cancelled before it charged', 'not_sent', {
        cause: error,
      });
    });
    byKey.set(request.idempotencyKey, { fingerprint, result });
    keyByOrder.set(request.orderId, request.idempotencyKey);
    return result;
  }

  /** A call cancelled during its delay charged nothing: the key is free for the retry. */
  function forget(request: ChargeRequest): void {
    byKey.delete(request.idempotencyKey);
    if (keyByOrder.get(request.orderId) === request.idempotencyKey) keyByOrder.delete(request.orderId);
  }

  async function lookup(request: Pick<ChargeRequest, 'orderId' | 'idempotencyKey'>): Promise<ChargeLookup> {
    const key = byKey.has(request.idempotencyKey) ? request.idempotencyKey : keyByOrder.get(request.orderId);
    const found = key === undefined ? undefined : byKey.get(key);
    if (!found) return { status: 'not_found' };
    try {
      return await found.result;
    } catch (error) {
      if (!(error instanceof PermanentGatewayError)) return { status: 'not_found' };
      const transactionId = typeof error.response.id === 'string' ? error.response.id : undefined;
      return { status: 'declined', transactionId, code: error.code, reason: error.message, response: error.response };
    }
  }

  return { name: 'mock', charge, lookup };
}
