import { randomUUID } from 'node:crypto';
import { setTimeout as wait } from 'node:timers/promises';
import { PermanentGatewayError, TransientGatewayError } from './gateway.errors.js';
import type { ChargeHandle, ChargeLookup, ChargeRequest, ChargeSucceeded, PaymentGateway } from './gateway.port.js';
import { createMockRefunds, type MockRefundOptions } from './mock-refunds.js';

/**
 * The seed's MockPaymentGateway, in process: a simulated network delay and
 * an 80% success rate by default. The test payment methods behave as in the
 * simulator, charges are prepared then confirmed as Stripe's PaymentIntents
 * are, and a repeated prepare key or confirm gives the first result again,
 * so code written against it behaves the same against Stripe. Refunds follow
 * Stripe's rules too (`mock-refunds.ts`), without the delay.
 */
export interface MockGatewayOptions extends MockRefundOptions {
  /** Probability that a payment method other than the named test tokens succeeds. */
  successRate?: number;
  /** Simulated delay of a confirm, drawn uniformly in [min, max] ms. */
  delayMs?: readonly [number, number];
  /** Injected for repeatable tests; draws the delay, then the success. */
  random?: () => number;
  /** Injected so tests can observe the delay without waiting for it. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

interface Intent {
  id: string;
  request: ChargeRequest;
  fingerprint: string;
  /** Set by the first confirm; a repeat returns it, so one intent charges at most once. */
  result?: Promise<ChargeSucceeded>;
  settled?: ChargeLookup;
  canceled: boolean;
}

const DECLINES: Record<string, { code: 'card_declined' | 'insufficient_funds'; reason: string }> = {
  pm_card_chargeDeclined: { code: 'card_declined', reason: 'Your card was declined.' },
  pm_card_chargeDeclinedInsufficientFunds: { code: 'insufficient_funds', reason: 'Your card has insufficient funds.' },
};

export type MockGateway = PaymentGateway & {
  /** For tests: settles a pending refund, as the gateway would later. */
  settleRefund(gatewayRefundId: string, status: 'succeeded' | 'failed'): void;
};

const defaultSleep = async (ms: number, signal?: AbortSignal) => {
  await wait(ms, undefined, { signal });
};

export function createMockGateway({
  successRate = 0.8,
  delayMs = [10, 50],
  random = Math.random,
  sleep = defaultSleep,
  ...refundOptions
}: MockGatewayOptions = {}): MockGateway {
  const byKey = new Map<string, Intent>();
  const byId = new Map<string, Intent>();

  const succeeds = (paymentMethod: string) => paymentMethod === 'pm_card_visa' || random() < successRate;

  async function attempt(intent: Intent, signal?: AbortSignal): Promise<ChargeSucceeded> {
    const { request } = intent;
    const [min, max] = delayMs;
    await sleep(min + Math.floor(random() * (max - min + 1)), signal);
    const decline = DECLINES[request.paymentMethod] ?? (succeeds(request.paymentMethod) ? undefined : DECLINES.pm_card_chargeDeclined);
    const response = { id: intent.id, amount: request.amountMinor.toString(), currency: request.currency.toLowerCase(), created: Math.floor(Date.now() / 1000) };
    if (decline) {
      const refusal = { ...response, status: 'failed', code: decline.code };
      intent.settled = { status: 'declined', transactionId: intent.id, code: decline.code, reason: decline.reason, response: refusal };
      throw new PermanentGatewayError(decline.code, decline.reason, refusal);
    }
    const ok: ChargeSucceeded = { status: 'succeeded', transactionId: intent.id, response: { ...response, status: 'succeeded' } };
    intent.settled = ok;
    return ok;
  }

  async function prepare(request: ChargeRequest): Promise<ChargeHandle> {
    const fingerprint = [request.orderId, request.amountMinor, request.currency, request.paymentMethod].join('|');
    const seen = byKey.get(request.idempotencyKey);
    if (seen && seen.fingerprint !== fingerprint) {
      throw new PermanentGatewayError('invalid_request', 'the same idempotency key was used with other parameters');
    }
    const intent = seen ?? { id: `mock_txn_${randomUUID()}`, request, fingerprint, canceled: false };
    byKey.set(request.idempotencyKey, intent);
    byId.set(intent.id, intent);
    return { orderId: request.orderId, paymentId: request.paymentId, intentId: intent.id };
  }

  function find(intentId: string): Intent {
    const intent = byId.get(intentId);
    if (!intent) throw new PermanentGatewayError('invalid_request', `no such charge: ${intentId}`);
    return intent;
  }

  async function charge(handle: ChargeHandle, signal?: AbortSignal): Promise<ChargeSucceeded> {
    if (signal?.aborted) throw new TransientGatewayError('gateway_unavailable', 'the call was cancelled before it was sent', 'not_sent');
    const intent = find(handle.intentId);
    if (intent.canceled) throw new PermanentGatewayError('processing_error', `charge ${intent.id} was cancelled`);
    if (intent.result) return intent.result;
    // Stored before it settles, so a concurrent repeat waits for this one instead of charging again.
    intent.result = attempt(intent, signal).catch((error: unknown) => {
      if (error instanceof PermanentGatewayError) throw error;
      intent.result = undefined; // cancelled during its delay: it charged nothing, the next confirm runs
      throw new TransientGatewayError('gateway_unavailable', 'the call was cancelled before it charged', 'not_sent', { cause: error });
    });
    return intent.result;
  }

  function stateOf(intent: Intent): ChargeLookup {
    if (intent.canceled) return { status: 'canceled', transactionId: intent.id };
    if (intent.settled) return intent.settled;
    if (intent.result) return { status: 'pending', transactionId: intent.id };
    return { status: 'not_charged', transactionId: intent.id };
  }

  async function lookup(request: { orderId: string; intentId?: string }): Promise<ChargeLookup> {
    if (request.intentId) return stateOf(find(request.intentId));
    const mine = [...byId.values()].filter((i) => i.request.orderId === request.orderId).map(stateOf);
    return mine.find((s) => s.status === 'succeeded') ?? mine.find((s) => s.status === 'pending') ?? mine.find((s) => s.status === 'declined') ?? { status: 'not_found' };
  }

  async function voidCharge(handle: ChargeHandle): Promise<ChargeLookup> {
    const intent = find(handle.intentId);
    const state = stateOf(intent);
    if (state.status === 'succeeded' || state.status === 'pending') return state;
    intent.canceled = true;
    return { status: 'canceled', transactionId: intent.id };
  }

  const refunds = createMockRefunds((intentId) => {
    const { request, settled } = find(intentId);
    return settled?.status === 'succeeded' ? { amountMinor: request.amountMinor, currency: request.currency } : undefined;
  }, refundOptions);

  return {
    name: 'mock',
    prepare,
    charge,
    lookup,
    void: voidCharge,
    refund: async (request, signal) => refunds.refund(request, signal),
    lookupRefund: async (request, signal) => refunds.lookupRefund(request, signal),
    settleRefund: refunds.settleRefund,
  };
}
