import type { PaymentGateway } from '../gateway/gateway.port.js';
import type { Payment } from '../persistence/payments.repository.js';
import type { SharedCircuitBreaker } from '../resilience/shared-circuit-breaker.js';
import { confirmCharge, ensureHandle, handleOf, lookUp, voidCharge, type ChargeOutcome, type GatewayCall, type PersistRoute } from './charge-outcome.js';

/** A gateway in failover order, with the breaker shared by every worker process. */
export interface RoutedGateway {
  gateway: PaymentGateway;
  breaker?: Pick<SharedCircuitBreaker, 'acquire' | 'recordFailure' | 'recordSuccess' | 'openMs'>;
}

export type RouteResult =
  | { kind: 'outcome'; outcome: ChargeOutcome; cleared: string[]; payment: Payment }
  /** Every breaker is open: nothing was sent; wait this long before asking again. */
  | { kind: 'all_open'; retryInMs: number; cleared: string[]; payment: Payment };

/**
 * The gateways that may hold a charge for this payment: each one with a
 * committed handle not yet cleared, and, for a payment started before handles
 * were recorded, the primary (or whatever that version recorded).
 */
export function mayHoldCharge(payment: Payment, primary: string): (name: string) => boolean {
  const { gateways = {}, intents = {}, legacyCharge } = payment.snapshot.context;
  return (name) => {
    if (intents[name]) return true;
    const recorded = gateways[name] ?? (legacyCharge && name === primary ? 'maybe_charged' : 'not_charged');
    return recorded === 'maybe_charged';
  };
}

/**
 * Makes every gateway other than `target` that may hold a charge certain not
 * to, by cancelling its handle. Returns an outcome when one did charge (or
 * decline), or could not be settled: then the payment must not move on.
 */
async function settleOthers(gateways: RoutedGateway[], target: string, payment: Payment, calls: GatewayCall[], cleared: Set<string>) {
  const maybe = mayHoldCharge(payment, gateways[0]!.gateway.name);
  for (const { gateway } of gateways) {
    if (gateway.name === target || cleared.has(gateway.name) || !maybe(gateway.name)) continue;
    const settled = await voidCharge(gateway, payment, calls);
    if (settled.kind === 'cleared') cleared.add(gateway.name);
    else return settled;
  }
  return undefined;
}

/**
 * One charge attempt across the gateways in order. A payment moves to the next
 * gateway only when every other one certainly cannot charge (its handle
 * cancelled, or none prepared there), never on an unknown outcome.
 */
export async function chargeViaGateways(gateways: RoutedGateway[], start: Payment, calls: GatewayCall[], persistRoute: PersistRoute): Promise<RouteResult> {
  let payment = start;
  const cleared = new Set<string>();
  let lastRetry: ChargeOutcome | undefined;
  let retryInMs = Number.POSITIVE_INFINITY;
  const result = (outcome: ChargeOutcome): RouteResult => ({ kind: 'outcome', outcome, cleared: [...cleared], payment });

  for (const { gateway, breaker } of gateways) {
    const permit = breaker ? await breaker.acquire() : { allowed: true as const, probe: false };
    if (!permit.allowed) {
      retryInMs = Math.min(retryInMs, permit.retryInMs);
      continue;
    }
    const elsewhere = await settleOthers(gateways, gateway.name, payment, calls, cleared);
    if (elsewhere) return result(elsewhere);
    if (!handleOf(payment, gateway.name) && mayHoldCharge(payment, gateways[0]!.gateway.name)(gateway.name)) {
      // Charged here before handles were recorded (legacyCharge): only search can tell, and a miss proves nothing.
      const found = await lookUp(gateway, payment, calls);
      return result(found.kind === 'succeeded' || found.kind === 'declined' || found.kind === 'unsettled' ? found : { kind: 'unsettled', code: 'legacy_charge', reason: 'a legacy charge could not be found', gateway: gateway.name });
    }
    const prepared = await ensureHandle(gateway, payment, calls, persistRoute, [...cleared]);
    const outcome = 'outcome' in prepared ? prepared.outcome : await confirmCharge(gateway, (payment = prepared.payment), calls);
    if (outcome.kind === 'succeeded' || outcome.kind === 'declined') {
      await breaker?.recordSuccess();
      return result(outcome);
    }
    const outage = (await breaker?.recordFailure()) ?? false;
    if (outcome.kind === 'unsettled') return result(outcome);
    if ((outage && !permit.probe) || (permit.probe && outcome.kind === 'retry' && outcome.notSent)) {
      // This failure opened the breaker, or a probe was refused before it reached the gateway:
      // either says the gateway is down, nothing about this payment, so it must not spend the
      // payment's attempt. A probe whose call may have reached the gateway (a timeout) does
      // spend it: otherwise a payment whose own calls always hang would keep the breaker
      // open and wait for an answer for ever.
      retryInMs = Math.min(retryInMs, breaker!.openMs);
      continue;
    }
    lastRetry = outcome;
  }
  if (lastRetry) return result(lastRetry);
  return { kind: 'all_open', retryInMs: Number.isFinite(retryInMs) ? retryInMs : 1000, cleared: [...cleared], payment };
}

/**
 * Before giving up: cancel every handle that may still charge. Undefined when
 * none can ever charge; an outcome when one charged, declined, or cannot tell.
 */
export async function settleBeforeGivingUp(gateways: RoutedGateway[], payment: Payment, calls: GatewayCall[]): Promise<ChargeOutcome | undefined> {
  const maybe = mayHoldCharge(payment, gateways[0]!.gateway.name);
  for (const { gateway } of gateways) {
    if (!maybe(gateway.name)) continue;
    const settled = await voidCharge(gateway, payment, calls);
    if (settled.kind !== 'cleared') return settled.kind === 'retry' ? { ...settled, kind: 'unsettled' } : settled;
  }
  return undefined;
}
