import Stripe from 'stripe';
import { classifyGatewayError, classifyRefundError, declineCodeOf } from './error-classification.js';
import { PermanentGatewayError, TransientGatewayError } from './gateway.errors.js';
import type { ChargeHandle, ChargeLookup, ChargeRequest, ChargeSucceeded, GatewayLedger, PaymentGateway, RefundLookupRequest } from './gateway.port.js';
import { refundFor, refundOutcome, refundParams } from './stripe-refunds.js';

/**
 * The PaymentGateway on the official `stripe` package, for Stripe itself or
 * the local simulator (same API subset). The SDK never retries
 * (`maxNetworkRetries: 0`): retries belong to BullMQ's job attempts, which
 * reuse the same idempotency key, so a retried charge charges once.
 */
export interface StripeGatewayOptions {
  /** Never logged nor stored: it only goes to the SDK. */
  apiKey: string;
  /** `https://api.stripe.com` or the simulator, e.g. `http://127.0.0.1:12111`. */
  url: string;
  /** Bounds every call; past it the outcome is unknown. */
  timeoutMs: number;
  name?: string;
}

export function createStripeGateway({ apiKey, url, timeoutMs, name = 'stripe' }: StripeGatewayOptions): PaymentGateway {
  const stripe = new Stripe(apiKey, {
    ...connectionOf(url),
    timeout: timeoutMs,
    maxNetworkRetries: 0,
    telemetry: false,
  });

  const retrieve = async (intentId: string, signal?: AbortSignal) =>
    intentOutcome(await bounded(() => stripe.paymentIntents.retrieve(intentId), timeoutMs, signal));

  return {
    name,
    async prepare(request, signal) {
      const intent = await bounded(
        () => stripe.paymentIntents.create(createParams(request), { idempotencyKey: request.idempotencyKey }),
        timeoutMs,
        signal,
      );
      return { orderId: request.orderId, paymentId: request.paymentId, intentId: intent.id };
    },
    async charge(handle, signal) {
      return settleCharge(await act('confirm', handle, signal));
    },
    async lookup(request, signal) {
      try {
        if (request.intentId) return await retrieve(request.intentId, signal);
        return await searchByOrder(request.orderId, signal);
      } catch (error) {
        throw cannotTell(error);
      }
    },
    async void(handle, signal) {
      try {
        return intentOutcome(await act('cancel', handle, signal));
      } catch (error) {
        throw cannotTell(error);
      }
    },
    async refund(request, signal) {
      const create = () => stripe.refunds.create(refundParams(request), { idempotencyKey: request.idempotencyKey });
      return refundOutcome(await bounded(create, timeoutMs, signal, classifyRefundError));
    },
    async lookupRefund(request, signal) {
      try {
        const { gatewayRefundId } = request;
        if (gatewayRefundId) return refundOutcome(await bounded(() => stripe.refunds.retrieve(gatewayRefundId), timeoutMs, signal));
        return refundFor(request.refundId, await bounded(() => refundsMadeFor(request), timeoutMs, signal), request.idempotencyKey);
      } catch (error) {
        throw cannotTell(error);
      }
    },
    ledger: ledgerOf(stripe),
  };

  /**
   * The charge's refunds carrying this refund id, from Stripe's list endpoint
   * (every page): it reads the records themselves, unlike search, so a refund
   * that exists is in it.
   */
  async function refundsMadeFor({ intentId, refundId }: RefundLookupRequest): Promise<Stripe.Refund[]> {
    const found: Stripe.Refund[] = [];
    for await (const refund of stripe.refunds.list({ payment_intent: intentId, limit: 100 })) {
      if (refund.metadata?.refundId === refundId) found.push(refund);
    }
    return found;
  }

  /**
   * Confirms or cancels the intent with a key derived from it. When Stripe
   * answers that the intent's status no longer allows that (confirmed or
   * cancelled already, perhaps by a repeat after the key was pruned), the
   * intent itself says what happened.
   */
  async function act(verb: 'confirm' | 'cancel', handle: ChargeHandle, signal?: AbortSignal): Promise<Stripe.PaymentIntent> {
    try {
      const idempotencyKey = `${handle.paymentId}-${verb}-${handle.intentId}`;
      return await bounded(() => stripe.paymentIntents[verb](handle.intentId, {}, { idempotencyKey }), timeoutMs, signal);
    } catch (error) {
      if (!isUnexpectedState(error)) throw error;
      return bounded(() => stripe.paymentIntents.retrieve(handle.intentId), timeoutMs, signal);
    }
  }

  /**
   * Only for payments started before handles were recorded. Stripe's search
   * is eventually consistent (under a minute, up to an hour in outages), so
   * "not found" is never read as "not charged".
   */
  async function searchByOrder(orderId: string, signal?: AbortSignal): Promise<ChargeLookup> {
    const query = `metadata['orderId']:'${orderId.replace(/['\\]/g, '\\$&')}'`;
    const result = await bounded(() => stripe.paymentIntents.search({ query, limit: 100 }), timeoutMs, signal);
    return lookupResult(result.data);
  }
}

/** Stripe's answer to confirming or cancelling an intent whose status no longer allows it. */
function isUnexpectedState(error: unknown): boolean {
  const cause = error instanceof Error && error.cause ? error.cause : error;
  return (cause as { code?: unknown } | null)?.code === 'payment_intent_unexpected_state';
}

/** The `stripe` package's host, port and protocol for a base URL (Stripe's own, or a simulator's). */
export function connectionOf(url: string): { host: string; port: number; protocol: 'http' | 'https' } {
  const parsed = new URL(url);
  const protocol = parsed.protocol === 'http:' ? 'http' : 'https';
  return { host: parsed.hostname, port: parsed.port ? Number(parsed.port) : protocol === 'http' ? 80 : 443, protocol };
}

function createParams(request: ChargeRequest): Stripe.PaymentIntentCreateParams {
  const metadata: Record<string, string> = { orderId: request.orderId, paymentId: request.paymentId };
  if (request.customerId) metadata.customerId = request.customerId;
  return {
    // Stripe's API demands a number: minor units are at most 99,999,999 (money.ts), a safe integer.
    amount: Number(request.amountMinor),
    currency: request.currency.toLowerCase(),
    payment_method: request.paymentMethod,
    // Confirmed separately, once the intent's id is committed: the handle is known before money can move.
    confirm: false,
    // The API version pinned by stripe 23 renamed payment_method_types to allowed_payment_method_types.
    allowed_payment_method_types: ['card'],
    metadata,
  };
}

/** What is safe to store from a payment intent: no client secret, no payment method details. */
function safeResponse(intent: Stripe.PaymentIntent): Record<string, unknown> {
  return {
    id: intent.id,
    status: intent.status,
    amount: String(intent.amount),
    currency: intent.currency,
    created: intent.created,
  };
}

function settleCharge(intent: Stripe.PaymentIntent): ChargeSucceeded {
  const outcome = intentOutcome(intent);
  switch (outcome.status) {
    case 'succeeded':
      return outcome;
    case 'pending':
      throw new TransientGatewayError('gateway_error', `payment intent ${intent.id} is still processing`, 'unknown');
    case 'declined':
      // outcome.code is already one of ours; declineCodeOf gives it back its PermanentCode type.
      throw new PermanentGatewayError(declineCodeOf({ code: outcome.code }), outcome.reason, outcome.response);
    default:
      // A confirmed card intent ends succeeded, processing or refused; anything else is not a charge we asked for.
      throw new PermanentGatewayError('processing_error', `payment intent ${intent.id} ended ${intent.status}`, safeResponse(intent));
  }
}

/** The meaning of one payment intent for this order. */
function intentOutcome(intent: Stripe.PaymentIntent): ChargeLookup {
  const response = safeResponse(intent);
  switch (intent.status) {
    case 'succeeded':
      return { status: 'succeeded', transactionId: intent.id, response };
    case 'processing':
    case 'requires_capture':
      return { status: 'pending', transactionId: intent.id };
    case 'requires_action':
      return declined(intent, 'authentication_required', 'the card requires authentication', response);
    case 'canceled':
      return { status: 'canceled', transactionId: intent.id };
    case 'requires_payment_method': {
      const refusal = intent.last_payment_error;
      if (!refusal) return { status: 'not_charged', transactionId: intent.id };
      return declined(intent, declineCodeOf(refusal), refusal.message ?? 'the card was declined', {
        ...response,
        code: refusal.code,
        decline_code: refusal.decline_code,
      });
    }
    default:
      return { status: 'not_charged', transactionId: intent.id };
  }
}

function declined(intent: Stripe.PaymentIntent, code: string, reason: string, response: Record<string, unknown>): ChargeLookup {
  return { status: 'declined', transactionId: intent.id, code, reason, response };
}

/** One order has at most one charge; should there be several, a success wins, then pending, then a refusal. */
function lookupResult(intents: Stripe.PaymentIntent[]): ChargeLookup {
  const outcomes = intents.map(intentOutcome);
  for (const status of ['succeeded', 'pending', 'declined'] as const) {
    const found = outcomes.find((o) => o.status === status);
    if (found) return found;
  }
  return { status: 'not_found' };
}

/** A look-up that failed cannot tell either way: always transient, so the caller asks again later. */
function cannotTell(error: unknown): TransientGatewayError {
  const typed = classifyGatewayError(error);
  if (typed instanceof TransientGatewayError) return typed;
  return new TransientGatewayError('gateway_error', `look-up refused: ${typed.message}`, 'unknown', { cause: typed });
}

/**
 * Runs one SDK call within the deadline and the caller's signal, and types
 * its errors. The SDK's own timeout only notices a silent socket; this bounds
 * the whole call.
 */
/**
 * The SDK formats the caller's stack trace on every request, before the first
 * await, to decorate its errors; this service never reads it (errors are
 * classified by type and code), and formatting it through source maps cost a
 * tenth of a payment's CPU in the benchmark's profile. The request is built
 * with stack capture off; it is restored before anything else runs.
 */
function withoutCallSiteStack<T>(call: () => Promise<T>): Promise<T> {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return call();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Reconciliation's reading of the books: Stripe's list endpoints walked with
 * the package's auto-pagination (100 a page, Stripe's maximum), so one page is
 * held at a time. Each page request has the client's timeout.
 */
function ledgerOf(stripe: Stripe): GatewayLedger {
  const idOf = (v: string | { id: string } | null | undefined) => (typeof v === 'string' ? v : (v?.id ?? ''));
  return {
    async *charges({ gte, lte }) {
      for await (const intent of stripe.paymentIntents.list({ created: { gte, lte }, limit: 100 })) {
        yield {
          intentId: intent.id,
          orderRef: intent.metadata?.orderId ?? null,
          amountMinor: BigInt(intent.amount),
          currency: intent.currency.toUpperCase(),
          status: intent.status,
          created: intent.created,
        };
      }
    },
    async *refunds({ gte, lte }) {
      for await (const refund of stripe.refunds.list({ created: { gte, lte }, limit: 100 })) {
        yield {
          gatewayRefundId: refund.id,
          intentId: idOf(refund.payment_intent),
          refundRef: refund.metadata?.refundId ?? null,
          amountMinor: BigInt(refund.amount),
          currency: refund.currency.toUpperCase(),
          status: refund.status ?? 'pending',
          created: refund.created,
        };
      }
    },
  };
}

async function bounded<T>(
  call: () => Promise<T>,
  timeoutMs: number,
  signal?: AbortSignal,
  classify: (error: unknown) => TransientGatewayError | PermanentGatewayError = classifyGatewayError,
): Promise<T> {
  if (signal?.aborted) {
    throw new TransientGatewayError('gateway_unavailable', 'the call was cancelled before it was sent', 'not_sent', {
      cause: signal.reason,
    });
  }
  const deadline = AbortSignal.timeout(timeoutMs);
  const stop = signal ? AbortSignal.any([signal, deadline]) : deadline;
  let onAbort = () => {};
  const abandoned = new Promise<never>((_, reject) => {
    onAbort = () =>
      reject(
        deadline.aborted
          ? new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')
          : new DOMException('the caller aborted the call', 'AbortError'),
      );
    stop.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([withoutCallSiteStack(call), abandoned]);
  } catch (error) {
    throw classify(error);
  } finally {
    stop.removeEventListener('abort', onAbort);
  }
}
