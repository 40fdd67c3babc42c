import { PermanentGatewayError, TransientGatewayError } from '../../../src/gateway/gateway.errors.js';
import type { ChargeHandle, ChargeLookup, ChargeRequest, ChargeSucceeded, PaymentGateway } from '../../../src/gateway/gateway.port.js';
import { createChanges } from './changes.js';
import { createScriptedRefunds, type RefundScriptStep } from './scripted-refunds.js';

/**
 * What the next confirm does:
 * `ok` charges; `decline` / `insufficient` refuse for good;
 * `down`: transient, certainly not sent (connection refused);
 * `timeout`: transient, outcome unknown, and it did not charge;
 * `lost`: transient, outcome unknown, and it DID charge (the response was lost);
 * `late`: as `timeout`, but the confirm was still in flight: it lands right after the next read of its handle;
 * `hang`: no answer until the test calls `release(step)`.
 */
export type ChargeStep = 'ok' | 'decline' | 'insufficient' | 'down' | 'timeout' | 'lost' | 'late' | 'hang';

export interface ScriptedGatewayOptions {
  name?: string;
  /** Reads by handle and searches throw (the gateway cannot tell). */
  lookupFails?: boolean;
  /** Cancels throw. */
  voidFails?: boolean;
  /** What search by order id (legacy payments, no handle) answers. */
  searchFinds?: ChargeLookup;
  /** What each refund that is not a repeat of a key does, in order (then `succeeded`). */
  refunds?: RefundScriptStep[];
  /** Refund look-ups throw (the gateway cannot tell). */
  refundLookupFails?: boolean;
  /** Receives `<name>.<operation>` for every call, shared across fakes to check order. */
  journal?: string[];
}

/** The charge operations of the port: all the charge processor calls. The port may grow without this fake. */
export type ChargePort = Pick<PaymentGateway, 'name' | 'prepare' | 'charge' | 'lookup' | 'void'>;

/** The processor takes `PaymentGateway`; the real port is assignable to ChargePort, so this assertion is checked. */
export const asPaymentGateway = (gateway: ChargePort): PaymentGateway => gateway as PaymentGateway;

/**
 * A gateway that keeps prepared charges by idempotency key and charged ones by
 * handle, as Stripe's PaymentIntents do: one handle charges at most once, a
 * repeated confirm answers the first result, a cancelled handle never charges.
 * Each confirm that is not a repeat takes the next scripted step (then `ok`).
 */
export function createScriptedGateway(steps: ChargeStep[] = [], o: ScriptedGatewayOptions = {}) {
  const name = o.name ?? 'scripted';
  const script = [...steps];
  const prepared = new Map<string, string>();
  const amounts = new Map<string, { amountMinor: bigint; currency: string }>();
  const charged = new Map<string, ChargeSucceeded>();
  const canceled = new Set<string>();
  const landing = new Set<string>();
  /** Confirms in flight on a `hang` step, by handle: every confirm of that handle waits for the same answer. */
  const hung = new Map<string, { answer: Promise<ChargeSucceeded>; release: (step: ChargeStep) => void }>();
  const calls = { prepare: [] as ChargeRequest[], charge: [] as ChargeHandle[], lookup: [] as Array<string | undefined>, void: [] as string[] };
  const changes = createChanges();
  let nextId = 0;
  const log = (operation: string) => {
    o.journal?.push(`${name}.${operation}`);
    changes.notify();
  };

  const refunds = createScriptedRefunds(o.refunds ?? [], {
    name,
    chargedOf: (intentId) => (charged.has(intentId) ? amounts.get(intentId) : undefined),
    ...(o.refundLookupFails ? { lookupFails: true } : {}),
    log,
  });

  const stateOf = (intentId: string): ChargeLookup =>
    charged.get(intentId) ?? (canceled.has(intentId) ? { status: 'canceled', transactionId: intentId } : { status: 'not_charged', transactionId: intentId });

  const succeed = (intentId: string): ChargeSucceeded => {
    const ok: ChargeSucceeded = { status: 'succeeded', transactionId: intentId, response: { id: intentId, status: 'succeeded' } };
    charged.set(intentId, ok);
    return ok;
  };

  async function answer(intentId: string, step: ChargeStep): Promise<ChargeSucceeded> {
    switch (step) {
      case 'ok':
        return succeed(intentId);
      case 'decline':
        throw new PermanentGatewayError('card_declined', 'Your card was declined.', { id: intentId, status: 'failed' });
      case 'insufficient':
        throw new PermanentGatewayError('insufficient_funds', 'Your card has insufficient funds.', { id: intentId, status: 'failed' });
      case 'down':
        throw new TransientGatewayError('gateway_unavailable', 'connect ECONNREFUSED', 'not_sent');
      case 'timeout':
        throw new TransientGatewayError('gateway_timeout', 'no answer in time', 'unknown');
      case 'late':
        landing.add(intentId);
        throw new TransientGatewayError('gateway_timeout', 'no answer in time', 'unknown');
      case 'lost':
        succeed(intentId);
        throw new TransientGatewayError('connection_lost', 'socket hang up', 'unknown');
      case 'hang': {
        let release!: (next: ChargeStep) => void;
        const waiting = new Promise<ChargeStep>((resolve) => (release = resolve)).then((next) => answer(intentId, next));
        hung.set(intentId, { answer: waiting, release });
        changes.notify();
        return waiting.finally(() => hung.delete(intentId));
      }
    }
  }

  const gateway = {
    name,
    async prepare(request: ChargeRequest) {
      calls.prepare.push(request);
      log('prepare');
      const intentId = prepared.get(request.idempotencyKey) ?? `pi_${name}_${++nextId}`;
      prepared.set(request.idempotencyKey, intentId);
      amounts.set(intentId, { amountMinor: request.amountMinor, currency: request.currency });
      return { orderId: request.orderId, paymentId: request.paymentId, intentId };
    },
    async charge(handle: ChargeHandle) {
      calls.charge.push(handle);
      log('charge');
      const prior = charged.get(handle.intentId);
      if (prior) return prior;
      const inFlight = hung.get(handle.intentId);
      if (inFlight) return inFlight.answer;
      if (canceled.has(handle.intentId)) throw new PermanentGatewayError('processing_error', `charge ${handle.intentId} was cancelled`);
      return answer(handle.intentId, script.shift() ?? 'ok');
    },
    async lookup(request: { orderId: string; intentId?: string }) {
      calls.lookup.push(request.intentId);
      log('lookup');
      if (o.lookupFails) throw new TransientGatewayError('gateway_unavailable', 'look-up refused', 'not_sent');
      if (!request.intentId) return o.searchFinds ?? { status: 'not_found' as const };
      const found = stateOf(request.intentId);
      if (landing.delete(request.intentId)) succeed(request.intentId);
      return found;
    },
    async void(handle: ChargeHandle) {
      calls.void.push(handle.intentId);
      log('void');
      if (o.voidFails) throw new TransientGatewayError('gateway_unavailable', 'cancel refused', 'not_sent');
      if (landing.delete(handle.intentId)) succeed(handle.intentId);
      if (!charged.has(handle.intentId)) canceled.add(handle.intentId);
      return stateOf(handle.intentId);
    },
    refund: refunds.refund,
    lookupRefund: refunds.lookupRefund,
  } satisfies PaymentGateway;

  return {
    gateway,
    calls,
    /** Refund and refund look-up calls, in order. */
    refundCalls: refunds.calls,
    /** Every refund the gateway made, in order. */
    refunds: refunds.made,
    /** Settles a pending refund, as the gateway does later. */
    settleRefund: refunds.settle,
    charged,
    canceled,
    /** Resolves once `predicate` holds after a call (e.g. on `calls`). */
    until: changes.until,
    /** Resolves once `n` handles have a confirm hanging. */
    whenHung: (n = 1) => changes.until(() => hung.size >= n),
    /** Answers every hanging confirm with `step`. */
    release(step: ChargeStep = 'ok'): void {
      for (const h of hung.values()) h.release(step);
    },
  };
}

export type ScriptedGateway = ReturnType<typeof createScriptedGateway>;
