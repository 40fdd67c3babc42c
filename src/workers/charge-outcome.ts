import { SpanKind } from '@opentelemetry/api';
import { PermanentGatewayError, TransientGatewayError } from '../gateway/gateway.errors.js';
import type { ChargeLookup, ChargeRequest, PaymentGateway } from '../gateway/gateway.port.js';
import { ATTR, inSpan } from '../observability/tracing.js';
import type { Payment } from '../persistence/payments.repository.js';

/**
 * What one charge attempt established, in the machine's terms.
 * `retry`: certainly not charged (or not known to be), try again later with the same key.
 * `unsettled`: we could not find out whether it charged — never fail on that.
 */
export type ChargeOutcome =
  | { kind: 'succeeded'; transactionId: string; gateway: string; response: Record<string, unknown> }
  | { kind: 'declined'; code: string; reason: string; gateway: string; response: Record<string, unknown> }
  | { kind: 'retry'; code: string; reason: string; gateway: string; lookedUp: boolean }
  | { kind: 'unsettled'; code: string; reason: string; gateway: string };

export interface GatewayCall {
  gateway: string;
  operation: 'charge' | 'lookup';
  outcome: string;
  durationMs: number;
  code?: string;
}

export function chargeRequestOf(payment: Payment): ChargeRequest {
  return {
    orderId: payment.orderId,
    paymentId: payment.id,
    amountMinor: payment.amountMinor,
    currency: payment.currency,
    paymentMethod: payment.paymentMethod ?? '',
    ...(payment.customerId ? { customerId: payment.customerId } : {}),
    // Derived from the durable payment id: every attempt, every worker, the same key.
    idempotencyKey: `${payment.id}-charge`,
  };
}

function fromLookup(found: ChargeLookup, gateway: string): ChargeOutcome | undefined {
  switch (found.status) {
    case 'succeeded':
      return { kind: 'succeeded', transactionId: found.transactionId, gateway, response: found.response };
    case 'declined':
      return { kind: 'declined', code: found.code, reason: found.reason, gateway, response: found.response };
    case 'not_found':
      return undefined;
    case 'pending':
      return { kind: 'unsettled', code: 'gateway_pending', reason: `charge ${found.transactionId} is still pending`, gateway };
  }
}

/**
 * One gateway call in a CLIENT span (a no-op when tracing is off). Its outcome
 * is the GatewayCall record the call pushed, the same one the metrics use.
 * Order and payment ids only: never the payment method or the customer.
 */
function traced<T>(operation: GatewayCall['operation'], gateway: string, request: ChargeRequest, calls: GatewayCall[], work: () => Promise<T>): Promise<T> {
  const attributes = { [ATTR.gateway]: gateway, [ATTR.operation]: operation, [ATTR.orderId]: request.orderId, [ATTR.paymentId]: request.paymentId };
  return inSpan(`gateway ${operation}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    const before = calls.length;
    try {
      return await work();
    } finally {
      const call = calls.length > before ? calls[calls.length - 1] : undefined;
      if (call) span.setAttributes({ [ATTR.outcome]: call.outcome, ...(call.code ? { [ATTR.code]: call.code } : {}) });
    }
  });
}

/**
 * Asks the gateway whether it charged. `undefined` means it certainly has no
 * charge for this key; a look-up that fails is `unsettled`, never "not charged".
 */
export function lookUp(
  gateway: PaymentGateway,
  request: ChargeRequest,
  calls: GatewayCall[],
): Promise<ChargeOutcome | undefined> {
  return traced('lookup', gateway.name, request, calls, async () => {
    const started = Date.now();
    try {
      const found = await gateway.lookup(request);
      calls.push({ gateway: gateway.name, operation: 'lookup', outcome: found.status, durationMs: Date.now() - started });
      return fromLookup(found, gateway.name);
    } catch (err) {
      const code = err instanceof TransientGatewayError ? err.code : 'gateway_error';
      calls.push({ gateway: gateway.name, operation: 'lookup', outcome: 'error', code, durationMs: Date.now() - started });
      return { kind: 'unsettled', code, reason: `look-up failed: ${(err as Error).message}`, gateway: gateway.name };
    }
  });
}

/** The charge request's own outcome; `unknown` when it may have charged and nobody has asked yet. */
type ChargeSent = ChargeOutcome | { kind: 'unknown'; error: TransientGatewayError };

async function chargeOnce(gateway: PaymentGateway, request: ChargeRequest, calls: GatewayCall[]): Promise<ChargeSent> {
  const started = Date.now();
  try {
    const ok = await gateway.charge(request);
    calls.push({ gateway: gateway.name, operation: 'charge', outcome: 'succeeded', durationMs: Date.now() - started });
    return { kind: 'succeeded', transactionId: ok.transactionId, gateway: gateway.name, response: ok.response };
  } catch (err) {
    const durationMs = Date.now() - started;
    if (err instanceof PermanentGatewayError) {
      calls.push({ gateway: gateway.name, operation: 'charge', outcome: 'declined', code: err.code, durationMs });
      return { kind: 'declined', code: err.code, reason: err.message, gateway: gateway.name, response: err.response };
    }
    if (!(err instanceof TransientGatewayError)) throw err;
    calls.push({ gateway: gateway.name, operation: 'charge', outcome: err.outcome === 'unknown' ? 'unknown' : 'not_sent', code: err.code, durationMs });
    if (err.outcome === 'unknown') return { kind: 'unknown', error: err };
    return { kind: 'retry', code: err.code, reason: err.message, gateway: gateway.name, lookedUp: false };
  }
}

/**
 * One charge attempt with the payment's idempotency key. An unknown outcome
 * (timeout, lost response, 5xx) is resolved by asking the gateway before
 * anything else: charged means Success, whatever the error said.
 */
export async function attemptCharge(gateway: PaymentGateway, payment: Payment, calls: GatewayCall[]): Promise<ChargeOutcome> {
  const request = chargeRequestOf(payment);
  const sent = await traced('charge', gateway.name, request, calls, () => chargeOnce(gateway, request, calls));
  if (sent.kind !== 'unknown') return sent;
  const settled = await lookUp(gateway, request, calls);
  if (settled) return settled;
  return { kind: 'retry', code: sent.error.code, reason: sent.error.message, gateway: gateway.name, lookedUp: true };
}
