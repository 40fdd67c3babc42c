import type { PaymentGateway } from '../gateway/gateway.port.js';
import type { Payment } from '../persistence/payments.repository.js';
import type { SharedCircuitBreaker } from '../resilience/shared-circuit-breaker.js';
import { attemptCharge, chargeRequestOf, lookUp, type ChargeOutcome, type GatewayCall } from './charge-outcome.js';

/** A gateway in failover order, with the breaker shared by every worker process. */
export interface RoutedGateway {
  gateway: PaymentGateway;
  breaker?: Pick<SharedCircuitBreaker, 'acquire' | 'recordFailure' | 'recordSuccess' | 'openMs'>;
}

export type RouteResult =
  | { kind: 'outcome'; outcome: ChargeOutcome; cleared: string[]; payment: Payment }
  /** Every breaker is open: nothing was sent; wait this long before asking again. */
  | { kind: 'all_open'; retryInMs: number; cleared: string[]; payment: Payment };

/** Records, before the side effect, that a charge is about to be sent to `gateway`. */
export type PersistRoute = (payment: Payment, gateway: string, cleared: string[]) => Promise<Payment>;

function knowledgeOf(payment: Payment, primary: string) {
  const recorded = payment.snapshot.context.gateways ?? {};
  // The primary is the default route: a missing entry means a charge may have gone there.
  return (name: string) => recorded[name] ?? (name === primary ? 'maybe_charged' : 'not_charged');
}

/**
 * Settles every gateway other than `target` that may hold a charge, by asking
 * it. Returns an outcome when one did charge (or decline), or when one could
 * not be asked: then the payment must not move to `target`.
 */
async function settleOthers(gateways: RoutedGateway[], target: string, maybe: (n: string) => boolean, payment: Payment, calls: GatewayCall[], cleared: Set<string>) {
  for (const { gateway } of gateways) {
    if (gateway.name === target || cleared.has(gateway.name) || !maybe(gateway.name)) continue;
    const settled = await lookUp(gateway, chargeRequestOf(payment), calls);
    if (settled === undefined) cleared.add(gateway.name);
    else return settled;
  }
  return undefined;
}

/**
 * One charge attempt across the gateways in order. A payment moves to the next
 * gateway only when the current one certainly did not charge (breaker open,
 * refused before sending, or an unknown outcome a look-up settled as "not
 * charged"), never on an unknown outcome nobody settled.
 */
export async function chargeViaGateways(
  gateways: RoutedGateway[],
  start: Payment,
  calls: GatewayCall[],
  persistRoute: PersistRoute,
  /** The payment was started by this very attempt: nothing was ever sent to any gateway. */
  freshStart = false,
): Promise<RouteResult> {
  let payment = start;
  const persisted = knowledgeOf(payment, gateways[0]!.gateway.name);
  const cleared = new Set<string>(freshStart ? gateways.map((g) => g.gateway.name) : []);
  const maybe = (name: string) => persisted(name) === 'maybe_charged' && !cleared.has(name);
  let lastRetry: ChargeOutcome | undefined;
  let retryInMs = Number.POSITIVE_INFINITY;
  const result = (outcome: ChargeOutcome): RouteResult => ({ kind: 'outcome', outcome, cleared: [...cleared], payment });

  for (const { gateway, breaker } of gateways) {
    const permit = breaker ? await breaker.acquire() : { allowed: true as const };
    if (!permit.allowed) {
      retryInMs = Math.min(retryInMs, permit.retryInMs);
      continue;
    }
    const elsewhere = await settleOthers(gateways, gateway.name, maybe, payment, calls, cleared);
    if (elsewhere) return result(elsewhere);
    // Write the intent before the side effect, unless what is stored already says "maybe charged here".
    if (persisted(gateway.name) !== 'maybe_charged') payment = await persistRoute(payment, gateway.name, [...cleared].filter((n) => n !== gateway.name));
    cleared.delete(gateway.name);

    const outcome = await attemptCharge(gateway, payment, calls);
    if (outcome.kind === 'succeeded' || outcome.kind === 'declined') {
      await breaker?.recordSuccess();
      return result(outcome);
    }
    const outage = (await breaker?.recordFailure()) ?? false;
    if (outcome.kind === 'unsettled') return result(outcome);
    cleared.add(gateway.name);
    if (outage) {
      // This failure opened the breaker (or was a failed probe): it says the gateway is down,
      // nothing about this payment, so it must not spend the payment's attempt.
      retryInMs = Math.min(retryInMs, breaker!.openMs);
      continue;
    }
    lastRetry = outcome;
  }
  if (lastRetry) return result(lastRetry);
  return { kind: 'all_open', retryInMs: Number.isFinite(retryInMs) ? retryInMs : 1000, cleared: [...cleared], payment };
}

/**
 * Before giving up: ask every gateway that may still hold a charge. Undefined
 * when none has one; an outcome when one charged, declined, or cannot tell.
 */
export async function finalLookUp(gateways: RoutedGateway[], payment: Payment, cleared: string[], calls: GatewayCall[]): Promise<ChargeOutcome | undefined> {
  const known = knowledgeOf(payment, gateways[0]!.gateway.name);
  for (const { gateway } of gateways) {
    if (cleared.includes(gateway.name) || known(gateway.name) !== 'maybe_charged') continue;
    const settled = await lookUp(gateway, chargeRequestOf(payment), calls);
    if (settled) return settled;
  }
  return undefined;
}
