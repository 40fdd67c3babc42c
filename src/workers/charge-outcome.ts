import { PermanentGatewayError, TransientGatewayError } from '../gateway/gateway.errors.js';
import type { ChargeLookup, ChargeRequest, PaymentGateway } from '../gateway/gateway.port.js';
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
 * Asks the gateway whether it charged. `undefined` means it certainly has no
 * charge for this key; a look-up that fails is `unsettled`, never "not charged".
 */
export async function lookUp(
  gateway: PaymentGateway,
  request: ChargeRequest,
  calls: GatewayCall[],
): Promise<ChargeOutcome | undefined> {
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
}

/**
 * One charge attempt with the payment's idempotency key. An unknown outcome
 * (timeout, lost response, 5xx) is resolved by asking the gateway before
 * anything else: charged means Success, whatever the error said.
 */
export async function attemptCharge(gateway: PaymentGateway, payment: Payment, calls: GatewayCall[]): Promise<ChargeOutcome> {
  const request = chargeRequestOf(payment);
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
    if (err.outcome === 'unknown') {
      const settled = await lookUp(gateway, request, calls);
      if (settled) return settled;
      return { kind: 'retry', code: err.code, reason: err.message, gateway: gateway.name, lookedUp: true };
    }
    return { kind: 'retry', code: err.code, reason: err.message, gateway: gateway.name, lookedUp: false };
  }
}
