import { SpanKind } from '@opentelemetry/api';
import { PermanentGatewayError, TransientGatewayError } from '../gateway/gateway.errors.js';
import type { ChargeHandle, ChargeLookup, ChargeRequest, PaymentGateway } from '../gateway/gateway.port.js';
import { ATTR, inSpan } from '../observability/tracing.js';
import type { Payment } from '../persistence/payments.repository.js';

/**
 * What one charge attempt established, in the machine's terms.
 * `retry`: not charged as far as anyone knows; try again later with the same handle.
 * `unsettled`: we could not find out whether it charged — never fail on that.
 */
export type ChargeOutcome =
  | { kind: 'succeeded'; transactionId: string; gateway: string; response: Record<string, unknown> }
  | { kind: 'declined'; code: string; reason: string; gateway: string; response: Record<string, unknown> }
  /** `notSent`: the call certainly never reached the gateway (refused, rate-limited): it says nothing about this payment. */
  | { kind: 'retry'; code: string; reason: string; gateway: string; notSent?: boolean }
  | { kind: 'unsettled'; code: string; reason: string; gateway: string };

/** Certainly no charge at this gateway, now or later: its handle is cancelled (or none was ever confirmed). */
export const CLEARED = { kind: 'cleared' } as const;
export type Settlement = ChargeOutcome | typeof CLEARED;

export interface GatewayCall {
  gateway: string;
  operation: 'prepare' | 'charge' | 'lookup' | 'void';
  outcome: string;
  durationMs: number;
  code?: string;
}

/** Commits the handle of the charge prepared at `gateway` before it is confirmed. */
export type PersistRoute = (payment: Payment, gateway: string, intentId: string, cleared: string[]) => Promise<Payment>;

export function chargeRequestOf(payment: Payment): ChargeRequest {
  return {
    orderId: payment.orderId,
    paymentId: payment.id,
    amountMinor: payment.amountMinor,
    currency: payment.currency,
    paymentMethod: payment.paymentMethod ?? '',
    ...(payment.customerId ? { customerId: payment.customerId } : {}),
    // Derived from the durable payment: a prepare repeated before its handle was committed gets the same handle.
    idempotencyKey: `${payment.id}-intent-${payment.snapshot.context.intentSeq}`,
  };
}

/** The handle committed for `gateway`, if a charge was prepared there. */
export function handleOf(payment: Payment, gateway: string): ChargeHandle | undefined {
  const intentId = payment.snapshot.context.intents?.[gateway];
  return intentId ? { orderId: payment.orderId, paymentId: payment.id, intentId } : undefined;
}

/** What a read or a cancel of the charge means for the payment. */
function fromLookup(found: ChargeLookup, gateway: string): Settlement {
  switch (found.status) {
    case 'succeeded':
      return { kind: 'succeeded', transactionId: found.transactionId, gateway, response: found.response };
    case 'declined':
      return { kind: 'declined', code: found.code, reason: found.reason, gateway, response: found.response };
    case 'canceled':
      return CLEARED;
    case 'not_charged':
      // Not confirmed yet, but a confirm still in flight could land: confirm the same handle again, never move on.
      return { kind: 'retry', code: 'not_confirmed', reason: `charge ${found.transactionId} is not confirmed`, gateway };
    case 'pending':
      return { kind: 'unsettled', code: 'gateway_pending', reason: `charge ${found.transactionId} is still pending`, gateway };
    case 'not_found':
      return { kind: 'unsettled', code: 'not_found_by_search', reason: 'search found no charge, and search lags writes: not proof of absence', gateway };
  }
}

/**
 * One gateway call in a CLIENT span (a no-op when tracing is off), recorded
 * in `calls` for the history and the metrics. Order and payment ids only:
 * never the payment method or the customer.
 */
async function call<T>(
  operation: GatewayCall['operation'],
  gateway: PaymentGateway,
  payment: Payment,
  calls: GatewayCall[],
  work: () => Promise<T>,
  outcomeOf: (result: T) => string,
): Promise<T> {
  const attributes = { [ATTR.gateway]: gateway.name, [ATTR.operation]: operation, [ATTR.orderId]: payment.orderId, [ATTR.paymentId]: payment.id };
  return inSpan(`gateway ${operation}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    const started = Date.now();
    const record = (outcome: string, code?: string) => {
      calls.push({ gateway: gateway.name, operation, outcome, durationMs: Date.now() - started, ...(code ? { code } : {}) });
      span.setAttributes({ [ATTR.outcome]: outcome, ...(code ? { [ATTR.code]: code } : {}) });
    };
    try {
      const result = await work();
      record(outcomeOf(result));
      return result;
    } catch (err) {
      if (err instanceof PermanentGatewayError) record('declined', err.code);
      else if (err instanceof TransientGatewayError) record(err.outcome === 'unknown' ? 'unknown' : 'not_sent', err.code);
      else record('error', 'gateway_error');
      throw err;
    }
  });
}

const transientCode = (err: unknown) => (err instanceof TransientGatewayError ? err.code : 'gateway_error');

/**
 * Settles what `gateway` holds for this payment by reading its handle (or,
 * for a legacy payment without one, by search). A read that fails is
 * `unsettled`, never "not charged".
 */
export async function lookUp(gateway: PaymentGateway, payment: Payment, calls: GatewayCall[]): Promise<Settlement> {
  const handle = handleOf(payment, gateway.name);
  try {
    const found = await call('lookup', gateway, payment, calls, () => gateway.lookup({ orderId: payment.orderId, paymentId: payment.id, intentId: handle?.intentId }), (f) => f.status);
    return fromLookup(found, gateway.name);
  } catch (err) {
    return { kind: 'unsettled', code: transientCode(err), reason: `look-up failed: ${(err as Error).message}`, gateway: gateway.name };
  }
}

/**
 * Proof that `gateway` will never charge this payment, or what it did: the
 * handle is cancelled, and a cancel that loses the race to a confirm answers
 * the charge. Only a cancelled handle clears a gateway.
 */
export async function voidCharge(gateway: PaymentGateway, payment: Payment, calls: GatewayCall[]): Promise<Settlement> {
  const handle = handleOf(payment, gateway.name);
  if (!handle) return lookUp(gateway, payment, calls); // legacy: search is all there is, and it never clears
  try {
    const found = await call('void', gateway, payment, calls, () => gateway.void(handle), (f) => f.status);
    const settled = fromLookup(found, gateway.name);
    return settled.kind === 'retry' ? { ...settled, kind: 'unsettled' } : settled;
  } catch (err) {
    return { kind: 'unsettled', code: transientCode(err), reason: `cancel failed: ${(err as Error).message}`, gateway: gateway.name };
  }
}

/**
 * Prepares the charge at `gateway` unless a handle is committed already, and
 * commits the new handle before anything can charge. Undefined on success;
 * otherwise the outcome (nothing was charged either way).
 */
export async function ensureHandle(
  gateway: PaymentGateway,
  payment: Payment,
  calls: GatewayCall[],
  persistRoute: PersistRoute,
  cleared: string[],
): Promise<{ payment: Payment } | { outcome: ChargeOutcome }> {
  if (handleOf(payment, gateway.name)) return { payment };
  try {
    const handle = await call('prepare', gateway, payment, calls, () => gateway.prepare(chargeRequestOf(payment)), () => 'prepared');
    return { payment: await persistRoute(payment, gateway.name, handle.intentId, cleared) };
  } catch (err) {
    if (err instanceof PermanentGatewayError) {
      return { outcome: { kind: 'declined', code: err.code, reason: err.message, gateway: gateway.name, response: err.response } };
    }
    if (!(err instanceof TransientGatewayError)) throw err;
    return { outcome: { kind: 'retry', code: err.code, reason: err.message, gateway: gateway.name, notSent: err.outcome === 'not_sent' } };
  }
}

/**
 * Confirms the committed handle. An unknown outcome (timeout, lost response,
 * 5xx) is settled by reading the handle before anything else: charged means
 * Success, whatever the error said.
 */
export async function confirmCharge(gateway: PaymentGateway, payment: Payment, calls: GatewayCall[]): Promise<ChargeOutcome> {
  const handle = handleOf(payment, gateway.name)!;
  try {
    const ok = await call('charge', gateway, payment, calls, () => gateway.charge(handle), () => 'succeeded');
    return { kind: 'succeeded', transactionId: ok.transactionId, gateway: gateway.name, response: ok.response };
  } catch (err) {
    if (err instanceof PermanentGatewayError) return { kind: 'declined', code: err.code, reason: err.message, gateway: gateway.name, response: err.response };
    if (!(err instanceof TransientGatewayError)) throw err;
    const retry: ChargeOutcome = { kind: 'retry', code: err.code, reason: err.message, gateway: gateway.name };
    if (err.outcome !== 'unknown') return { ...retry, notSent: err.outcome === 'not_sent' };
    const settled = await lookUp(gateway, payment, calls);
    // Cancelled by someone else is not ours to retry: nothing charged, ask again later.
    return settled.kind === 'cleared' || settled.kind === 'retry' ? retry : settled;
  }
}
